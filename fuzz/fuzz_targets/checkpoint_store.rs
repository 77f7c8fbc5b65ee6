//! Fuzz target `checkpoint_store`: `quiver_fuzz_checks::checkpoint_store::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::checkpoint_store::check(data));

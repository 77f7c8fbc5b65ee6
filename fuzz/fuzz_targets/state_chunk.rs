//! Fuzz target `state_chunk`: `quiver_fuzz_checks::state_chunk::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::state_chunk::check(data));

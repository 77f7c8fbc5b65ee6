//! Fuzz target `frame`: `quiver_fuzz_checks::frame::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::frame::check(data));

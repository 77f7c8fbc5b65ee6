//! Fuzz target `operator_state`: `quiver_fuzz_checks::operator_state::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::operator_state::check(data));

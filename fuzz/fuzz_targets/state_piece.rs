//! Fuzz target `state_piece`: `quiver_fuzz_checks::state_piece::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::state_piece::check(data));

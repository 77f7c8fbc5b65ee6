//! Fuzz target `job_spec`: `quiver_fuzz_checks::job_spec::check` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::job_spec::check(data));

//! Fuzz target `csv_records`: `quiver_fuzz_checks::records::check_csv` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| quiver_fuzz_checks::records::check_csv(data));

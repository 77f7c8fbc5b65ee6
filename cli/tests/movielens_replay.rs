//! `examples/recommender/movielens.toml` on a file in MovieLens's `u.data` format
//! (tab-separated `user item rating timestamp`, no header, Unix seconds), run by `quiver
//! local`: the online RMSE, MAE and count that its final report prints equal the ones
//! computed here from the job's output predictions and the file's ratings; the same with the
//! stage at two partitions, where the report sums the partitions' errors.

mod common;

use common::{SplitMix, QUIVER};
use quiver_chaos_tests::{read_committed_rows, run_with_timeout};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

const RATINGS: usize = 3000;

/// Ratings of 60 users and 90 items with user and item effects, in time order (several in
/// the same second), as `u.data` lines.
fn ratings_tsv() -> String {
    let mut rng = SplitMix(18);
    let mut text = String::new();
    let mut second = 874_724_710_i64;
    for _ in 0..RATINGS {
        let user = 1 + (rng.next_f64() * 60.0) as i64;
        let item = 1 + (rng.next_f64() * 90.0) as i64;
        let level = 3.0 + (user % 3) as f64 * 0.5 - (item % 4) as f64 * 0.4 + rng.next_f64();
        let rating = level.round().clamp(1.0, 5.0) as i64;
        second += (rng.next_f64() * 3.0) as i64;
        let _ = writeln!(text, "{user}\t{item}\t{rating}\t{second}");
    }
    text
}

/// `(count, RMSE, MAE)` printed by the final report's `ratings:` line.
fn reported(stderr: &str) -> (u64, f64, f64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("ratings: RMSE "))
        .unwrap_or_else(|| panic!("no ratings line in the report:\n{stderr}"));
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    // ratings: RMSE R MAE M over N rated rows ...
    let number = |at: usize| words[at];
    let count = words[6..]
        .iter()
        .take_while(|w| w.chars().all(|c| c.is_ascii_digit()))
        .copied()
        .collect::<String>();
    (
        count.parse().expect("count"),
        number(2).parse().expect("rmse"),
        number(4).parse().expect("mae"),
    )
}

/// Runs the example (with `parallelism` for the job) on the ratings; returns the report's
/// figures and the ones computed from the output rows.
fn run(parallelism: u32) -> ((u64, f64, f64), (u64, f64, f64)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/recommender/movielens.toml");
    let spec = std::fs::read_to_string(example).expect("the example");
    let spec = spec.replace("parallelism = 1", &format!("parallelism = {parallelism}"));
    std::fs::write(dir.path().join("movielens.toml"), spec).expect("spec");
    std::fs::write(dir.path().join("ratings.tsv"), ratings_tsv()).expect("ratings");
    let out = run_with_timeout(
        Path::new(QUIVER),
        &[
            "local",
            &dir.path().join("movielens.toml").to_string_lossy(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "quiver local failed:\n{stderr}");
    let rows = read_committed_rows(&dir.path().join("predictions"));
    assert_eq!(rows.len(), RATINGS);
    let (mut squared, mut absolute) = (0.0, 0.0);
    for row in &rows {
        let error = row["prediction"].as_f64().expect("prediction")
            - row["rating"].as_f64().expect("rating");
        squared += error * error;
        absolute += error.abs();
    }
    let n = rows.len() as f64;
    (
        reported(&stderr),
        (rows.len() as u64, (squared / n).sqrt(), absolute / n),
    )
}

fn assert_reported_equals_computed(parallelism: u32) {
    let ((count, rmse, mae), (want_count, want_rmse, want_mae)) = run(parallelism);
    assert_eq!(count, want_count);
    // The report prints four decimals.
    assert!(
        (rmse - want_rmse).abs() <= 5e-5,
        "RMSE {rmse} vs {want_rmse}"
    );
    assert!((mae - want_mae).abs() <= 5e-5, "MAE {mae} vs {want_mae}");
    assert!(
        want_rmse > 0.3 && want_rmse < 2.0,
        "a plausible RMSE: {want_rmse}"
    );
}

#[test]
fn the_reported_online_rmse_equals_the_error_of_the_output_predictions() {
    assert_reported_equals_computed(1);
}

#[test]
fn the_reported_online_rmse_sums_the_partitions_errors() {
    assert_reported_equals_computed(2);
}

//! A learner at parallelism 2 with checkpoints trains one model through its parameter
//! servers (design §6): each partition reads one file whose rows carry only one of two
//! features, so a model of its own would know one weight, while the shared model knows both.
//! The rule, y = 3·x1 − 2·x2 + 1, is the independent expectation; the probes at the end of
//! both files (both features set, no label) must be scored near it by both partitions. The
//! stage has three parameter shards for its two workers.

mod common;

use common::SplitMix;
use quiver_chaos_tests::read_committed_rows;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Training rows per file, then probes.
const TRAIN: usize = 3000;
const PROBES: usize = 200;

fn rule(x1: f64, x2: f64) -> f64 {
    3.0 * x1 - 2.0 * x2 + 1.0
}

/// File `name` (ids from `first`): training rows with only feature `which` set, then
/// probes at (0.5, −0.5) without a label.
fn write_file(dir: &Path, name: &str, first: usize, which: usize, rng: &mut SplitMix) {
    let mut csv = String::from("id,x1,x2,y\n");
    for i in 0..TRAIN {
        let v = 2.0 * rng.next_f64() - 1.0;
        let (x1, x2) = if which == 0 { (v, 0.0) } else { (0.0, v) };
        let _ = writeln!(csv, "{},{x1:?},{x2:?},{:?}", first + i, rule(x1, x2));
    }
    for i in 0..PROBES {
        let _ = writeln!(csv, "{},0.5,-0.5,", first + TRAIN + i);
    }
    std::fs::write(dir.join(name), csv).expect("write csv");
}

fn write_job(dir: &Path) -> PathBuf {
    let input = dir.join("in");
    std::fs::create_dir(&input).expect("mkdir");
    let mut rng = SplitMix(7);
    write_file(&input, "a.csv", 0, 0, &mut rng);
    write_file(&input, "b.csv", 100_000, 1, &mut rng);
    let spec = r#"
[job]
name = "one-model"
parallelism = 2
checkpoint_interval = "50ms"

[[source]]
name = "rows"
kind = "file"
path = "in"
format = "csv"
schema = { id = "i64", x1 = "f64", x2 = "f64", y = "f64" }
parallelism = 2
rate = 4000

[[stage]]
name = "reg"
kind = "linear_regression"
input = "rows"
features = ["x1", "x2"]
label = "y"
learning_rate = 0.05
parameter_shards = 3

[[sink]]
name = "out"
kind = "file"
input = "reg"
path = "out/"
"#;
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).expect("write spec");
    path
}

#[test]
fn a_learner_at_parallelism_two_trains_one_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_job(dir.path());
    common::run_local(&spec);
    let mut rows = read_committed_rows(&dir.path().join("out"));
    assert_eq!(
        rows.len(),
        2 * (TRAIN + PROBES),
        "one output row per input row"
    );
    rows.sort_by_key(|r| r["id"].as_i64().expect("id"));
    let expected = rule(0.5, -0.5);
    for (file, first) in [("a.csv", 0), ("b.csv", 100_000)] {
        let of_file: Vec<&Value> = rows
            .iter()
            .filter(|r| (first..first + 100_000).contains(&r["id"].as_i64().unwrap_or(-1)))
            .collect();
        // Versions are checkpoints: they only move forward, and the probes are scored by a
        // version that holds what the other partition learnt.
        let versions: Vec<u64> = of_file
            .iter()
            .map(|r| r["model_version"].as_u64().expect("model_version"))
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] <= w[1]),
            "{file}: {versions:?}"
        );
        assert!(versions[TRAIN] > 0, "{file}: probes scored by version 0");
        let last = of_file[TRAIN + PROBES - 1]["prediction"]
            .as_f64()
            .expect("prediction");
        // A model of this partition's rows alone predicts 3·0.5 + 1 = 2.5 (a.csv) or
        // −2·(−0.5) + 1 = 2 (b.csv); the shared one 3.5.
        assert!(
            (last - expected).abs() < 0.2,
            "{file}: the last probe is scored {last}, the rule says {expected}"
        );
    }
}

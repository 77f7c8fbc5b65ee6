//! An online learning job end to end: a CSV through `standard_scaler` → `logistic_regression`
//! with parallelism 1 in `quiver local`, and every output row's scaled features, prediction,
//! probability and model version equal to the `quiver-ml` library run sequentially on the same
//! rows (the scaler scales each row with the rows before it, then learns it; FTRL predicts it,
//! then learns from it, one example at a time by default).

mod common;

use common::SplitMix;
use quiver_chaos_tests::{read_committed_rows, run_with_timeout};
use quiver_ml::feature::{OnlineStandardScaler, StandardScalerParams};
use quiver_ml::linear::{FtrlParams, OnlineLogisticRegression};
use quiver_ml::{Features, OnlineLearner, OnlineModel};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROWS: usize = 500;

/// One input row: id, three features (f64, f64, i64) and a 0/1 label.
struct Example {
    id: i64,
    x: [f64; 3],
    y: f64,
}

/// Rows whose label follows a linear rule plus noise.
fn examples() -> Vec<Example> {
    let mut rng = SplitMix(42);
    (0..ROWS)
        .map(|i| {
            let x1 = 10.0 * rng.next_f64();
            let x2 = 10.0 * rng.next_f64() - 5.0;
            let x3 = (100.0 * rng.next_f64()).floor();
            let noise = rng.next_f64() - 0.5;
            let margin = 0.8 * x1 - 1.2 * x2 + 0.02 * x3 - 5.0 + noise;
            Example {
                id: i as i64,
                x: [x1, x2, x3],
                y: if margin > 0.0 { 1.0 } else { 0.0 },
            }
        })
        .collect()
}

/// Writes the rows and the job; `checkpoints`: with a checkpoint interval, which puts the
/// learner on parameter servers.
fn write_job(dir: &Path, examples: &[Example], checkpoints: bool) -> PathBuf {
    let mut csv = String::from("id,x1,x2,x3,y\n");
    for e in examples {
        let _ = writeln!(
            csv,
            "{},{:?},{:?},{},{}",
            e.id, e.x[0], e.x[1], e.x[2] as i64, e.y as i64
        );
    }
    std::fs::write(dir.join("clicks.csv"), csv).expect("write csv");
    let spec = r#"
[job]
name = "ml-job"
parallelism = 1

[[source]]
name = "clicks"
kind = "file"
path = "clicks.csv"
format = "csv"
schema = { id = "i64", x1 = "f64", x2 = "f64", x3 = "i64", y = "i64" }

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "clicks"
columns = ["x1", "x2", "x3"]
output = "features"
with_mean = true

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "scaled"
features = "features"
label = "y"

[[sink]]
name = "out"
kind = "file"
input = "clf"
path = "out/"
"#;
    let spec = if checkpoints {
        // Read at 1000 rows/s, so barriers pass while it learns.
        spec.replace(
            "parallelism = 1\n",
            "parallelism = 1\ncheckpoint_interval = \"20ms\"\n",
        )
        .replace("format = \"csv\"\n", "format = \"csv\"\nrate = 1000\n")
    } else {
        spec.to_string()
    };
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).expect("write spec");
    path
}

/// What the library computes for each row, in order: scaled features, prediction,
/// probability, model version.
fn library_run(examples: &[Example]) -> Vec<(Vec<f64>, f64, f64, u64)> {
    let params = StandardScalerParams {
        with_mean: true,
        ..StandardScalerParams::default()
    };
    let mut scaler = OnlineStandardScaler::new(params, None).expect("scaler");
    let mut clf = OnlineLogisticRegression::new(
        FtrlParams {
            alpha: 0.2,
            beta: 1.0,
            global_batch_size: 1,
            fit_intercept: true,
            ..FtrlParams::default()
        },
        3,
        None,
    )
    .expect("ftrl");
    examples
        .iter()
        .map(|e| {
            let mut scaled = vec![0.0; 3];
            scaler
                .transform_then_learn(Features::Dense(&e.x), &mut scaled)
                .expect("scale, then learn");
            let version = clf.version().0;
            let p = clf
                .predict_then_learn(Features::Dense(&scaled), e.y)
                .expect("predict then learn");
            (
                scaled,
                p.value,
                p.probability.expect("probability"),
                version,
            )
        })
        .collect()
}

#[test]
fn scaler_then_logistic_regression_in_local_mode_equals_the_library_sequential_run() {
    let expected = library_run(&examples());
    let versions = run_and_compare(false);
    for (id, (version, expected)) in versions.iter().zip(&expected).enumerate() {
        assert_eq!(*version, expected.3, "row {id}");
        // FTRL learns from every example (the stage's default global batch size, 1).
        assert_eq!(*version, id as u64, "row {id}");
    }
}

/// With checkpoints the learner is its parameter servers' single worker: it scores and
/// learns exactly as the library does (it never adopts values, its model is the whole
/// model), and `model_version` is the checkpoint whose version it serves.
#[test]
fn a_single_worker_of_parameter_servers_equals_the_library_sequential_run() {
    let versions = run_and_compare(true);
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    assert!(
        versions[ROWS - 1] > 0,
        "no version was published while it learnt"
    );
}

/// Runs the job and checks every row's scaled features, prediction and probability against
/// the library's sequential run; returns the rows' model versions in order.
fn run_and_compare(checkpoints: bool) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = examples();
    let spec = write_job(dir.path(), &examples, checkpoints);
    common::run_local(&spec);
    let mut rows = read_committed_rows(&dir.path().join("out"));
    assert_eq!(rows.len(), ROWS, "one output row per input row");
    rows.sort_by_key(|r| r["id"].as_i64().expect("id"));

    let expected = library_run(&examples);
    let mut correct_late = 0;
    let mut versions = Vec::new();
    for ((row, example), (scaled, prediction, probability, _)) in
        rows.iter().zip(&examples).zip(&expected)
    {
        assert_eq!(row["id"].as_i64(), Some(example.id));
        assert_eq!(row["y"].as_f64(), Some(example.y), "row {}", example.id);
        let features: Vec<f64> = row["features"]
            .as_array()
            .expect("features vector")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect();
        assert_eq!(&features, scaled, "scaled features of row {}", example.id);
        assert_eq!(
            row["prediction"].as_f64(),
            Some(*prediction),
            "row {}",
            example.id
        );
        assert_eq!(
            row["probability"].as_f64(),
            Some(*probability),
            "row {}",
            example.id
        );
        versions.push(row["model_version"].as_u64().expect("model_version"));
        if example.id as usize >= ROWS / 2 && *prediction == example.y {
            correct_late += 1;
        }
    }
    // The model learns the rule: progressive accuracy over the second half is well above chance.
    assert!(
        correct_late as f64 / (ROWS / 2) as f64 > 0.8,
        "accuracy over the second half: {correct_late} of {}",
        ROWS / 2
    );
    versions
}

/// A learner that diverges (features far beyond what its learning rate can take) scores
/// every row and the job finishes; its refused updates are counted in the job's report.
#[test]
fn a_diverging_learner_is_reported_not_silent_and_does_not_stop_the_job() {
    const N: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut csv = String::from("id,x,y\n");
    for i in 0..N {
        let _ = writeln!(csv, "{i},1e15,1.0");
    }
    std::fs::write(dir.path().join("rows.csv"), csv).expect("write csv");
    let spec = r#"
[job]
name = "diverging"
parallelism = 1

[[source]]
name = "rows"
kind = "file"
path = "rows.csv"
format = "csv"
schema = { id = "i64", x = "f64", y = "f64" }

[[stage]]
name = "reg"
kind = "linear_regression"
input = "rows"
features = ["x"]
label = "y"

[[sink]]
name = "out"
kind = "file"
input = "reg"
path = "out/"
"#;
    let path = dir.path().join("job.toml");
    std::fs::write(&path, spec).expect("write spec");
    let out = run_with_timeout(
        Path::new(common::QUIVER),
        &["local", &path.to_string_lossy()],
        Duration::from_secs(120),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "quiver local failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The final report goes to stderr, with the progress.
    assert!(
        stderr.contains(&format!("models: {N} updates refused")),
        "{stderr}"
    );
    let rows = read_committed_rows(&dir.path().join("out"));
    assert_eq!(rows.len(), N);
    assert!(rows.iter().all(|r| r["prediction"].as_f64() == Some(0.0)));
}

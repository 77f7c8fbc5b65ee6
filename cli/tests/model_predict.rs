//! A `predict` stage end to end (issue 15): a coordinator and two nodes as real processes run
//! a `logistic_regression` at parallelism 2 trained on one rate-limited input, with
//! checkpoints every 300 ms, and a `predict` stage at parallelism 3 scoring a second
//! rate-limited input (no label) with the learner's `champion`. While it runs:
//! `model alias clf champion V1`, then `model deploy clf V2` (which moves `champion`); a
//! swap asked of the predict stage itself is refused.
//!
//! Then, against the second input: every record is scored exactly once; per input file, in
//! input order, the outputs go from unscored (null `model_version`, prediction and
//! probability: no version yet) to V1 to V2, once each; and every prediction and probability
//! of V1 and V2 is, bit for bit, what a `quiver_ml` model built from `quiver model export` of
//! that version computes. The same holds when a node is killed with SIGKILL while V1 serves:
//! the recovered job serves what its restored checkpoint served.

mod common;

use common::cluster::{restarts, Cluster};
use quiver_chaos_tests::read_committed_rows;
use quiver_ml::linear::{FtrlParams, OnlineLogisticRegression};
use quiver_ml::{Features, OnlineLearner, SharedParameters};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Rows per file (one file per source partition) of each input.
const ROWS: usize = 15_000;
/// Rows per file of the requests when a node is killed: the recovery takes seconds.
const ROWS_THROUGH_A_RECOVERY: usize = 40_000;

/// A row: id and two features (a label is derived for the training input).
#[derive(Clone, Copy)]
struct Row {
    id: i64,
    x: [f64; 2],
}

fn rows(first: i64, mut state: u64, n: usize) -> Vec<Row> {
    let mut feature = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2_000_001) as f64 / 1_000_000.0 - 1.0
    };
    (0..n as i64)
        .map(|i| Row {
            id: first + i,
            x: [feature(), feature()],
        })
        .collect()
}

fn write_csv(folder: &Path, name: &str, rows: &[Row], labelled: bool) {
    std::fs::create_dir_all(folder).unwrap();
    let mut csv = String::from(if labelled {
        "id,x1,x2,y\n"
    } else {
        "id,x1,x2\n"
    });
    for r in rows {
        let _ = write!(csv, "{},{:?},{:?}", r.id, r.x[0], r.x[1]);
        let _ = match labelled {
            true => writeln!(csv, ",{}", i64::from(2.0 * r.x[0] - r.x[1] > 0.0)),
            false => writeln!(csv),
        };
    }
    std::fs::write(folder.join(name), csv).unwrap();
}

const SPEC: &str = r#"
[job]
name = "predict"
parallelism = 2
checkpoint_interval = "300ms"

[[source]]
name = "train"
kind = "file"
path = "train"
format = "csv"
schema = { id = "i64", x1 = "f64", x2 = "f64", y = "i64" }
parallelism = 2
rate = 2000

[[source]]
name = "requests"
kind = "file"
path = "requests"
format = "csv"
schema = { id = "i64", x1 = "f64", x2 = "f64" }
parallelism = 2
rate = 2000

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "train"
features = ["x1", "x2"]
label = "y"

[[stage]]
name = "scored"
kind = "predict"
input = "requests"
model = "clf"
parallelism = 3

[[sink]]
name = "trained"
kind = "discard"
input = "clf"

[[sink]]
name = "out"
kind = "file"
input = "scored"
path = "out/"
"#;

/// The model version `version` of `clf` is, built with the library alone from its export:
/// FTRL with the stage's documented defaults reading the exported vector.
fn exported_model(cluster: &Cluster, version: u64) -> OnlineLogisticRegression {
    let params = FtrlParams {
        alpha: 0.2,
        beta: 1.0,
        reg: 0.0,
        elastic_net: 0.0,
        global_batch_size: 1,
        fit_intercept: true,
        clip_gradient: 1e12,
    };
    let mut model = OnlineLogisticRegression::new(params, 2, None).unwrap();
    let mut parameters = cluster.export_parameters("job-1", "clf", version);
    assert!(!parameters.is_empty(), "chk-{version} has no parameters");
    parameters.resize(model.parameter_len(), 0.0);
    model.read_parameters(&parameters).unwrap();
    model
}

/// Whether `status` shows stage `stage` serving chk-`version`.
fn serves(status: &Value, stage: &str, version: u64) -> bool {
    let stages = status["stages"].as_array().cloned().unwrap_or_default();
    stages
        .iter()
        .any(|s| s["stage"] == stage && s["serving"] == format!("chk-{version}"))
}

/// Writes both inputs (`requests` rows per requests file) and the spec, and submits the job;
/// returns the requests files' rows.
fn submit(cluster: &Cluster, requests: usize) -> [Vec<Row>; 2] {
    let dir = cluster.dir.path();
    let train = [
        rows(0, 0x9E37_79B9_7F4A_7C15, ROWS),
        rows(1 << 20, 0x2545_F491_4F6C_DD1D, ROWS),
    ];
    let requests = [
        rows(10 << 20, 0xD1B5_4A32_D192_ED03, requests),
        rows(11 << 20, 0x94D0_49BB_1331_11EB, requests),
    ];
    for (i, (t, r)) in train.iter().zip(&requests).enumerate() {
        write_csv(&dir.join("train"), &format!("{i}.csv"), t, true);
        write_csv(&dir.join("requests"), &format!("{i}.csv"), r, false);
    }
    let spec = dir.join("job.toml");
    std::fs::write(&spec, SPEC).unwrap();
    cluster.submit_spec(&spec);
    requests
}

/// Once `clf` has two versions V1 and V2: keeps both restorable with aliases (retention may
/// prune a version between its listing and its alias: then with the next two), points
/// `champion` at V1 and waits until every partition of the predict stage scores with it.
fn champion_v1(cluster: &Cluster) -> (u64, u64) {
    let mut attempts = 0;
    let (v1, v2) = loop {
        attempts += 1;
        assert!(
            attempts <= 20,
            "versions kept being pruned before their alias"
        );
        let versions = cluster.wait_for_versions("job-1", 2);
        let (v1, v2) = (versions[versions.len() - 2], versions[versions.len() - 1]);
        let kept = [("keep-1", v1), ("keep-2", v2)].iter().all(|(alias, v)| {
            let v = v.to_string();
            let args = ["model", "alias", "job-1", "clf", alias, v.as_str()];
            cluster.cli(&args).status.success()
        });
        if kept {
            break (v1, v2);
        }
    };
    // No champion yet: the predict stage serves nothing (and scores nothing).
    let status = cluster.ok(&["model", "status", "job-1"]);
    assert!(
        status.contains("job-1 scored (predict with clf alias \"champion\"): serves nothing yet"),
        "{status}"
    );
    let v1_text = v1.to_string();
    cluster.ok(&["model", "alias", "job-1", "clf", "champion", &v1_text]);
    cluster.wait_for_model_status("job-1", "scored's partitions on v1", |s| {
        let stages = s["stages"].as_array().into_iter().flatten();
        let partitions = stages
            .filter(|stage| stage["stage"] == "scored")
            .flat_map(|stage| stage["partitions"].as_array().cloned().unwrap_or_default());
        let on_v1: Vec<bool> = partitions
            .map(|p| p["versions"] == Value::from(vec![v1]))
            .collect();
        serves(s, "scored", v1) && on_v1.len() == 3 && on_v1.iter().all(|on| *on)
    });
    (v1, v2)
}

/// Deploys V2 to `clf`, which moves `champion`.
fn deploy(cluster: &Cluster, v2: u64) {
    let said = cluster.ok(&["model", "deploy", "job-1", "clf", &v2.to_string()]);
    assert!(said.contains(&format!("serves chk-{v2}")), "{said}");
}

/// Checks the finished job's output against `requests`: every record once; per file, in
/// input order, unscored, then V1, then V2, each at least once; predictions and
/// probabilities bit for bit the library's from the exports of V1 and V2.
fn assert_scored_in_phases(cluster: &Cluster, requests: &[Vec<Row>; 2], v1: u64, v2: u64) {
    let models = BTreeMap::from([
        (v1, exported_model(cluster, v1)),
        (v2, exported_model(cluster, v2)),
    ]);
    let mut by_id: BTreeMap<i64, Value> = BTreeMap::new();
    for row in read_committed_rows(&cluster.dir.path().join("out")) {
        let id = row["id"].as_i64().unwrap();
        assert!(by_id.insert(id, row).is_none(), "id {id} scored twice");
    }
    let total: usize = requests.iter().map(Vec::len).sum();
    assert_eq!(by_id.len(), total, "every record scored exactly once");
    let phases = [None, Some(v1), Some(v2)];
    for (file, input) in requests.iter().enumerate() {
        let (mut phase, mut scored) = (0, [0; 3]);
        for r in input {
            let row = &by_id[&r.id];
            let version = row["model_version"].as_u64();
            while phases[phase] != version {
                phase += 1;
                assert!(
                    phase < phases.len(),
                    "{file}.csv: record {} scored by {version:?} out of order (phases {phases:?})",
                    r.id
                );
            }
            scored[phase] += 1;
            let (prediction, probability) = (&row["prediction"], &row["probability"]);
            let Some(model) = version.and_then(|v| models.get(&v)) else {
                assert!(prediction.is_null() && probability.is_null(), "{row}");
                continue;
            };
            let expected = model.predict_one(Features::Dense(&r.x)).unwrap();
            let bits = |v: &Value| v.as_f64().map(f64::to_bits);
            assert_eq!(
                (bits(prediction), bits(probability)),
                (
                    Some(expected.value.to_bits()),
                    expected.probability.map(f64::to_bits)
                ),
                "{file}.csv: record {} by chk-{version:?}: {row} vs the library's {expected:?}",
                r.id
            );
        }
        assert!(
            scored[1] > 0 && scored[2] > 0,
            "{file}.csv: records per phase (none, v1, v2) {scored:?}"
        );
    }
}

#[test]
fn a_predict_stage_follows_its_alias_at_barriers_scoring_every_record_once_as_the_library_does() {
    let mut cluster = Cluster::on_loopback(2);
    let requests = submit(&cluster, ROWS);
    let (v1, v2) = champion_v1(&cluster);
    deploy(&cluster, v2);
    // The deploy moved champion: the predict stage follows, and shows what it scored.
    let status = cluster.wait_for_model_status("job-1", "scored's figures for v1 and v2", |s| {
        let scored = |v: u64| {
            s["stages"].as_array().into_iter().flatten().any(|stage| {
                stage["stage"] == "scored"
                    && stage["versions"].as_array().into_iter().flatten().any(|f| {
                        f["version"] == v && f["latest"] == false && f["scored"].as_u64() > Some(0)
                    })
            })
        };
        serves(s, "scored", v2) && scored(v1) && scored(v2)
    });
    let scored = status["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == "scored"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(scored["aliases"]["champion"], Value::from(v2), "{status:#}");
    assert_eq!(scored["follows"], "clf alias \"champion\"", "{status:#}");
    // The predict stage serves what its spec names: it is not swapped by hand.
    let out = cluster.cli(&["model", "deploy", "job-1", "scored", &v1.to_string()]);
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a deploy of the predict stage ran");
    assert!(
        why.contains("is a predict stage") && why.contains("quiver model alias job-1 clf"),
        "{why}"
    );
    cluster.wait_for_finish();
    assert_scored_in_phases(&cluster, &requests, v1, v2);
}

#[test]
fn a_recovered_predict_stage_serves_what_its_restored_checkpoint_served() {
    let mut cluster = Cluster::on_loopback(3);
    let requests = submit(&cluster, ROWS_THROUGH_A_RECOVERY);
    let (v1, v2) = champion_v1(&cluster);
    cluster.nodes[1].signal("KILL");
    // Swaps wait for the job to run again.
    let start = std::time::Instant::now();
    loop {
        let status = cluster.ok(&["job", "status", "job-1"]);
        if restarts(&status) >= 1 && status.contains("— Running") {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the job did not recover:\n{status}\n{}",
            cluster.logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    deploy(&cluster, v2);
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    assert_scored_in_phases(&cluster, &requests, v1, v2);
}

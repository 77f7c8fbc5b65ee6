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
use common::predict::{assert_scored_in_phases, champion_v1, deploy, serves, submit, Row};
use quiver_ml::linear::{FtrlParams, OnlineLogisticRegression};
use quiver_ml::{Features, OnlineLearner, SharedParameters};
use serde_json::Value;

/// Rows per file of the requests when a node is killed: the recovery takes seconds.
const ROWS_THROUGH_A_RECOVERY: usize = 40_000;

/// The learner: `clf`, a logistic regression with its defaults.
const LEARNER: &str = "clf";

fn spec() -> String {
    common::predict::spec(
        LEARNER,
        "kind = \"logistic_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"",
    )
}

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

/// Checks the finished job's output: every record once, in phases, and every prediction and
/// probability of V1 and V2 bit for bit the library's from their exports.
fn assert_scored(cluster: &Cluster, requests: &[Vec<Row>; 2], v1: u64, v2: u64) {
    let models = [
        (v1, exported_model(cluster, v1)),
        (v2, exported_model(cluster, v2)),
    ];
    let outputs = ["prediction", "probability"];
    assert_scored_in_phases(cluster, requests, (v1, v2), &outputs, |row, r, version| {
        let Some((_, model)) = models.iter().find(|(v, _)| *v == version) else {
            panic!("{row}: scored by chk-{version}, neither V1 nor V2");
        };
        let expected = model.predict_one(Features::Dense(&r.x)).unwrap();
        let bits = |v: &Value| v.as_f64().map(f64::to_bits);
        assert_eq!(
            (bits(&row["prediction"]), bits(&row["probability"])),
            (
                Some(expected.value.to_bits()),
                expected.probability.map(f64::to_bits)
            ),
            "record {} by chk-{version}: {row} vs the library's {expected:?}",
            r.id
        );
    });
}

#[test]
fn a_predict_stage_follows_its_alias_at_barriers_scoring_every_record_once_as_the_library_does() {
    let mut cluster = Cluster::on_loopback(2);
    let requests = submit(&cluster, &spec(), common::predict::ROWS);
    let (v1, v2) = champion_v1(&cluster, LEARNER);
    deploy(&cluster, LEARNER, v2);
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
    assert_scored(&cluster, &requests, v1, v2);
}

#[test]
fn a_recovered_predict_stage_serves_what_its_restored_checkpoint_served() {
    let mut cluster = Cluster::on_loopback(3);
    let requests = submit(&cluster, &spec(), ROWS_THROUGH_A_RECOVERY);
    let (v1, v2) = champion_v1(&cluster, LEARNER);
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
    deploy(&cluster, LEARNER, v2);
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    assert_scored(&cluster, &requests, v1, v2);
}

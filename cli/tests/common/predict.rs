//! What the `predict` stage tests share: two rate-limited inputs of rows with two features
//! (one to train a learner on, one of requests), the swaps they ask for (`champion` on V1,
//! then a deploy of V2) and the check of the predict stage's output: every request once and,
//! per input file in input order, unscored, then V1, then V2.

use super::cluster::Cluster;
use quiver_chaos_tests::read_committed_rows;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Rows per file (one file per source partition) of each input.
pub(crate) const ROWS: usize = 15_000;

/// The job's predict stage, at parallelism 3, writing into the folder `out`.
pub(crate) const PREDICT_STAGE: &str = "scored";

/// A row: id and two features (a label is derived for the training input).
#[derive(Clone, Copy)]
pub(crate) struct Row {
    pub(crate) id: i64,
    pub(crate) x: [f64; 2],
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

/// The job: `train` and `requests` each read at 2,000 rows/s by 2 partitions, checkpoints
/// every 300 ms, the stage `learner` (`learner_toml`: its kind and settings after `input =
/// "train"`) trained on `train`, and the predict stage scoring `requests` with its
/// `champion` into the folder `out`.
pub(crate) fn spec(learner: &str, learner_toml: &str) -> String {
    format!(
        r#"
[job]
name = "predict"
parallelism = 2
checkpoint_interval = "300ms"

[[source]]
name = "train"
kind = "file"
path = "train"
format = "csv"
schema = {{ id = "i64", x1 = "f64", x2 = "f64", y = "i64" }}
parallelism = 2
rate = 2000

[[source]]
name = "requests"
kind = "file"
path = "requests"
format = "csv"
schema = {{ id = "i64", x1 = "f64", x2 = "f64" }}
parallelism = 2
rate = 2000

[[stage]]
name = "{learner}"
input = "train"
{learner_toml}

[[stage]]
name = "{PREDICT_STAGE}"
kind = "predict"
input = "requests"
model = "{learner}"
parallelism = 3

[[sink]]
name = "trained"
kind = "discard"
input = "{learner}"

[[sink]]
name = "out"
kind = "file"
input = "{PREDICT_STAGE}"
path = "out/"
"#
    )
}

/// Whether `status` shows stage `stage` serving chk-`version`.
pub(crate) fn serves(status: &Value, stage: &str, version: u64) -> bool {
    let stages = status["stages"].as_array().cloned().unwrap_or_default();
    stages
        .iter()
        .any(|s| s["stage"] == stage && s["serving"] == format!("chk-{version}"))
}

/// Writes both inputs (`requests` rows per requests file) into folders `train` and
/// `requests` and submits `spec` (see [`spec`]); returns the requests files' rows.
pub(crate) fn submit(cluster: &Cluster, spec: &str, requests: usize) -> [Vec<Row>; 2] {
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
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    cluster.submit_spec(&path);
    requests
}

/// Once `learner` has two versions V1 and V2: keeps both restorable with aliases (retention
/// may prune a version between its listing and its alias: then with the next two), points
/// `champion` at V1 and waits until every partition of the predict stage scores with it.
pub(crate) fn champion_v1(cluster: &Cluster, learner: &str) -> (u64, u64) {
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
            let args = ["model", "alias", "job-1", learner, alias, v.as_str()];
            cluster.cli(&args).status.success()
        });
        if kept {
            break (v1, v2);
        }
    };
    // No champion yet: the predict stage serves nothing (and scores nothing).
    let status = cluster.ok(&["model", "status", "job-1"]);
    let nothing = format!(
        "job-1 {PREDICT_STAGE} (predict with {learner} alias \"champion\"): serves nothing yet"
    );
    assert!(status.contains(&nothing), "{status}");
    let v1_text = v1.to_string();
    cluster.ok(&["model", "alias", "job-1", learner, "champion", &v1_text]);
    cluster.wait_for_model_status("job-1", "the predict stage's partitions on v1", |s| {
        let stages = s["stages"].as_array().into_iter().flatten();
        let partitions = stages
            .filter(|stage| stage["stage"] == PREDICT_STAGE)
            .flat_map(|stage| stage["partitions"].as_array().cloned().unwrap_or_default());
        let on_v1: Vec<bool> = partitions
            .map(|p| p["versions"] == Value::from(vec![v1]))
            .collect();
        serves(s, PREDICT_STAGE, v1) && on_v1.len() == 3 && on_v1.iter().all(|on| *on)
    });
    (v1, v2)
}

/// Deploys V2 to `learner`, which moves `champion`.
pub(crate) fn deploy(cluster: &Cluster, learner: &str, v2: u64) {
    let said = cluster.ok(&["model", "deploy", "job-1", learner, &v2.to_string()]);
    assert!(said.contains(&format!("serves chk-{v2}")), "{said}");
}

/// Checks the finished job's output (folder `out`) against `requests`: every record once;
/// per file, in input order, unscored (every column of `outputs` null), then V1, then V2,
/// each at least once; `check(row, input, version)` checks each scored row's outputs.
pub(crate) fn assert_scored_in_phases(
    cluster: &Cluster,
    requests: &[Vec<Row>; 2],
    (v1, v2): (u64, u64),
    outputs: &[&str],
    check: impl Fn(&Value, &Row, u64),
) {
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
            match version {
                Some(v) => check(row, r, v),
                None => assert!(outputs.iter().all(|c| row[*c].is_null()), "{row}"),
            }
        }
        assert!(
            scored[1] > 0 && scored[2] > 0,
            "{file}.csv: records per phase (none, v1, v2) {scored:?}"
        );
    }
}

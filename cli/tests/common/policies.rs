//! What the tests of guards and update policies share (issue 15, done-when 4): input whose
//! concept or distribution changes mid-stream, and waiting on `quiver model status`.

use super::cluster::Cluster;
use super::learner_job::LearnerJob;
use quiver_chaos_tests::read_committed_rows;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Rows per file before and after the change.
pub(crate) const BEFORE: usize = 6000;
pub(crate) const AFTER: usize = 12_000;

/// Writes `DIR/in/{a,b}.csv`: x1 uniform in [-1, 1] then `after(x)` for the shifted part;
/// y = 3·x1 + 1 before the change and `rule_after(x1)` after. Returns the ids per file in
/// order.
pub(crate) fn write_data(dir: &Path, shift: f64, rule_after: fn(f64) -> f64) -> Vec<Vec<i64>> {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2_000_001) as f64 / 1_000_000.0 - 1.0
    };
    let mut ids = Vec::new();
    for (f, name) in ["a.csv", "b.csv"].iter().enumerate() {
        let mut csv = String::from("id,x1,y\n");
        let mut of_file = Vec::new();
        for i in 0..BEFORE + AFTER {
            let id = (f * 1_000_000 + i) as i64;
            let x = next();
            let (x1, y) = if i < BEFORE {
                (x, 3.0 * x + 1.0)
            } else {
                (x + shift, rule_after(x + shift))
            };
            let _ = writeln!(csv, "{id},{x1:?},{y:?}");
            of_file.push(id);
        }
        std::fs::write(input.join(name), csv).unwrap();
        ids.push(of_file);
    }
    ids
}

pub(crate) fn status(cluster: &Cluster, job: &str) -> Value {
    serde_json::from_str(&cluster.ok(&["model", "status", job, "--json"])).unwrap()
}

/// Waits until `cond` holds for `job`'s model status.
pub(crate) fn wait_status(
    cluster: &Cluster,
    job: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let s = status(cluster, job);
        if cond(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: {s:#}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes `DIR/job.toml`: the rows of `DIR/in` (2 files at 1,500 rows/s each, checkpoints
/// every 300 ms, parallelism 2) through learner stage `reg` — `learner` gives its kind and
/// settings, `policy` its serving policy — into `DIR/out`.
fn write_spec(dir: &Path, name: &str, learner: &str, policy: &str) -> PathBuf {
    LearnerJob {
        name,
        interval: "300ms",
        source: "rows",
        schema: r#"{ id = "i64", x1 = "f64", y = "f64" }"#,
        rate: 3000,
        stage: "reg",
        settings: &format!("{learner}\n{policy}"),
    }
    .write(dir)
}

/// The guard and the drift policy of the learner stage `reg` (`learner`: its kind and
/// settings, see `write_spec`), on a coordinator and two nodes. 1: the guarded job's input changes after `BEFORE` rows per file
/// (`shift` added to x1, y = `rule_after(x1)`); the version trained before the change,
/// deployed after it, must be rolled back automatically, and per file the outputs' versions go
/// latest → the deployed version → latest, once each, every record once. 2: a job serving a
/// pinned version whose x1 jumps by 5 moves to the newest version by its drift policy.
pub(crate) fn guard_and_drift(learner: &str, shift: f64, rule_after: fn(f64) -> f64) {
    let mut cluster = Cluster::on_loopback(2);

    // 1. The guard.
    let guarded = cluster.dir.path().join("guarded");
    std::fs::create_dir_all(&guarded).unwrap();
    let ids = write_data(&guarded, shift, rule_after);
    cluster.submit_spec(&write_spec(
        &guarded,
        "guarded",
        learner,
        "guard = { max_increase = 0.2, min_records = 500 }",
    ));
    let start = Instant::now();
    let trained_before = cluster.wait_for_versions("job-1", 1)[0];
    cluster.ok(&[
        "model",
        "alias",
        "job-1",
        "reg",
        "before",
        &trained_before.to_string(),
    ]);
    // The concept flips after BEFORE rows per file (2 s at 1500 rows/s per file); the
    // working copy then adapts to it.
    let flipped = start + Duration::from_millis((BEFORE as u64 * 1000 / 1500) + 2500);
    std::thread::sleep(flipped.saturating_duration_since(Instant::now()));
    cluster.ok(&[
        "model",
        "deploy",
        "job-1",
        "reg",
        &trained_before.to_string(),
    ]);
    let rolled = wait_status(&cluster, "job-1", "no automatic rollback", |s| {
        s["events"].as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e.as_str().unwrap_or("").contains("automatic rollback"))
        }) && s["stages"][0]["serving"] == "latest"
    });
    assert!(
        cluster.coordinator.log().contains("automatic rollback"),
        "{rolled:#}\n{}",
        cluster.coordinator.log()
    );

    // 2. The drift policy, beside it.
    let drifting = cluster.dir.path().join("drifting");
    std::fs::create_dir_all(&drifting).unwrap();
    write_data(&drifting, 5.0, |x| 3.0 * x + 1.0);
    cluster.submit_spec(&write_spec(
        &drifting,
        "drifting",
        learner,
        "update = { on = \"drift\", column = \"x1\", detector = \"page_hinkley\" }",
    ));
    let pinned = cluster.wait_for_versions("job-2", 1)[0];
    cluster.ok(&["model", "deploy", "job-2", "reg", &pinned.to_string()]);
    // The policy's event is noted when it asks for the swap; the swap takes effect at the
    // next barrier, so wait for the serving to change too.
    let deployed = format!("chk-{pinned}");
    let moved = wait_status(&cluster, "job-2", "the drift policy did not act", |s| {
        s["events"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e.as_str().unwrap_or("").contains("drift")))
            && s["stages"][0]["serving"].as_str() != Some(deployed.as_str())
    });
    let serving = moved["stages"][0]["serving"].as_str().unwrap().to_string();
    let now: u64 = serving
        .strip_prefix("chk-")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("serves {serving}: {moved:#}"));
    assert!(
        now > pinned,
        "serves {serving}, deployed chk-{pinned}: {moved:#}"
    );

    // The guarded job's outputs: latest, then the deployed version, then latest again.
    cluster.wait_for_job("job-1", |_| ());
    let out = read_committed_rows(&guarded.join("out"));
    let by_id: BTreeMap<i64, (u64, f64)> = out
        .iter()
        .map(|r| {
            let id = r["id"].as_i64().unwrap();
            let version = r["model_version"].as_u64().unwrap();
            (id, (version, r["prediction"].as_f64().unwrap_or(f64::NAN)))
        })
        .collect();
    assert_eq!(by_id.len(), out.len(), "a record scored twice");
    assert_eq!(
        by_id.len(),
        2 * (BEFORE + AFTER),
        "every record scored once"
    );
    for of_file in &ids {
        // Runs of the deployed version: exactly one, after the flip. (The working copy
        // passes through version `trained_before` too, early on: before the flip.)
        let versions: Vec<u64> = of_file.iter().map(|id| by_id[id].0).collect();
        let mut runs = 0;
        for (i, v) in versions.iter().enumerate().skip(BEFORE) {
            if *v == trained_before && (i == BEFORE || versions[i - 1] != trained_before) {
                runs += 1;
            }
        }
        assert_eq!(runs, 1, "the deployed version served once: {runs}");
        let last = *versions.last().unwrap();
        assert!(last > trained_before, "back on the latest version: {last}");
    }
    cluster.cli(&["job", "cancel", "job-2"]);
}

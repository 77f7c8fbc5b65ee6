//! The model registry end to end (issue 15): a coordinator and a node as real processes run
//! an online logistic regression with checkpoints every 300 ms. Every version `quiver model
//! list --json` shows is a checkpoint `quiver checkpoint list` shows as completed (the
//! learner's state changes between any two of them, so each retained checkpoint is a
//! version), created in checkpoint order; an alias keeps its version's checkpoint past
//! retention; a job without learners is explained, an unknown job is refused.

mod common;

use common::cluster::Cluster;
use serde_json::Value;
use std::time::{Duration, Instant};

/// A generator (labels `user` in {0, 1}) into an online logistic regression, unbounded.
const SPEC: &str = r#"
[job]
name = "registry"
parallelism = 1
checkpoint_interval = "300ms"

[[source]]
name = "events"
kind = "generator"
rate = 2000
keys = 2

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "events"
features = ["amount"]
label = "user"

[[sink]]
name = "out"
kind = "discard"
input = "clf"
"#;

/// A bounded job without a learner stage.
const NO_LEARNER: &str = r#"
[job]
name = "plain"

[[source]]
name = "events"
kind = "generator"
count = 10

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#;

/// The ids of job-1's completed checkpoints, from `quiver checkpoint list`.
fn checkpoint_ids(cluster: &Cluster) -> Vec<u64> {
    cluster
        .ok(&["checkpoint", "list", "job-1"])
        .split_whitespace()
        .filter_map(|word| word.strip_prefix("job-1/chk-"))
        .map(|id| id.parse().unwrap())
        .collect()
}

/// `quiver model list job-1 --json`.
fn versions(cluster: &Cluster) -> Vec<Value> {
    let text = cluster.ok(&["model", "list", "job-1", "--json"]);
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    json.as_array().expect("an array").clone()
}

fn version_ids(versions: &[Value]) -> Vec<u64> {
    versions
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect()
}

#[test]
fn model_versions_are_the_completed_checkpoints_and_an_alias_pins_one() {
    let cluster = Cluster::on_loopback(1);
    let spec = cluster.dir.path().join("job.toml");
    std::fs::write(&spec, SPEC).unwrap();
    cluster.submit_spec(&spec);
    cluster.wait_for_checkpoints(2);

    // Wait for the registration (it runs after the checkpoint completes, off the lock).
    let start = Instant::now();
    let first = loop {
        let listed = versions(&cluster);
        if listed.len() >= 2 {
            break listed;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "fewer than 2 versions: {listed:?}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let champion = version_ids(&first)[0];
    let out = cluster.ok(&[
        "model",
        "alias",
        "job-1",
        "clf",
        "champion",
        &champion.to_string(),
    ]);
    assert!(out.contains("champion"), "{out}");

    // Run on until the champion's checkpoint would have been pruned (3 are kept).
    let start = Instant::now();
    while checkpoint_ids(&cluster).last().copied().unwrap_or(0) < champion + 5 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "checkpoints stopped\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.ok(&["job", "cancel", "job-1"]);
    // Let a registration of the last checkpoint in flight land.
    std::thread::sleep(Duration::from_secs(1));

    let checkpoints = checkpoint_ids(&cluster);
    let listed = versions(&cluster);
    let ids = version_ids(&listed);
    // The learner's state changes between checkpoints: every retained checkpoint is a
    // version, and every version a completed checkpoint.
    assert_eq!(ids, checkpoints, "{listed:#?}");
    assert_eq!(ids.len(), 4, "the newest 3 and the champion's: {ids:?}");
    assert_eq!(ids[0], champion, "the alias kept its checkpoint");
    let created: Vec<u64> = listed
        .iter()
        .map(|v| v["created"].as_u64().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "created not ascending: {created:?}"
    );
    for (i, v) in listed.iter().enumerate() {
        assert_eq!(v["stage"], "clf", "{v}");
        // The parameters are the state of its shards (design §6).
        assert_eq!(v["state_operator"], "clf/params", "{v}");
        assert_eq!(v["lineage"]["checkpoint"], v["version"], "{v}");
        assert!(v["metrics"]["state_bytes"].as_f64().unwrap() > 0.0, "{v}");
        let aliases = v["aliases"].as_array().unwrap();
        if i == 0 {
            assert_eq!(aliases, &[Value::from("champion")], "{v}");
        } else {
            assert!(aliases.is_empty(), "{v}");
        }
    }
    let last = &listed[listed.len() - 1];
    assert!(
        last["metrics"]["records_in"].as_f64().unwrap() > 0.0,
        "{last}"
    );

    // The table shows the same, and mistakes say what to do.
    let table = cluster.ok(&["model", "list", "job-1"]);
    assert!(table.contains(&format!("chk-{champion}")) && table.contains("champion"));
    let refused = cluster.cli(&["model", "alias", "job-1", "clf", "champion", "999"]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("quiver model list job-1"), "{why}");
    let unknown = cluster.cli(&["model", "list", "job-9"]);
    assert!(!unknown.status.success());
    let why = String::from_utf8_lossy(&unknown.stderr);
    assert!(why.contains("no job job-9"), "{why}");

    let plain = cluster.dir.path().join("plain.toml");
    std::fs::write(&plain, NO_LEARNER).unwrap();
    cluster.submit_spec(&plain);
    let explained = cluster.ok(&["model", "list", "job-2"]);
    assert!(explained.contains("has no learner stage"), "{explained}");
}

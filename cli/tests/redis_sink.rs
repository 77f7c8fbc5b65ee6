//! The Redis sink, exactly once per checkpoint through a node's SIGKILL: a running count and
//! sum per user (a file of generated events, rate-limited so the kill lands mid-stream, at
//! parallelism 2 with checkpoints every 500 ms) into a real `redis-server` (started by
//! `scripts/services/redis.sh`) on a coordinator and two nodes. After the first checkpoint one
//! node is killed (SIGKILL), or frozen past the heartbeat timeout and thawed. While the job runs, a sampler reads every user's key over and over: each
//! value it sees must be the user's exact running (count, sum) after some prefix of the
//! user's events — never a mix of two rows, never a count lower than one seen before. At the
//! end each key holds the user's totals, computed from the input file without the engine.

mod common;

use common::cluster::{restarts, Cluster};
use common::{csv_source, events, write_csv, RUNNING_STAGE};
use quiver_test_services::Service;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Events in the input: about 4 s at the source's rate.
const EVENTS: usize = 6000;

/// The job: the running count and sum per user of the common workload (`running`, which also
/// writes a file sink), written to Redis by the sink `counts`.
fn spec(redis_url: &str) -> String {
    format!(
        r#"
[job]
name = "counts-to-redis"
parallelism = 2
checkpoint_interval = "500ms"
{}{RUNNING_STAGE}
[[sink]]
name = "counts"
kind = "redis"
input = "running"
url = "{redis_url}"
key = "user:{{user}}"
"#,
        csv_source("rate = 1500")
    )
}

/// Per user, the running (count, sum) after each of the user's events, in file order.
fn running_values() -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut values: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (user, amount, _) in events(EVENTS) {
        let prefixes = values.entry(user).or_default();
        let (n, spend) = prefixes.last().copied().unwrap_or((0, 0.0));
        prefixes.push((n + 1, spend + amount));
    }
    values
}

/// Reads every user's key until `stop`; returns the (user, count, sum) values it saw, in the
/// order it saw them.
fn sample(url: String, users: Vec<String>, stop: Arc<AtomicBool>) -> Vec<(String, i64, f64)> {
    let mut con = redis::Client::open(url)
        .and_then(|c| c.get_connection())
        .expect("connect the sampler");
    let keys: Vec<String> = users.iter().map(|u| format!("user:{u}")).collect();
    let mut seen = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let values: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query(&mut con).expect("MGET");
        for (user, value) in users.iter().zip(values) {
            let Some(text) = value else { continue };
            let row: Value = serde_json::from_str(&text).expect("a JSON row");
            assert_eq!(row["user"], user.as_str(), "{text}");
            let n = row["n"].as_i64().expect("n");
            let spend = row["spend"].as_f64().expect("spend");
            seen.push((user.clone(), n, spend));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seen
}

#[test]
fn killed_node_leaves_redis_with_exact_totals_and_values_never_go_back() {
    run_with_fault(|cluster| cluster.nodes[1].signal("KILL"));
}

#[test]
fn frozen_node_is_fenced_and_redis_values_never_go_back() {
    run_with_fault(|cluster| {
        cluster.nodes[1].signal("STOP");
        // Past the 2 s heartbeat timeout: the coordinator recovers without it; thawed, its
        // partitions are a stale generation that must not stage or publish.
        std::thread::sleep(Duration::from_secs(5));
        cluster.nodes[1].signal("CONT");
    });
}

/// Runs the job, applies `fault` after its first checkpoint, and checks what Redis showed
/// while it ran and holds at the end against the input.
fn run_with_fault(fault: impl FnOnce(&mut Cluster)) {
    let redis_dir = tempfile::tempdir().expect("temp dir");
    let redis = Service::redis(redis_dir.path());
    let url = format!("redis://{}/0", redis.addr());
    let expected = running_values();
    let users: Vec<String> = expected.keys().cloned().collect();

    let mut cluster = Cluster::on_loopback(2);
    let dir = cluster.dir.path().to_path_buf();
    write_csv(&dir, &events(EVENTS));
    let spec_path = dir.join("job.toml");
    std::fs::write(&spec_path, spec(&url)).expect("write the spec");

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (url, users, stop) = (url.clone(), users.clone(), stop.clone());
        std::thread::spawn(move || sample(url, users, stop))
    };
    cluster.submit_spec(&spec_path);
    cluster.wait_for_checkpoint();
    fault(&mut cluster);
    let status = cluster.wait_for_finish();
    stop.store(true, Ordering::Relaxed);
    let seen = sampler.join().expect("the sampler ran");
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");

    // Every value seen was a whole row of the reference, and counts only went up.
    let mut last: BTreeMap<&str, i64> = BTreeMap::new();
    for (user, n, spend) in &seen {
        let prefixes = &expected[user];
        assert!(
            *n >= 1 && *n as usize <= prefixes.len(),
            "{user}: count {n}"
        );
        assert_eq!(
            prefixes[*n as usize - 1],
            (*n, *spend),
            "{user}: not a row of the input"
        );
        let before = last.insert(user, *n).unwrap_or(0);
        assert!(*n >= before, "{user}: count went back from {before} to {n}");
    }
    let changes = seen.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        changes > users.len(),
        "the sampler saw no progress: {seen:?}"
    );

    // At the end: each user's totals, and nothing else but the sink's owner (its fence).
    let mut con = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("connect");
    for (user, prefixes) in &expected {
        let text: String = redis::cmd("GET")
            .arg(format!("user:{user}"))
            .query(&mut con)
            .expect("the user's key");
        let row: Value = serde_json::from_str(&text).expect("a JSON row");
        let (n, spend) = prefixes[prefixes.len() - 1];
        assert_eq!(
            row,
            serde_json::json!({"user": user, "n": n, "spend": spend})
        );
    }
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).expect("KEYS");
    keys.retain(|k| !k.starts_with("user:"));
    assert_eq!(
        keys.len(),
        1,
        "only the owner (the fence) is left: {keys:?}"
    );
    assert!(keys[0].ends_with(":counts:owner"), "{keys:?}");
}

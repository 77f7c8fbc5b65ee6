//! Swaps under continuous load (issue 15, done-when 1): a coordinator and two nodes run a
//! logistic regression at parallelism 2 with checkpoints every 300 ms over a rate-limited
//! input. While it runs: `model deploy V1`, `model deploy V2 --canary 30`, `model promote`,
//! `model rollback`. Then, against the input:
//! - every input record is scored exactly once (the committed output holds each id once);
//! - per partition, in input order, the versions of the outputs go through the phases of
//!   the swaps once each and in order: the working copy's versions (non-decreasing), V1 for
//!   every record, the canary (V2 exactly for the records whose record hash falls in the
//!   first 30% of buckets, computed here from the input values), V2 for every record, and
//!   the canary again (the rollback returns to what was served before the promote).

mod common;

use common::cluster::Cluster;
use common::learner_job::LearnerJob;
use common::swaps::{walk_phases, Phase};
use quiver_chaos_tests::read_committed_rows;
use quiver_protocol::keygroup::{key_hash_code, murmur_hash};
use quiver_protocol::Value as Cell;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rows per file (one file per source partition).
const ROWS: usize = 15_000;
const CANARY: f64 = 30.0;

/// An input row: id, two features, a 0/1 label.
#[derive(Clone, Copy)]
struct Row {
    id: i64,
    x1: f64,
    x2: f64,
    y: i64,
}

fn rows(first: i64, seed: u64) -> Vec<Row> {
    let mut state = seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 2_000_001) as f64 / 1_000_000.0 - 1.0
    };
    (0..ROWS as i64)
        .map(|i| {
            let (x1, x2) = (next(), next());
            let y = i64::from(2.0 * x1 - x2 > 0.0);
            Row {
                id: first + i,
                x1,
                x2,
                y,
            }
        })
        .collect()
}

/// The record's bucket in [0, 10000): what the learner splits a canary by (the record hash
/// of its input columns, in order).
fn bucket(r: &Row) -> u32 {
    let values = [
        Cell::I64(r.id),
        Cell::F64(r.x1),
        Cell::F64(r.x2),
        Cell::I64(r.y),
    ];
    murmur_hash(key_hash_code(values.iter())) as u32 % 10_000
}

fn write_job(dir: &std::path::Path, files: &[(&str, &[Row])]) -> std::path::PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, rows) in files {
        let mut csv = String::from("id,x1,x2,y\n");
        for r in *rows {
            let _ = writeln!(csv, "{},{:?},{:?},{}", r.id, r.x1, r.x2, r.y);
        }
        std::fs::write(input.join(name), csv).unwrap();
    }
    LearnerJob {
        name: "swaps",
        interval: "300ms",
        source: "rows",
        schema: r#"{ id = "i64", x1 = "f64", x2 = "f64", y = "i64" }"#,
        rate: 2000,
        stage: "clf",
        settings: "kind = \"logistic_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"",
    }
    .write(dir)
}

#[test]
fn deploy_canary_promote_and_rollback_switch_each_partition_once_in_order() {
    let mut cluster = Cluster::on_loopback(2);
    let a = rows(0, 0x9E37_79B9_7F4A_7C15);
    let b = rows(1_000_000, 0xD1B5_4A32_D192_ED03);
    let spec = write_job(cluster.dir.path(), &[("a.csv", &a), ("b.csv", &b)]);
    cluster.submit_spec(&spec);

    // Two versions, pinned with aliases so retention keeps them while we swap.
    let versions = cluster.wait_for_versions("job-1", 2);
    let (v1, v2) = (versions[versions.len() - 2], versions[versions.len() - 1]);
    cluster.ok(&["model", "alias", "job-1", "clf", "keep-a", &v1.to_string()]);
    cluster.ok(&["model", "alias", "job-1", "clf", "keep-b", &v2.to_string()]);
    let (s1, s2) = (v1.to_string(), v2.to_string());
    let swaps: [&[&str]; 4] = [
        &["model", "deploy", "job-1", "clf", &s1],
        &["model", "deploy", "job-1", "clf", &s2, "--canary", "30"],
        &["model", "promote", "job-1", "clf"],
        &["model", "rollback", "job-1", "clf"],
    ];
    for swap in swaps {
        let said = cluster.ok(swap);
        assert!(said.contains("serves"), "{said}");
    }
    // Heartbeats carry the partitions' figures (every 500 ms): wait until both registered
    // versions show what they scored.
    let start = std::time::Instant::now();
    loop {
        let status = cluster.ok(&["model", "status", "job-1", "--json"]);
        let status: Value = serde_json::from_str(&status).unwrap();
        let stage = &status["stages"][0];
        assert_eq!(stage["stage"], "clf", "{status}");
        assert!(
            stage["serving"].as_str().unwrap().contains("canary"),
            "{status}"
        );
        let served: Vec<u64> = stage["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["scored"].as_u64() > Some(0) && v["latest"] == false)
            .map(|v| v["version"].as_u64().unwrap())
            .collect();
        if served.contains(&v1) && served.contains(&v2) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the registered versions' figures never showed: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    cluster.wait_for_finish();

    let out = read_committed_rows(&cluster.dir.path().join("out"));
    let mut by_id: BTreeMap<i64, u64> = BTreeMap::new();
    for row in &out {
        let id = row["id"].as_i64().unwrap();
        let version = row["model_version"].as_u64().unwrap();
        assert!(by_id.insert(id, version).is_none(), "id {id} scored twice");
    }
    assert_eq!(by_id.len(), 2 * ROWS, "every record scored exactly once");

    let phases = [
        Phase::Latest,
        Phase::Pinned(v1),
        canary(v1, v2),
        Phase::Pinned(v2),
        canary(v1, v2),
    ];
    for (file, input) in [("a.csv", &a), ("b.csv", &b)] {
        let records: Vec<(u32, u64)> = input.iter().map(|r| (bucket(r), by_id[&r.id])).collect();
        walk_phases(file, &records, &phases);
    }
}

/// The canary of `b` beside `a`.
fn canary(a: u64, b: u64) -> Phase {
    Phase::Split {
        a,
        b,
        b_percent: CANARY,
    }
}

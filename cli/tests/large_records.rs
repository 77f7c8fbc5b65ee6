//! Large records between nodes (issue 13): a batch larger than a frame is split to fit, so two
//! 10 MB records that cross to another node arrive and are counted once each; a single record
//! larger than a frame fails the job at once with a message saying so.

mod common;

use common::quiver;
use quiver_protocol::keygroup::{key_group, key_hash_code, partition_of};
use quiver_protocol::Value;
use std::path::Path;

/// A key whose records go to partition 1 of 2 — on the second node of `quiver local --nodes 2`,
/// while the file source runs beside partition 0.
fn key_on_partition_1() -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let code = key_hash_code(std::iter::once(&Value::from(k.as_str())));
            partition_of(key_group(code, 128), 128, 2).0 == 1
        })
        .expect("some key lands on partition 1")
}

/// Writes `events.csv` with one record of `bytes` payload bytes per entry of `keys`, and a spec
/// counting records per key at parallelism 2 into `out/`.
fn write_job(dir: &Path, keys: &[&str], bytes: usize) -> String {
    let payload = "x".repeat(bytes);
    let mut csv = String::from("k,payload\n");
    for key in keys {
        csv.push_str(&format!("{key},{payload}\n"));
    }
    std::fs::write(dir.join("events.csv"), csv).unwrap();
    let spec = r#"[job]
name = "large-records"
parallelism = 2

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { k = "string", payload = "string" }

[[stage]]
name = "per_key"
kind = "aggregate"
input = "events"
key = ["k"]
aggregates = { n = "count()" }

[[sink]]
name = "out"
kind = "file"
input = "per_key"
path = "out/"
"#;
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path.to_string_lossy().to_string()
}

#[test]
fn a_batch_larger_than_a_frame_is_split_to_cross_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_on_partition_1();
    let spec = write_job(dir.path(), &[&key, &key], 10 << 20);
    let out = quiver(&["local", "--nodes", "2", &spec]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rows: Vec<String> = quiver_chaos_tests::read_committed_rows(&dir.path().join("out"))
        .iter()
        .map(|r| r.to_string())
        .collect();
    rows.sort();
    let expected = [
        format!(r#"{{"k":"{key}","n":1}}"#),
        format!(r#"{{"k":"{key}","n":2}}"#),
    ];
    assert_eq!(rows, expected);
}

#[test]
fn a_record_larger_than_a_frame_fails_the_job_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_on_partition_1();
    let spec = write_job(dir.path(), &[&key], 17 << 20);
    let out = quiver(&["local", "--nodes", "2", &spec]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("cannot go to another node: a frame carries at most 16777216 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("restart"),
        "retried a permanent failure:\n{stderr}"
    );
}

//! Output folders are owned (issue 13): a rerun into a folder holding an earlier run's output
//! is refused unless the sink's `mode` says to overwrite or append — never silently doubled —
//! and a job cannot be submitted into a folder a live job writes.

mod common;

use common::cluster::Cluster;
use common::{expected_running, expected_windows, quiver, sorted, write_job};
use quiver_chaos_tests::read_committed_rows;
use std::path::Path;

const EVENTS: usize = 500;

/// Runs `quiver local` on the common job in `dir` with `mode` on both file sinks; returns
/// whether it succeeded and its stderr.
fn run_local(dir: &Path, mode: Option<&str>) -> (bool, String) {
    let spec = write_job(dir, EVENTS, "", "");
    if let Some(mode) = mode {
        let text = std::fs::read_to_string(&spec).unwrap();
        let text = text.replace(
            "path = \"out/\"",
            &format!("path = \"out/\"\nmode = \"{mode}\""),
        );
        let text = text.replace(
            "path = \"running_out/\"",
            &format!("path = \"running_out/\"\nmode = \"{mode}\""),
        );
        std::fs::write(&spec, text).unwrap();
    }
    let out = quiver(&["local", spec.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// The published rows of both sinks.
fn published(dir: &Path) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    (
        sorted(read_committed_rows(&dir.join("out"))),
        sorted(read_committed_rows(&dir.join("running_out"))),
    )
}

#[test]
fn a_rerun_into_the_same_folder_is_refused_overwritten_or_appended_never_silently_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let once = (expected_windows(EVENTS), expected_running(EVENTS));
    let (ok, stderr) = run_local(dir.path(), None);
    assert!(ok, "{stderr}");
    assert_eq!(published(dir.path()), once);

    let (ok, stderr) = run_local(dir.path(), None);
    assert!(!ok, "a rerun into the same folders was accepted");
    assert!(
        stderr.contains("holds the output of job-1 \"spend-per-user\"")
            && stderr.contains("mode = \"overwrite\""),
        "{stderr}"
    );
    assert!(
        !stderr.contains("restart"),
        "retried a permanent failure:\n{stderr}"
    );
    assert_eq!(
        published(dir.path()),
        once,
        "the refused rerun changed the output"
    );

    let (ok, stderr) = run_local(dir.path(), Some("overwrite"));
    assert!(ok, "{stderr}");
    assert_eq!(
        published(dir.path()),
        once,
        "overwrite must replace, not add"
    );

    let (ok, stderr) = run_local(dir.path(), Some("append"));
    assert!(ok, "{stderr}");
    let twice = |rows: Vec<serde_json::Value>| sorted([rows.clone(), rows].concat());
    assert_eq!(published(dir.path()), (twice(once.0), twice(once.1)));
}

#[test]
fn a_job_writing_into_the_folder_of_a_live_job_is_refused_at_submission() {
    let mut cluster = Cluster::on_loopback(2);
    cluster.submit();
    let spec = cluster.dir.path().join("job.toml");
    let out = cluster.cli(&["job", "submit", spec.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second writer was admitted");
    let folder = cluster.dir.path().join("out");
    assert!(
        stderr.contains(&format!(
            "sink \"out\" writes into {}, where job-1 (\"spend-per-user\"",
            folder.display()
        )) && stderr.contains("stop job-1 first"),
        "{stderr}"
    );
    cluster.wait_for_finish();
    cluster.assert_exactly_once();
}

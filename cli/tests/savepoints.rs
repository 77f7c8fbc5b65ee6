//! Savepoints and rescaling (issue 5): a job at parallelism 2 is stopped with a savepoint,
//! and the same spec resumes from it at parallelism 4 or 1 — state moves by key groups — and
//! the output of both runs together equals the naive reference exactly.

mod common;

use common::{assert_exactly_once, assert_running_prefix_published, quiver, write_job_at, QUIVER};
use quiver_chaos_tests::{certs_init, start_coordinator, start_node, wait_for_alive_nodes};
use std::path::Path;
use std::time::{Duration, Instant};

const EVENTS: usize = 5000;

fn stop_and_resume_at(parallelism: u32) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let quiver_bin = Path::new(QUIVER);
    let certs = root.join("certs");
    certs_init(quiver_bin, &certs);
    let (_coordinator, addr) = start_coordinator(quiver_bin, &certs, root);
    let _nodes: Vec<_> = (1..=2)
        .map(|i| start_node(quiver_bin, &certs, addr, root, &format!("node{i}"), 4))
        .collect();
    wait_for_alive_nodes(quiver_bin, &certs, addr, 2, Duration::from_secs(20));
    let (certs, addr) = (certs.to_string_lossy().to_string(), addr.to_string());
    let cli = |args: &[&str]| {
        let mut all = vec!["--certs", &certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        let out = quiver(&all);
        assert!(
            out.status.success(),
            "quiver {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    let job = "checkpoint_interval = \"300ms\"";
    let spec = write_job_at(root, 2, EVENTS, job, "rate = 2000");
    assert_eq!(cli(&["job", "submit", spec.to_str().unwrap()]), "job-1");
    let start = Instant::now();
    while !cli(&["checkpoint", "list", "job-1"]).contains("job-1/chk-") {
        assert!(start.elapsed() < Duration::from_secs(30), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let savepoint = cli(&["job", "stop", "job-1"]);
    assert!(savepoint.starts_with("job-1/chk-"), "{savepoint}");
    // When `job stop` returns, every partition has published its output up to the savepoint.
    let prefix = assert_running_prefix_published(root);
    assert!(
        prefix > 0 && prefix < EVENTS,
        "stopped mid-run: {prefix} events"
    );
    let listing = cli(&["checkpoint", "list", "job-1"]);
    assert!(listing.contains("Savepoint"), "{listing}");
    assert!(cli(&["job", "status", "job-1"]).contains("Cancelled"));

    let spec = write_job_at(root, parallelism, EVENTS, job, "rate = 2000");
    let out = cli(&[
        "job",
        "submit",
        "--wait",
        "--from-savepoint",
        &savepoint,
        spec.to_str().unwrap(),
    ]);
    assert_eq!(out, "job-2");
    assert_exactly_once(root, EVENTS);
}

#[test]
fn savepoint_at_parallelism_2_resumes_exactly_once_at_parallelism_4() {
    stop_and_resume_at(4);
}

#[test]
fn savepoint_at_parallelism_2_resumes_exactly_once_at_parallelism_1() {
    stop_and_resume_at(1);
}

//! Savepoints and rescaling (issue 5): a job at parallelism 2 is stopped with a savepoint,
//! and the same spec resumes from it at parallelism 4 or 1 — state moves by key groups — and
//! the output of both runs together equals the naive reference exactly. When `job stop`
//! returns, every partition's output up to the savepoint is published (issue 13). A resumed
//! spec must fit the saved state: aggregates are found by name, and a changed function,
//! window or an added aggregate is refused at submission with what changed (issue 13).

mod common;

use common::{assert_exactly_once, assert_running_prefix_published, quiver, write_job_at, QUIVER};
use quiver_chaos_tests::{
    certs_init, start_coordinator, start_node, wait_for_alive_nodes, Process,
};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const EVENTS: usize = 5000;
const JOB: &str = "checkpoint_interval = \"300ms\"";
const SOURCE: &str = "rate = 2000";

/// A cluster whose job-1 (the spend-per-user job at parallelism 2) was stopped mid-run.
struct Stopped {
    dir: tempfile::TempDir,
    certs: PathBuf,
    addr: String,
    _processes: Vec<Process>,
    savepoint: String,
}

impl Stopped {
    fn new() -> Stopped {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let quiver_bin = Path::new(QUIVER);
        let certs = root.join("certs");
        certs_init(quiver_bin, &certs);
        let (coordinator, addr) = start_coordinator(quiver_bin, &certs, root);
        let mut processes: Vec<Process> = (1..=2)
            .map(|i| start_node(quiver_bin, &certs, addr, root, &format!("node{i}"), 4))
            .collect();
        processes.push(coordinator);
        wait_for_alive_nodes(quiver_bin, &certs, addr, 2, Duration::from_secs(20));
        let mut stopped = Stopped {
            dir,
            certs,
            addr: addr.to_string(),
            _processes: processes,
            savepoint: String::new(),
        };
        let spec = write_job_at(stopped.root(), 2, EVENTS, JOB, SOURCE);
        assert_eq!(
            stopped.ok(&["job", "submit", spec.to_str().unwrap()]),
            "job-1"
        );
        let start = Instant::now();
        // Two checkpoints first: the savepoint's chains extend them with deltas.
        while stopped
            .ok(&["checkpoint", "list", "job-1"])
            .matches("job-1/chk-")
            .count()
            < 2
        {
            assert!(start.elapsed() < Duration::from_secs(30), "no checkpoint");
            std::thread::sleep(Duration::from_millis(100));
        }
        stopped.savepoint = stopped.ok(&["job", "stop", "job-1"]);
        assert!(
            stopped.savepoint.starts_with("job-1/chk-"),
            "{}",
            stopped.savepoint
        );
        stopped
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn cli(&self, args: &[&str]) -> Output {
        let certs = self.certs.to_string_lossy().to_string();
        let mut all = vec!["--certs", &certs, "--coordinator", &self.addr];
        all.extend_from_slice(args);
        quiver(&all)
    }

    /// Runs the CLI, asserts success, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "quiver {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Submits `spec` from the savepoint.
    fn resume(&self, spec: &Path, wait: bool) -> Output {
        let mut args = vec!["job", "submit", "--from-savepoint", &self.savepoint];
        if wait {
            args.push("--wait");
        }
        let spec = spec.to_string_lossy().to_string();
        args.push(&spec);
        self.cli(&args)
    }
}

fn stop_and_resume_at(parallelism: u32) {
    let stopped = Stopped::new();
    let root = stopped.root();
    // When `job stop` returns, every partition has published its output up to the savepoint.
    let prefix = assert_running_prefix_published(root);
    assert!(
        prefix > 0 && prefix < EVENTS,
        "stopped mid-run: {prefix} events"
    );
    let listing = stopped.ok(&["checkpoint", "list", "job-1"]);
    assert!(listing.contains("Savepoint"), "{listing}");
    assert!(stopped
        .ok(&["job", "status", "job-1"])
        .contains("Cancelled"));

    let spec = write_job_at(root, parallelism, EVENTS, JOB, SOURCE);
    let out = stopped.resume(&spec, true);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "job-2");
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

/// The spec of job-1 with `from` replaced by `to`.
fn changed_spec(root: &Path, from: &str, to: &str) -> PathBuf {
    let spec = write_job_at(root, 2, EVENTS, JOB, SOURCE);
    let text = std::fs::read_to_string(&spec).unwrap();
    assert!(text.contains(from), "the spec has no {from:?}");
    std::fs::write(&spec, text.replace(from, to)).unwrap();
    spec
}

#[test]
fn a_resumed_spec_with_reordered_aggregates_continues_exactly_once() {
    let stopped = Stopped::new();
    let spec = changed_spec(
        stopped.root(),
        r#"aggregates = { n = "count()", spend = "sum(amount)", top = "max(amount)" }"#,
        r#"aggregates = { top = "max(amount)", spend = "sum(amount)", n = "count()" }"#,
    );
    let spec_text = std::fs::read_to_string(&spec).unwrap().replace(
        r#"aggregates = { n = "count()", spend = "sum(amount)" }"#,
        r#"aggregates = { spend = "sum(amount)", n = "count()" }"#,
    );
    std::fs::write(&spec, spec_text).unwrap();
    let out = stopped.resume(&spec, true);
    assert!(out.status.success(), "{out:?}");
    assert_exactly_once(stopped.root(), EVENTS);
}

#[test]
fn a_resumed_spec_whose_state_does_not_fit_is_refused_at_submission() {
    let stopped = Stopped::new();
    let running = r#"aggregates = { n = "count()", spend = "sum(amount)" }"#;
    let cases = [
        (
            running,
            r#"aggregates = { n = "count()", spend = "max(amount)" }"#,
            r#""running" cannot continue from its saved state: "spend" was sum(amount: f64) and is max(amount: f64) now"#,
        ),
        (
            running,
            r#"aggregates = { n = "count()", spend = "sum(amount)", low = "min(amount)" }"#,
            r#""low" = min(amount: f64) is new: the saved state has nothing for it"#,
        ),
        (
            r#"key = ["user"]
aggregates = { n = "count()", spend = "sum(amount)" }"#,
            r#"key = ["user"]
window = { kind = "tumbling", size = "5s" }
aggregates = { n = "count()", spend = "sum(amount)" }"#,
            "its window was none (a running aggregate) and is tumbling 5s now",
        ),
        (
            r#"window = { kind = "tumbling", size = "1s" }"#,
            r#"window = { kind = "tumbling", size = "2s" }"#,
            "its window was tumbling 1s and is tumbling 2s now",
        ),
    ];
    for (from, to, message) in cases {
        let spec = changed_spec(stopped.root(), from, to);
        let out = stopped.resume(&spec, false);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{to} was accepted");
        assert!(
            stderr.contains(message),
            "expected {message:?} in:\n{stderr}"
        );
        assert!(
            stderr.contains("start the job without --from-savepoint"),
            "{stderr}"
        );
    }
    assert!(
        !stopped.ok(&["job", "list"]).contains("job-2"),
        "a refused spec must not become a job"
    );
}

#[test]
fn a_second_resume_of_one_savepoint_into_the_same_folders_is_refused() {
    let stopped = Stopped::new();
    let spec = write_job_at(stopped.root(), 2, EVENTS, JOB, SOURCE);
    let out = stopped.resume(&spec, true);
    assert!(out.status.success(), "{out:?}");
    let out = stopped.resume(&spec, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second resume ran:\n{stderr}");
    assert!(
        stderr.contains("holds the output of job-2 \"spend-per-user\""),
        "{stderr}"
    );
    assert_exactly_once(stopped.root(), EVENTS);
}

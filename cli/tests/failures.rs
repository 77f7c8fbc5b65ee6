//! How failures are told apart (issue 13): a cause that a retry cannot cure (a missing input
//! file, a missing header column) fails the job at once with what to fix, checkpoints or not;
//! asking a job without checkpoints for a savepoint is answered at once; and a job waiting for
//! slots says why while `job submit --wait` follows it.

mod common;

use common::{quiver, QUIVER};
use quiver_chaos_tests::{
    certs_init, start_coordinator, start_node, wait_for_alive_nodes, Process,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// A spec reading `events.csv` (columns `user`, `amount`, `ts`) into a running aggregate,
/// with `job_extra` in `[job]`.
fn write_spec(dir: &Path, job_extra: &str) -> String {
    let spec = format!(
        r#"[job]
name = "failures"
parallelism = 2
{job_extra}

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = {{ user = "string", amount = "f64", ts = "i64" }}
event_time = "ts"

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path.to_string_lossy().to_string()
}

/// Runs `quiver local SPEC`; asserts it failed within `within` and returns its stderr.
fn local_fails_within(spec: &str, within: Duration) -> String {
    let started = Instant::now();
    let out = quiver(&["local", spec]);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the job should fail:\n{stderr}");
    assert!(
        took < within,
        "failing took {took:?}, so the cause was retried:\n{stderr}"
    );
    stderr
}

#[test]
fn a_missing_input_file_fails_the_job_at_once_even_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    for job_extra in ["checkpoint_interval = \"200ms\"", ""] {
        let spec = write_spec(dir.path(), job_extra);
        let stderr = local_fails_within(&spec, Duration::from_secs(15));
        let file = dir.path().join("events.csv");
        assert!(
            stderr.contains(&format!("cannot open {}", file.display()))
                && stderr.contains("check the source's path"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("restart") && !stderr.contains("set job.checkpoint_interval"),
            "a missing file was retried or blamed on checkpoints:\n{stderr}"
        );
    }
}

#[test]
fn a_missing_header_column_fails_the_job_at_once_even_with_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.csv"), "user,ts\nalice,1\n").unwrap();
    let spec = write_spec(dir.path(), "checkpoint_interval = \"200ms\"");
    let stderr = local_fails_within(&spec, Duration::from_secs(15));
    assert!(
        stderr.contains("line 1: the header has no column \"amount\" (header columns: user, ts)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("restart") && !stderr.contains("set job.checkpoint_interval"),
        "{stderr}"
    );
}

/// A coordinator and one node with `slots` slots; returns them and the CLI's common flags.
fn cluster(dir: &Path, slots: u32) -> (Process, Process, Vec<String>) {
    let quiver_bin = Path::new(QUIVER);
    let certs = dir.join("certs");
    certs_init(quiver_bin, &certs);
    let (coordinator, addr) = start_coordinator(quiver_bin, &certs, dir);
    let node = start_node(quiver_bin, &certs, addr, dir, "node1", slots);
    wait_for_alive_nodes(quiver_bin, &certs, addr, 1, Duration::from_secs(20));
    let flags = vec![
        "--certs".to_string(),
        certs.to_string_lossy().to_string(),
        "--coordinator".to_string(),
        addr.to_string(),
    ];
    (coordinator, node, flags)
}

#[test]
fn savepoints_of_a_job_without_checkpoints_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, _node, flags) = cluster(dir.path(), 4);
    let mut csv = String::from("user,amount,ts\n");
    for i in 0..100_000 {
        csv.push_str(&format!("u{},1.0,{i}\n", i % 10));
    }
    std::fs::write(dir.path().join("events.csv"), csv).unwrap();
    let spec = write_spec(dir.path(), "");
    // Slow enough to be running when asked.
    let spec_text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        spec_text.replace("event_time = \"ts\"", "event_time = \"ts\"\nrate = 1000"),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        quiver(&all)
    };
    let out = cli(&["job", "submit", &spec]);
    assert!(out.status.success(), "{out:?}");
    for command in ["savepoint", "stop"] {
        let started = Instant::now();
        let out = cli(&["job", command, "job-1"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command} succeeded: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{command} took {:?}",
            started.elapsed()
        );
        assert!(
            stderr.contains("job-1 takes no checkpoints")
                && stderr.contains("add checkpoint_interval"),
            "{stderr}"
        );
    }
    let status = cli(&["job", "status", "job-1"]);
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("Running"),
        "the refused requests must leave the job running: {status:?}"
    );
}

#[test]
fn submit_wait_says_why_a_job_waits_for_slots() {
    let dir = tempfile::tempdir().unwrap();
    let (_coordinator, _node, flags) = cluster(dir.path(), 1);
    std::fs::write(dir.path().join("events.csv"), "user,amount,ts\na,1.0,1\n").unwrap();
    let spec = write_spec(dir.path(), "");
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend_from_slice(&["job", "submit", "--wait", &spec]);
    let mut submit = Process::start("submit", Path::new(QUIVER), &args, dir.path());
    submit.wait_for_log(
        "Scheduling: 0.0 s, 0 records in (0/s), 0 out — waiting for slots: the job needs 2 \
         slots (its largest parallelism) but the cluster has 1 free on 1 live node(s)",
        Duration::from_secs(20),
    );
}

//! What scripts and log collectors read: `--log-format json` writes one JSON object a line
//! (level, fields, target), and `quiver cluster status --json` answers the cluster report as
//! JSON: where the coordinator is reached (`--advertise`) and the nodes that joined. A line
//! logged inside a task carries the task's span: its job, operator chain and partition.

use quiver_chaos_tests::{
    certs_init, run_with_timeout, start_coordinator_with, start_node, wait_for_alive_nodes, Process,
};
use std::path::PathBuf;
use std::time::Duration;

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

#[test]
fn json_logs_and_cluster_status_json_are_machine_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let certs = root.join("certs");
    certs_init(&quiver(), &certs);
    let (coordinator, addr) = start_coordinator_with(
        &quiver(),
        &certs,
        root,
        &[
            "--log-format",
            "json",
            "--http",
            "off",
            "--advertise",
            "coordinator.example:7600",
        ],
    );
    let _node = start_node(&quiver(), &certs, addr, root, "node", 3);
    wait_for_alive_nodes(&quiver(), &certs, addr, 1, Duration::from_secs(20));

    let log = coordinator.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        lines.iter().any(|l| {
            let entry: serde_json::Value = serde_json::from_str(l).expect("JSON");
            entry["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("joined: exchange"))
        }),
        "no JSON line says the node joined:\n{log}"
    );

    let out = run_with_timeout(
        &quiver(),
        &[
            "cluster",
            "status",
            "--json",
            "--certs",
            &certs.to_string_lossy(),
            "--coordinator",
            &addr.to_string(),
        ],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(
        report["coordinator"], "coordinator.example:7600",
        "{report}"
    );
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{report}");
    assert_eq!(nodes[0]["alive"], true, "{report}");
    assert_eq!(nodes[0]["slots"], 3, "{report}");
}

#[test]
fn a_json_log_line_from_inside_a_task_names_its_job_operator_and_partition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::write(
        root.join("events.csv"),
        "user,amount\nalice,1.5\nbob,notanumber\ncarol,2\n",
    )
    .expect("csv");
    let spec = root.join("job.toml");
    std::fs::write(
        &spec,
        r#"[job]
name = "spans"

[[source]]
name = "events"
kind = "file"
path = "events.csv"
schema = { user = "string", amount = "f64" }
bad_records = "skip"

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#,
    )
    .expect("spec");
    // The first skipped record is a warning, logged on the thread that reads the file.
    let args = ["--log-format", "json", "local", &spec.to_string_lossy()];
    let mut local = Process::start("local", &quiver(), &args, root);
    local.wait_for_log("skipped a malformed record", Duration::from_secs(30));
    let log = local.log();
    let line = log
        .lines()
        .find(|l| l.contains("skipped a malformed record"))
        .expect("the line");
    let entry: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    let span = &entry["span"];
    assert_eq!(span["name"], "task", "{line}");
    assert_eq!(span["job"], "job-1", "{line}");
    assert_eq!(span["operator"], "events → out", "{line}");
    assert_eq!(span["partition"], 0, "{line}");
}

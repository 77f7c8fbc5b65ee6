//! What scripts and log collectors read: `--log-format json` writes one JSON object a line
//! (level, fields, target), and `quiver cluster status --json` answers the cluster report as
//! JSON: where the coordinator is reached (`--advertise`) and the nodes that joined.

use quiver_chaos_tests::{
    certs_init, run_with_timeout, start_coordinator_with, start_node, wait_for_alive_nodes,
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

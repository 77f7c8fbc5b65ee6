//! The design's spend-per-user job gives exactly the rows a naive reference computes, both in
//! `quiver local` and on a real cluster (a coordinator and two `quiver node` processes, four
//! partitions spread over them, so records cross QUIC between the nodes), whose every address
//! is given as a host name.

mod common;

use common::{assert_exactly_once, quiver, write_job, QUIVER};
use quiver_chaos_tests::{free_udp_port, Process};
use std::path::Path;
use std::time::Duration;

const EVENTS: usize = 3000;

#[test]
fn local_mode_output_equals_the_naive_reference() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_job(dir.path(), EVENTS, "", "");
    let out = quiver(&["local", spec.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "quiver local failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_exactly_once(dir.path(), EVENTS);
}

#[test]
fn two_node_cluster_output_equals_the_naive_reference_and_crosses_quic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spec = write_job(root, EVENTS, "", "");
    let certs = root.join("certs");
    let certs = certs.to_str().unwrap();
    assert!(quiver(&["certs", "init", "--dir", certs]).status.success());
    // Host names wherever an address goes: `localhost` resolves from /etc/hosts.
    let addr = format!("localhost:{}", free_udp_port());
    let data = |name: &str| root.join(name).to_string_lossy().to_string();
    let mut coordinator = Process::start(
        "coordinator",
        Path::new(QUIVER),
        &[
            "coordinator",
            "--certs",
            certs,
            "--data-dir",
            &data("coord"),
            "--listen",
            &addr,
        ],
        root,
    );
    coordinator.wait_for_log("coordinator listening", Duration::from_secs(10));
    let mut nodes: Vec<Process> = ["node1", "node2"]
        .iter()
        .map(|name| {
            Process::start(
                name,
                Path::new(QUIVER),
                &[
                    "node",
                    "--certs",
                    certs,
                    "--coordinator",
                    &addr,
                    "--listen",
                    "localhost:0",
                    "--data-dir",
                    &data(name),
                    "--slots",
                    "2",
                ],
                root,
            )
        })
        .collect();
    for node in &mut nodes {
        node.wait_for_log("joined the coordinator", Duration::from_secs(10));
    }
    let cli = |args: &[&str]| {
        let mut all = vec!["--certs", certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        quiver(&all)
    };
    let submit = cli(&["job", "submit", "--wait", spec.to_str().unwrap()]);
    assert!(
        submit.status.success(),
        "job failed:\n{}\n{}",
        String::from_utf8_lossy(&submit.stderr),
        coordinator.log()
    );
    assert_eq!(String::from_utf8_lossy(&submit.stdout).trim(), "job-1");
    assert_exactly_once(root, EVENTS);

    // Both nodes ran partitions and bytes crossed QUIC between them.
    let status = String::from_utf8_lossy(&cli(&["cluster", "status"]).stdout).to_string();
    let traffic: Vec<(u64, u64)> = status
        .lines()
        .filter(|l| l.starts_with("node-"))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let n = |s: &str| s.replace(',', "").parse::<u64>().unwrap();
            (n(cols[5]), n(cols[6]))
        })
        .collect();
    assert_eq!(traffic.len(), 2, "two nodes in:\n{status}");
    let sent: u64 = traffic.iter().map(|t| t.0).sum();
    let received: u64 = traffic.iter().map(|t| t.1).sum();
    assert!(sent > 10_000, "bytes sent between nodes: {sent}\n{status}");
    assert_eq!(sent, received, "every byte sent was received:\n{status}");
}

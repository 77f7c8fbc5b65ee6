//! A cluster as separate machines would run it: the coordinator and two nodes each in a
//! network namespace of its own with its own address (as root; `ip netns`), every process
//! binding `0.0.0.0`, the nodes telling their peers where to reach them (`--advertise`), each
//! node with a certificate of its own (`quiver certs node`), and the admin CLI on this
//! machine reaching the coordinator across the bridge. The contract job's output is exact.

mod common;

use common::{assert_exactly_once, write_job, QUIVER};
use quiver_chaos_tests::{
    certs_init, certs_node, cluster_nodes, run_with_timeout, wait_for_alive_nodes, Network,
};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const EVENTS: usize = 3000;
const COORDINATOR_PORT: u16 = 7600;
const EXCHANGE_PORT: u16 = 7700;

#[test]
fn a_coordinator_and_nodes_on_separate_hosts_publish_the_exact_output() {
    let network = Network::new(3).unwrap_or_else(|e| {
        panic!("this test runs each process on a network host of its own; they cannot be built here: {e}")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let quiver = Path::new(QUIVER);
    let certs = root.join("certs");
    certs_init(quiver, &certs);
    let text = |p: &Path| p.to_string_lossy().to_string();
    let hosts = network.hosts();

    let coordinator_host = &hosts[0];
    let mut coordinator = coordinator_host.start(
        "coordinator",
        quiver,
        &[
            "coordinator",
            "--certs",
            &text(&certs),
            "--data-dir",
            &text(&root.join("coordinator")),
            "--listen",
            &format!("0.0.0.0:{COORDINATOR_PORT}"),
        ],
        root,
    );
    coordinator.wait_for_log("coordinator listening", Duration::from_secs(20));
    let coordinator_addr = SocketAddr::new(coordinator_host.addr().into(), COORDINATOR_PORT);

    let mut nodes = Vec::new();
    for (i, host) in hosts[1..].iter().enumerate() {
        let name = format!("node{}", i + 1);
        let own = root.join(format!("{name}-certs"));
        certs_node(quiver, &certs, &name, &own);
        let advertise = SocketAddr::new(host.addr().into(), EXCHANGE_PORT);
        nodes.push(host.start(
            &name,
            quiver,
            &[
                "node",
                "--certs",
                &text(&own),
                "--coordinator",
                &coordinator_addr.to_string(),
                "--listen",
                &format!("0.0.0.0:{EXCHANGE_PORT}"),
                "--advertise",
                &advertise.to_string(),
                "--data-dir",
                &text(&root.join(&name)),
                "--slots",
                "2",
            ],
            root,
        ));
    }
    let rows = wait_for_alive_nodes(quiver, &certs, coordinator_addr, 2, Duration::from_secs(30));
    let mut advertised: Vec<SocketAddr> = rows.iter().map(|r| r.exchange).collect();
    advertised.sort();
    let mut expected: Vec<SocketAddr> = hosts[1..]
        .iter()
        .map(|h| SocketAddr::new(h.addr().into(), EXCHANGE_PORT))
        .collect();
    expected.sort();
    assert_eq!(
        advertised, expected,
        "nodes are listed at the addresses they advertise"
    );

    let spec = write_job(root, EVENTS, "", "");
    let submit = run_with_timeout(
        quiver,
        &[
            "--certs",
            &text(&certs),
            "--coordinator",
            &coordinator_addr.to_string(),
            "job",
            "submit",
            "--wait",
            &text(&spec),
        ],
        Duration::from_secs(120),
    );
    let logs = || {
        let mut all = coordinator.log();
        for node in &nodes {
            all.push_str(&node.log());
        }
        all
    };
    assert!(
        submit.status.success(),
        "the job did not finish:\n{}\n{}",
        String::from_utf8_lossy(&submit.stderr),
        logs()
    );
    assert_exactly_once(root, EVENTS);
    // Its partitions ran on both hosts, so records crossed between them.
    let job = String::from_utf8_lossy(&submit.stdout).trim().to_string();
    let status = run_with_timeout(
        quiver,
        &[
            "--certs",
            &text(&certs),
            "--coordinator",
            &coordinator_addr.to_string(),
            "job",
            "status",
            &job,
            "--json",
        ],
        Duration::from_secs(30),
    );
    let report: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("job status --json");
    let sent: u64 = report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["metrics"]["bytes_sent"].as_u64().expect("bytes"))
        .sum();
    assert!(sent > 0, "no bytes crossed between the hosts: {report}");
    assert!(cluster_nodes(quiver, &certs, coordinator_addr)
        .iter()
        .all(|n| n.alive));
}

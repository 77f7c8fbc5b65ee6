//! Exactly-once across a network partition (issue 13). The coordinator listens on a bridge
//! and three nodes run on separate network hosts (namespaces), each advertising its own
//! address. The recovery workload runs (a rate-limited file source on node-1 feeding running
//! and windowed aggregates at parallelism 4 on all three nodes, checkpoints every 500 ms);
//! after its first checkpoint the link between node-1 and node-2 is cut both ways for 12 s,
//! longer than QUIC's 10 s idle timeout, while every node still reaches the coordinator, and
//! then healed. The job must recover, finish, and publish exactly the naive reference.

mod common;

use common::cluster::{restarts, Cluster, SLOTS};
use common::QUIVER;
use quiver_chaos_tests::{cluster_nodes, node_args, Host, Network, NodeRow};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

const NODES: usize = 3;
/// How long the link stays cut: past QUIC's idle timeout, so connections across it die.
const CUT: Duration = Duration::from_secs(12);

/// The nodes as the coordinator lists them, asserting that the same `NODES` nodes are alive:
/// none was declared lost (a lost node would come back under a new id).
fn same_nodes_alive(cluster: &Cluster, when: &str) -> Vec<NodeRow> {
    let rows = cluster_nodes(Path::new(QUIVER), &cluster.certs, cluster.addr);
    let alive: Vec<&str> = rows
        .iter()
        .filter(|r| r.alive)
        .map(|r| r.node.as_str())
        .collect();
    assert_eq!(
        alive,
        ["node-1", "node-2", "node-3"],
        "{when}, every node reaches the coordinator, yet the alive nodes changed: \
         {rows:?}\n{}",
        cluster.logs()
    );
    rows
}

/// The host node `node` runs on, found by the exchange address it advertised.
fn host_of<'a>(network: &'a Network, rows: &[NodeRow], node: &str) -> &'a Host {
    let row = rows.iter().find(|r| r.node == node).expect("node listed");
    network
        .hosts()
        .iter()
        .find(|h| row.exchange.ip() == h.addr())
        .unwrap_or_else(|| panic!("{node} advertises {}, no host's address", row.exchange))
}

#[test]
fn a_partition_between_live_nodes_recovers_with_exact_output() {
    let network = Network::new(NODES).unwrap_or_else(|e| {
        panic!("this test runs nodes on separate network hosts; they cannot be built here: {e}")
    });
    let mut cluster = Cluster::start(
        network.bridge_addr().into(),
        NODES,
        |i, name, certs, coordinator, dir| {
            // Each node's exchange listens on its host's address, advertised to its peers.
            let host = &network.hosts()[i];
            let mut args = node_args(certs, coordinator, dir, name, SLOTS);
            args.extend([
                "--listen".into(),
                SocketAddr::new(host.addr().into(), 0).to_string(),
            ]);
            host.start(name, Path::new(QUIVER), &args, dir)
        },
    );
    let rows = same_nodes_alive(&cluster, "before the job");
    // The file source (parallelism 1) runs with partition 0 on node-1 (placement is
    // round-robin by node id) and sends to node-2's aggregate partitions over this link.
    let (a, b) = (
        host_of(&network, &rows, "node-1"),
        host_of(&network, &rows, "node-2"),
    );

    cluster.submit();
    cluster.wait_for_checkpoint();
    network
        .cut(a, b)
        .unwrap_or_else(|e| panic!("cannot cut node-1 from node-2: {e}"));
    let cut = Instant::now();
    while cut.elapsed() < CUT {
        same_nodes_alive(&cluster, "while node-1 and node-2 are cut from each other");
        std::thread::sleep(Duration::from_secs(1));
    }
    network
        .heal(a, b)
        .unwrap_or_else(|e| panic!("cannot heal the link between node-1 and node-2: {e}"));

    let status = cluster.wait_for_finish();
    same_nodes_alive(&cluster, "after the partition");
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();
}

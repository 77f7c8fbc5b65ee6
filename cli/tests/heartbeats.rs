//! Heartbeats as the coordinator sets them (issue 16): a node learns the coordinator's
//! interval and timeout when it joins and says so; a frozen node is declared lost after that
//! timeout, and a frozen coordinator is taken for dead by its nodes after the same timeout.
//! The values here (700 ms, 3 s) are neither default, so only learnt ones can show.

mod common;

use common::QUIVER;
use quiver_chaos_tests::{certs_init, start_coordinator_with, start_node};
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn nodes_learn_the_coordinators_heartbeats_and_frozen_peers_are_noticed_after_its_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (quiver, work) = (Path::new(QUIVER), dir.path());
    let certs = work.join("certs");
    certs_init(quiver, &certs);
    let (mut coordinator, addr) = start_coordinator_with(
        quiver,
        &certs,
        work,
        &["--heartbeat-interval", "700ms", "--heartbeat-timeout", "3s"],
    );
    let mut node = start_node(quiver, &certs, addr, work, "node1", 1);
    let wait = Duration::from_secs(60);
    node.wait_for_log("as node-1; exchange on", wait);
    node.wait_for_log("heartbeats every 700 ms, timeout 3000 ms", wait);

    node.signal("STOP");
    coordinator.wait_for_log("node-1 lost: no heartbeat for 3000 ms", wait);
    node.signal("CONT");
    node.wait_for_log("as node-2", wait);

    // Frozen itself, the node may have taken the coordinator for dead already on waking.
    let silent = "the coordinator was silent for 3000 ms";
    let before = node.log().matches(silent).count();
    coordinator.signal("STOP");
    let start = Instant::now();
    while node.log().matches(silent).count() == before {
        assert!(start.elapsed() < wait, "{}", node.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    coordinator.signal("CONT");
    node.wait_for_log("as node-3", wait);
}

//! A node restarted at its address (issue 16): the coordinator learns from the new node's
//! join that the old process is gone — two processes cannot listen on one address — and
//! declares it lost at once instead of after the heartbeat timeout (here 60 s, so without
//! that the old node would still be listed alive).

mod common;

use common::QUIVER;
use quiver_chaos_tests::{certs_init, cluster_nodes, free_udp_port, node_args, Process};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

#[test]
fn a_node_restarted_at_its_address_replaces_the_old_one_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (quiver, work) = (Path::new(QUIVER), dir.path());
    let certs = work.join("certs");
    certs_init(quiver, &certs);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let mut coordinator = Process::start(
        "coordinator",
        quiver,
        &[
            "coordinator",
            "--certs",
            &certs.to_string_lossy(),
            "--data-dir",
            &work.join("coordinator-data").to_string_lossy(),
            "--listen",
            &addr.to_string(),
            "--heartbeat-timeout",
            "60s",
        ],
        work,
    );
    coordinator.wait_for_log("coordinator listening on", Duration::from_secs(20));
    let mut args = node_args(&certs, addr, work, "node1", 2);
    args.extend(["--listen".into(), format!("127.0.0.1:{}", free_udp_port())]);
    let mut first = Process::start("node1-first", quiver, &args, work);
    first.wait_for_log("joined the coordinator", Duration::from_secs(20));
    first.signal("KILL");
    drop(first);
    let mut second = Process::start("node1-second", quiver, &args, work);
    second.wait_for_log("as node-2", Duration::from_secs(20));
    let start = Instant::now();
    let rows = loop {
        let rows = cluster_nodes(quiver, &certs, addr);
        if rows.iter().any(|r| r.node == "node-2" && r.alive) {
            break rows;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{rows:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let old = rows
        .iter()
        .find(|r| r.node == "node-1")
        .expect("node-1 listed");
    assert!(
        !old.alive,
        "the restarted node's old self is still alive: {rows:?}\n{}",
        coordinator.log()
    );
    assert!(
        coordinator
            .log()
            .contains("node-1 lost: a new node joined at its address"),
        "{}",
        coordinator.log()
    );
}

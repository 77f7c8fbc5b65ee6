//! Exactly-once under real failures (issue 5): a job with a rate-limited file source, running
//! and windowed aggregates at parallelism 4 and checkpoints every 500 ms runs on a
//! coordinator and three node processes; something is killed mid-run, and the published
//! output must still equal the naive reference exactly — no row missing, none twice.

mod common;

use common::cluster::{restarts, Cluster};
use common::QUIVER;
use quiver_chaos_tests::restart_coordinator;
use std::path::Path;
use std::time::Duration;

#[test]
fn killed_node_loses_no_row_and_duplicates_none() {
    let mut cluster = Cluster::on_loopback(3);
    cluster.submit();
    cluster.wait_for_checkpoint();
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();
}

#[test]
fn restarted_coordinator_resumes_the_job_exactly_once() {
    let mut cluster = Cluster::on_loopback(3);
    cluster.submit();
    cluster.wait_for_checkpoint();
    cluster.coordinator.signal("KILL");
    std::thread::sleep(Duration::from_millis(300));
    cluster.coordinator = restart_coordinator(
        "coordinator-restarted",
        Path::new(QUIVER),
        &cluster.certs,
        cluster.dir.path(),
        cluster.addr,
    );
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();
}

#[test]
fn frozen_node_is_fenced_and_its_stale_writes_never_published() {
    let mut cluster = Cluster::on_loopback(3);
    cluster.submit();
    cluster.wait_for_checkpoint();
    cluster.nodes[2].signal("STOP");
    // Past the 2 s heartbeat timeout: the coordinator declares it dead and recovers.
    std::thread::sleep(Duration::from_secs(5));
    cluster.nodes[2].signal("CONT");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();
}

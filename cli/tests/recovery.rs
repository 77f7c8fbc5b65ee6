//! Exactly-once under real failures (issue 5): a job with a rate-limited file source, running
//! and windowed aggregates at parallelism 4 and checkpoints every 500 ms runs on a
//! coordinator and three node processes; something is killed mid-run, and the published
//! output must still equal the naive reference exactly — no row missing, none twice.

mod common;

use common::cluster::{restarts, Cluster};
use common::QUIVER;
use quiver_chaos_tests::restart_coordinator;
use std::path::Path;
use std::process::Command;
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
    // The recovery was timed until the job published again, phase by phase.
    assert!(status.contains("last recovery: "), "{status}");
    let out = cluster.cli(&["job", "status", "job-1", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let recoveries = report["recoveries"].as_array().expect("recoveries");
    assert!(!recoveries.is_empty(), "{report}");
    for r in recoveries {
        let ms = |phase: &str| r[phase].as_u64().expect("milliseconds");
        let phases = ["detect_ms", "restore_point_ms", "placement_ms", "deploy_ms"];
        let sum: u64 = phases.iter().map(|p| ms(p)).sum::<u64>() + ms("first_output_ms");
        assert_eq!(sum, ms("total_ms"), "{r}");
    }
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
    // Past the heartbeat timeout (1 s): the coordinator declares it dead and recovers.
    std::thread::sleep(Duration::from_secs(5));
    cluster.nodes[2].signal("CONT");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();
}

/// The time now as `quiver cluster status` shows it (UTC, to the second), read from `date`.
fn utc_now() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn frozen_coordinator_is_noticed_by_heartbeat_and_the_job_resumes_exactly_once() {
    let mut cluster = Cluster::on_loopback(3);
    cluster.submit();
    cluster.wait_for_checkpoint();
    let frozen_at = utc_now();
    cluster.coordinator.signal("STOP");
    // Every node takes the silent coordinator for dead by its missing heartbeats — before
    // QUIC's 10 s idle timeout could have broken the connection ("timed out").
    for node in &mut cluster.nodes {
        node.wait_for_log("was silent for", Duration::from_secs(60));
        let log = node.log();
        let until_noticed = &log[..log.find("was silent for").unwrap_or(log.len())];
        assert!(
            !until_noticed.contains("timed out"),
            "QUIC's idle timeout came first:\n{log}"
        );
    }
    cluster.coordinator.signal("CONT");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    cluster.assert_exactly_once();

    // The nodes of the first sessions are listed as lost, since the freeze; they rejoined as
    // new nodes.
    let listing = cluster.ok(&["cluster", "status"]);
    let thawed_at = utc_now();
    let rows: Vec<&str> = listing.lines().filter(|l| l.starts_with("node-")).collect();
    assert!(
        rows.len() >= 6,
        "three lost and three rejoined nodes:\n{listing}"
    );
    for row in &rows[..3] {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns[2], "lost", "{listing}");
        let lost_at = row.rsplitn(4, ' ').collect::<Vec<_>>();
        let lost_at = format!("{} {} {}", lost_at[2], lost_at[1], lost_at[0]);
        assert!(
            frozen_at <= lost_at && lost_at <= thawed_at,
            "lost at {lost_at}, not between {frozen_at} and {thawed_at}:\n{listing}"
        );
    }
    let alive = rows[3..].iter().filter(|r| r.contains(" alive ")).count();
    assert_eq!(alive, 3, "{listing}");
}

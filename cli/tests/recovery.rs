//! Exactly-once under real failures (issue 5): a job with a rate-limited file source, running
//! and windowed aggregates at parallelism 4 and checkpoints every 500 ms runs on a
//! coordinator and three node processes; something is killed mid-run, and the published
//! output must still equal the naive reference exactly — no row missing, none twice.

mod common;

use common::{assert_exactly_once, quiver, write_job, QUIVER};
use quiver_chaos_tests::{
    certs_init, restart_coordinator, start_coordinator, start_node, wait_for_alive_nodes, Process,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EVENTS: usize = 6000;
/// 6000 events at 1500/s: about 4 s of input, so failures land mid-run.
const SOURCE: &str = "rate = 1500";
const JOB: &str = "checkpoint_interval = \"500ms\"";

struct Cluster {
    dir: tempfile::TempDir,
    certs: PathBuf,
    addr: SocketAddr,
    coordinator: Process,
    nodes: Vec<Process>,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let quiver = Path::new(QUIVER);
        certs_init(quiver, &certs);
        let (coordinator, addr) = start_coordinator(quiver, &certs, dir.path());
        let nodes = (1..=3)
            .map(|i| start_node(quiver, &certs, addr, dir.path(), &format!("node{i}"), 2))
            .collect();
        wait_for_alive_nodes(quiver, &certs, addr, 3, Duration::from_secs(20));
        Cluster {
            dir,
            certs,
            addr,
            coordinator,
            nodes,
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        let certs = self.certs.to_string_lossy().to_string();
        let addr = self.addr.to_string();
        let mut all = vec!["--certs", &certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        quiver(&all)
    }

    fn submit(&self) {
        let spec = write_job(self.dir.path(), EVENTS, JOB, SOURCE);
        let out = self.cli(&["job", "submit", spec.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until job-1 has a completed checkpoint, so the failure hits a job with state.
    fn wait_for_checkpoint(&self) {
        let start = Instant::now();
        loop {
            let out = self.cli(&["checkpoint", "list", "job-1"]);
            if String::from_utf8_lossy(&out.stdout).contains("job-1/chk-") {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no checkpoint completed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until job-1 is Finished; returns its final status text.
    fn wait_for_finish(&mut self) -> String {
        let start = Instant::now();
        loop {
            let out = self.cli(&["job", "status", "job-1"]);
            let status = String::from_utf8_lossy(&out.stdout).to_string();
            if status.contains("— Finished") {
                return status;
            }
            assert!(
                !status.contains("— Failed") && !status.contains("— Cancelled"),
                "the job did not recover:\n{status}\n{}",
                self.logs()
            );
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "job-1 did not finish:\n{status}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn logs(&self) -> String {
        let mut text = format!("--- coordinator\n{}", self.coordinator.log());
        for (i, node) in self.nodes.iter().enumerate() {
            text.push_str(&format!("--- node{}\n{}", i + 1, node.log()));
        }
        text
    }
}

fn restarts(status: &str) -> u32 {
    status
        .split("restarts: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn killed_node_loses_no_row_and_duplicates_none() {
    let mut cluster = Cluster::start();
    cluster.submit();
    cluster.wait_for_checkpoint();
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    assert_exactly_once(cluster.dir.path(), EVENTS);
}

#[test]
fn restarted_coordinator_resumes_the_job_exactly_once() {
    let mut cluster = Cluster::start();
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
    assert_exactly_once(cluster.dir.path(), EVENTS);
}

#[test]
fn frozen_node_is_fenced_and_its_stale_writes_never_published() {
    let mut cluster = Cluster::start();
    cluster.submit();
    cluster.wait_for_checkpoint();
    cluster.nodes[2].signal("STOP");
    // Past the 2 s heartbeat timeout: the coordinator declares it dead and recovers.
    std::thread::sleep(Duration::from_secs(5));
    cluster.nodes[2].signal("CONT");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    assert_exactly_once(cluster.dir.path(), EVENTS);
}

//! A coordinator and nodes as real processes running the recovery workload: the job of
//! [`write_job`] with a rate-limited file source and checkpoints every 500 ms, so a failure
//! injected after its first checkpoint lands mid-run, and its output is checked against the
//! naive reference.

use super::{assert_exactly_once, quiver, write_job, QUIVER};
use quiver_chaos_tests::{
    certs_init, start_coordinator_on, start_node, wait_for_alive_nodes, Process,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events in the job's input.
const EVENTS: usize = 6000;
/// 6000 events at 1500/s: about 4 s of input, so failures land mid-run.
const SOURCE: &str = "rate = 1500";
const JOB: &str = "checkpoint_interval = \"500ms\"";
/// Slots of each node: three nodes host the job's 4 partitions with room to spare.
pub(crate) const SLOTS: u32 = 2;

/// The processes of one test and the folder with their certificates, data and logs.
pub(crate) struct Cluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) certs: PathBuf,
    pub(crate) addr: SocketAddr,
    pub(crate) coordinator: Process,
    pub(crate) nodes: Vec<Process>,
}

impl Cluster {
    /// A coordinator and `nodes` nodes with [`SLOTS`] slots each, all on 127.0.0.1.
    pub(crate) fn on_loopback(nodes: usize) -> Cluster {
        Cluster::with_slots(nodes, SLOTS)
    }

    /// A coordinator and `nodes` nodes with `slots` slots each, all on 127.0.0.1.
    pub(crate) fn with_slots(nodes: usize, slots: u32) -> Cluster {
        Cluster::start(
            Ipv4Addr::LOCALHOST.into(),
            nodes,
            |_, name, certs, addr, dir| {
                start_node(Path::new(QUIVER), certs, addr, dir, name, slots)
            },
        )
    }

    /// A coordinator listening on `ip` and `nodes` nodes, returning once every node joined.
    /// Node `i` (named `node{i+1}`) is `start_node(i, name, certs, coordinator, dir)`: the
    /// certificates folder, the coordinator's address and the folder for its data and log.
    pub(crate) fn start(
        ip: IpAddr,
        nodes: usize,
        start_node: impl Fn(usize, &str, &Path, SocketAddr, &Path) -> Process,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().join("certs");
        let quiver = Path::new(QUIVER);
        certs_init(quiver, &certs);
        let (coordinator, addr) = start_coordinator_on(ip, quiver, &certs, dir.path());
        let nodes = (0..nodes)
            .map(|i| start_node(i, &format!("node{}", i + 1), &certs, addr, dir.path()))
            .collect();
        let cluster = Cluster {
            dir,
            certs,
            addr,
            coordinator,
            nodes,
        };
        wait_for_alive_nodes(
            quiver,
            &cluster.certs,
            addr,
            cluster.nodes.len(),
            Duration::from_secs(20),
        );
        cluster
    }

    /// Runs a CLI command against the coordinator.
    pub(crate) fn cli(&self, args: &[&str]) -> std::process::Output {
        let certs = self.certs.to_string_lossy().to_string();
        let addr = self.addr.to_string();
        let mut all = vec!["--certs", &certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        quiver(&all)
    }

    /// Runs a CLI command that must succeed (else the test fails with every process's log);
    /// returns its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "quiver {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ids of the model versions `quiver model list JOB --json` shows, oldest first.
    pub(crate) fn model_versions(&self, job: &str) -> Vec<u64> {
        let text = self.ok(&["model", "list", job, "--json"]);
        let list: serde_json::Value = serde_json::from_str(&text).unwrap();
        list.as_array()
            .map(|a| a.iter().filter_map(|v| v["version"].as_u64()).collect())
            .unwrap_or_default()
    }

    /// The parameter vector `quiver model export JOB STAGE VERSION --json` prints.
    pub(crate) fn export_parameters(&self, job: &str, stage: &str, version: u64) -> Vec<f64> {
        let text = self.ok(&[
            "model",
            "export",
            job,
            stage,
            &version.to_string(),
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["parameters"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    }

    /// Waits until `quiver model status JOB --json` satisfies `done`; returns it.
    pub(crate) fn wait_for_model_status(
        &self,
        job: &str,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let text = self.ok(&["model", "status", job, "--json"]);
            let status: serde_json::Value = serde_json::from_str(&text).unwrap();
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what} never showed in the model status: {status:#}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `job` has at least `n` model versions; returns them, oldest first.
    pub(crate) fn wait_for_versions(&self, job: &str, n: usize) -> Vec<u64> {
        let start = Instant::now();
        loop {
            let versions = self.model_versions(job);
            if versions.len() >= n {
                return versions;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{job} has {} model versions, not {n}\n{}",
                versions.len(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Submits the recovery workload (it becomes job-1).
    pub(crate) fn submit(&self) {
        self.submit_spec(&write_job(self.dir.path(), EVENTS, JOB, SOURCE));
    }

    /// Submits the job of the spec at `spec` (the first one submitted becomes job-1).
    pub(crate) fn submit_spec(&self, spec: &Path) {
        let out = self.cli(&["job", "submit", spec.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until job-1 has a completed checkpoint, so the failure hits a job with state.
    pub(crate) fn wait_for_checkpoint(&self) {
        self.wait_for_checkpoints(1);
    }

    /// Waits for two more checkpoints of `job` than it has now: a record read twice would
    /// have published a second row by then.
    pub(crate) fn wait_for_two_more_checkpoints(&self, job: &str) {
        let newest = || {
            self.ok(&["checkpoint", "list", job])
                .split(&format!("{job}/chk-"))
                .skip(1)
                .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .max()
                .unwrap_or(0)
        };
        let (before, start) = (newest(), Instant::now());
        while newest() < before + 2 {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no new checkpoint\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until job-1 has completed `n` checkpoints; returns `quiver checkpoint list`.
    pub(crate) fn wait_for_checkpoints(&self, n: usize) -> String {
        let start = Instant::now();
        loop {
            let out = self.cli(&["checkpoint", "list", "job-1"]);
            let listing = String::from_utf8_lossy(&out.stdout).to_string();
            if listing.matches("job-1/chk-").count() >= n {
                return listing;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{n} checkpoints did not complete:\n{listing}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until job-1 is Finished; returns its final status text.
    pub(crate) fn wait_for_finish(&mut self) -> String {
        self.wait_for_job("job-1", |_| ())
    }

    /// Waits until `job` is Finished, showing `watch` each status text on the way; returns
    /// the final one.
    pub(crate) fn wait_for_job(&mut self, job: &str, mut watch: impl FnMut(&str)) -> String {
        let start = Instant::now();
        loop {
            let out = self.cli(&["job", "status", job]);
            let status = String::from_utf8_lossy(&out.stdout).to_string();
            watch(&status);
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
                "{job} did not finish:\n{status}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Asserts that the job's published output equals the naive reference exactly.
    pub(crate) fn assert_exactly_once(&self) {
        assert_exactly_once(self.dir.path(), EVENTS);
    }

    /// What every process logged, one section each.
    pub(crate) fn logs(&self) -> String {
        let mut text = format!("--- coordinator\n{}", self.coordinator.log());
        for (i, node) in self.nodes.iter().enumerate() {
            text.push_str(&format!("--- node{}\n{}", i + 1, node.log()));
        }
        text
    }
}

/// The total restart count in `quiver job status` output (`restarts: N (…)`).
pub(crate) fn restarts(status: &str) -> u32 {
    status
        .split("restarts: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

//! The cluster a chaos run attacks: a coordinator and N nodes as real `quiver` processes on
//! this machine, each node behind a UDP fault proxy that its peers reach it through
//! (`quiver node --advertise`), and — when this process may build network namespaces (root)
//! — each node on its own network host, so that links can be cut.
//!
//! Processes are started from a `quiver` link to this very executable (which runs the
//! `quiver` command line when called by that name), so they carry the `chaos` feature's
//! fault hooks; `QUIVER_CHAOS=1` in their environment arms them.

use super::disk::Tmpfs;
use super::faults::FaultKind;
use super::proxy::Proxy;
use crate::{node_args, Network, Process};
use quiver_protocol::messages::{ClusterReport, JobReport};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Slots of each node: any two nodes hold both jobs (three and two partitions per operator).
const SLOTS: u32 = 3;
/// The limit of the job folder's `tmpfs` (input, output and model files), as a share of the
/// machine's memory: taken only as the job writes (a disk fault shrinks the limit and writes
/// little), and wide enough for a long run at a high `--rate` (a 2-minute run at 20,000
/// events/s writes ~0.6 GB).
const JOB_DISK: &str = "40%";
/// The limit of the coordinator data's `tmpfs` (sled: checkpoints and the model registry).
const COORDINATOR_DISK: &str = "20%";
/// How long a CLI command may take before it counts as failed.
const CLI_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a status query may take: it answers in tens of milliseconds, and one issued
/// while the coordinator is down would otherwise wait out the CLI's connect timeout and
/// hide the coordinator's return from the monitor for up to 10 s.
const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);

/// Why the cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A file or process could not be made.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A process did not come up.
    #[error("{0}")]
    Start(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::Io { what, source }
}

/// One node: its process (none while it is down), where it listens and its proxy.
pub struct ChaosNode {
    /// `node1`, `node2`, ….
    pub name: String,
    /// The running process; `None` after a kill until it is restarted.
    pub process: Option<Process>,
    listen: SocketAddr,
    /// The fault proxy its peers reach it through.
    pub proxy: Proxy,
    /// Its network host, when the run has namespaces.
    pub host: Option<usize>,
    starts: u32,
}

/// The `quiver` command line pointed at the run's coordinator; cheap to clone into a
/// monitoring thread.
#[derive(Clone, Debug)]
pub struct Cli {
    quiver: PathBuf,
    certs: PathBuf,
    addr: SocketAddr,
}

impl Cli {
    /// Runs `quiver ARGS` against the coordinator; `None` if it could not run in time.
    pub fn run(&self, args: &[&str]) -> Option<Output> {
        self.run_within(args, CLI_TIMEOUT)
    }

    fn run_within(&self, args: &[&str], timeout: Duration) -> Option<Output> {
        let certs = self.certs.to_string_lossy();
        let addr = self.addr.to_string();
        let mut all = vec!["--certs", &certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        crate::run_within(&self.quiver, &all, timeout).ok()
    }

    /// `quiver job status JOB --json`, parsed; `None` while the coordinator does not answer.
    pub fn status(&self, job: &str) -> Option<JobReport> {
        self.json(&["job", "status", job, "--json"])
    }

    /// `quiver cluster status --json`, parsed; `None` while the coordinator does not answer.
    pub fn cluster(&self) -> Option<ClusterReport> {
        self.json(&["cluster", "status", "--json"])
    }

    /// The JSON a status command prints, parsed.
    fn json<T: DeserializeOwned>(&self, args: &[&str]) -> Option<T> {
        let out = self.run_within(args, STATUS_TIMEOUT)?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }
}

/// The processes of a run, their folders and the fault machinery around them.
pub struct ChaosCluster {
    quiver: PathBuf,
    /// The run's folder (logs, certificates, data, the job's output).
    pub dir: PathBuf,
    certs: PathBuf,
    /// The command line against its coordinator.
    pub cli: Cli,
    /// The coordinator; `None` while it is down.
    pub coordinator: Option<Process>,
    coordinator_starts: u32,
    /// Where the coordinator listens.
    pub addr: SocketAddr,
    /// The nodes.
    pub nodes: Vec<ChaosNode>,
    /// The namespaces the nodes run in, if any.
    pub network: Option<Network>,
    /// The coordinator's data folder on its own small file system (root only).
    pub coordinator_disk: Option<Tmpfs>,
    /// The job's folder (its output) on its own small file system (root only).
    pub job_disk: Option<Tmpfs>,
}

impl ChaosCluster {
    /// Starts a coordinator and `nodes` nodes in `dir`; with `isolated`, on network hosts and
    /// with the data folders on their own file systems where this machine allows (root).
    pub fn start(
        dir: &Path,
        nodes: usize,
        isolated: bool,
        seed: u64,
    ) -> Result<ChaosCluster, ClusterError> {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).map_err(io("create the run folder"))?;
        let quiver = bin.join("quiver");
        let exe = std::env::current_exe().map_err(io("find this executable"))?;
        let _ = std::fs::remove_file(&quiver);
        std::os::unix::fs::symlink(&exe, &quiver)
            .map_err(io("link bin/quiver to this executable"))?;
        let certs = dir.join("certs");
        let out = crate::run_within(
            &quiver,
            &["certs", "init", "--dir", &certs.to_string_lossy()],
            CLI_TIMEOUT,
        )
        .ok()
        .ok_or_else(|| ClusterError::Start("quiver certs init did not run".into()))?;
        if !out.status.success() {
            return Err(ClusterError::Start(format!(
                "quiver certs init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        // Each part of the isolation that cannot be had here is left out, with the reason:
        // the faults that need it are then not drawn.
        let (mut network, mut coordinator_disk, mut job_disk) = (None, None, None);
        if isolated {
            match Network::new(nodes) {
                Ok(n) => network = Some(n),
                Err(e) => eprintln!("chaos: no network partitions in this run: {e}"),
            }
            match (
                Tmpfs::mount(&dir.join("coordinator-data"), COORDINATOR_DISK),
                Tmpfs::mount(&dir.join("job"), JOB_DISK),
            ) {
                (Ok(c), Ok(j)) => (coordinator_disk, job_disk) = (Some(c), Some(j)),
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("chaos: no disk faults in this run: cannot mount a tmpfs: {e}")
                }
            }
        }
        std::fs::create_dir_all(dir.join("job")).map_err(io("create the job folder"))?;
        let ip: IpAddr = network
            .as_ref()
            .map_or(Ipv4Addr::LOCALHOST, |n| n.bridge_addr())
            .into();
        let addr = SocketAddr::new(ip, crate::free_udp_port_on(ip));
        let mut cluster = ChaosCluster {
            cli: Cli {
                quiver: quiver.clone(),
                certs: certs.clone(),
                addr,
            },
            quiver,
            dir: dir.to_path_buf(),
            certs,
            coordinator: None,
            coordinator_starts: 0,
            addr,
            nodes: Vec::new(),
            network,
            coordinator_disk,
            job_disk,
        };
        cluster.start_coordinator()?;
        for i in 0..nodes {
            let (host, listen) = match &cluster.network {
                Some(n) => (Some(i), SocketAddr::new(n.hosts()[i].addr().into(), 7700)),
                None => (None, SocketAddr::new(ip, crate::free_udp_port_on(ip))),
            };
            let proxy = Proxy::start(SocketAddr::new(ip, 0), listen, seed ^ i as u64)
                .map_err(io("start a fault proxy"))?;
            cluster.nodes.push(ChaosNode {
                name: format!("node{}", i + 1),
                process: None,
                listen,
                proxy,
                host,
                starts: 0,
            });
            cluster.start_node(i);
        }
        cluster.wait_for_nodes(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Starts (or restarts) the coordinator on its address and data folder, waiting until it
    /// listens.
    pub fn start_coordinator(&mut self) -> Result<(), ClusterError> {
        self.coordinator_starts += 1;
        let name = format!("coordinator-{}", self.coordinator_starts);
        let data = self.dir.join("coordinator-data");
        let args = [
            "coordinator".to_string(),
            "--certs".into(),
            self.certs.to_string_lossy().into_owned(),
            "--data-dir".into(),
            data.to_string_lossy().into_owned(),
            "--listen".into(),
            self.addr.to_string(),
        ];
        let process = Process::start(&name, &self.quiver, &args, &self.dir);
        let needle = format!("coordinator listening on {}", self.addr);
        let start = Instant::now();
        while !process.log().contains(&needle) {
            if start.elapsed() > Duration::from_secs(20) {
                return Err(ClusterError::Start(format!(
                    "the coordinator did not listen within 20 s:\n{}",
                    process.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.coordinator = Some(process);
        Ok(())
    }

    /// Starts (or restarts) node `i` on its address, on its host if it has one.
    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.starts += 1;
        let name = format!("{}-{}", node.name, node.starts);
        let mut args = node_args(&self.certs, self.addr, &self.dir, &node.name, SLOTS);
        args.extend([
            "--listen".into(),
            node.listen.to_string(),
            "--advertise".into(),
            node.proxy.addr().to_string(),
        ]);
        let process = match (&self.network, node.host) {
            (Some(network), Some(h)) => {
                network.hosts()[h].start(&name, &self.quiver, &args, &self.dir)
            }
            _ => Process::start(&name, &self.quiver, &args, &self.dir),
        };
        node.process = Some(process);
    }

    /// The nodes (indexes into [`ChaosCluster::nodes`]) the coordinator reports alive and
    /// running at least one task; `None` while it does not answer.
    pub fn nodes_with_tasks(&self) -> Option<Vec<usize>> {
        let report = self.cli.cluster()?;
        let busy = |node: &ChaosNode| {
            report
                .nodes
                .iter()
                .any(|n| n.alive && n.tasks > 0 && n.listen == node.proxy.addr())
        };
        Some(
            (0..self.nodes.len())
                .filter(|&i| busy(&self.nodes[i]))
                .collect(),
        )
    }

    /// Restarts processes that exited on their own, as a supervisor (systemd, Kubernetes)
    /// would: a coordinator exits when its store fails. Returns the names restarted.
    pub fn supervise(&mut self) -> Vec<String> {
        let mut restarted = Vec::new();
        if self.coordinator.as_mut().is_some_and(|p| !p.is_running()) {
            self.coordinator = None;
            match self.start_coordinator() {
                Ok(()) => restarted.push("coordinator".to_string()),
                Err(e) => eprintln!("chaos: supervisor: the coordinator did not restart: {e}"),
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i]
                .process
                .as_mut()
                .is_some_and(|p| !p.is_running())
            {
                self.start_node(i);
                restarted.push(self.nodes[i].name.clone());
            }
        }
        restarted
    }

    /// Whether faults of `kind` can be injected into this cluster.
    pub fn supports(&self, kind: FaultKind) -> bool {
        match kind {
            FaultKind::PartitionBoth | FaultKind::PartitionOneWay => self.network.is_some(),
            FaultKind::DiskFull => self.coordinator_disk.is_some() && self.job_disk.is_some(),
            _ => true,
        }
    }

    /// Waits until as many nodes as run are alive in `quiver cluster status`.
    pub fn wait_for_nodes(&self, timeout: Duration) -> Result<(), ClusterError> {
        let want = self.nodes.iter().filter(|n| n.process.is_some()).count();
        let start = Instant::now();
        loop {
            let alive = self
                .cli
                .run(&["cluster", "status"])
                .filter(|o| o.status.success())
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| l.starts_with("node-") && l.contains(" alive"))
                        .count()
                })
                .unwrap_or(0);
            if alive >= want {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(ClusterError::Start(format!(
                    "{want} nodes were not alive within {timeout:?}\n{}",
                    self.logs_tail(30)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last `lines` lines of every process's log, for a failing run's report.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return text;
        };
        let mut logs: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let body = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(lines).collect();
            text.push_str(&format!("--- {}\n", log.display()));
            for line in tail.into_iter().rev() {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

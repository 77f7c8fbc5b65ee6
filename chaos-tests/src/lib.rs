//! Multi-process harness for Quiver's integration and chaos tests.
//!
//! Tests start real `quiver` processes (coordinator, nodes, CLI commands) on 127.0.0.1 and
//! must stop every one of them, even when an assertion fails: a [`Process`] kills its child
//! by PID when dropped. Output goes to log files in the test's folder so a failing test can
//! print what each process said.
//!
//! Tests that need separate hosts and faults between them (partitions) build them with
//! [`netns`]: a coordinator on the bridge address ([`start_coordinator_on`]) and nodes inside
//! the hosts ([`Host::start`] with [`node_args`] and `--listen` on the host's address).

pub mod chaos;
pub mod netns;

pub use netns::{Cut, Host, NetnsError, Network};

use std::ffi::OsStr;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `program args` with stdout and stderr appended to `log_dir/NAME.log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[impl AsRef<OsStr>],
        log_dir: &Path,
    ) -> Process {
        Process::start_with_env(name, program, args, &[], log_dir)
    }

    /// [`Process::start`] with environment variables `env` set for it.
    pub fn start_with_env(
        name: &str,
        program: &Path,
        args: &[impl AsRef<OsStr>],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Process {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({}): {e}", program.display()));
        Process {
            name: name.to_string(),
            child,
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (e.g. "KILL", "STOP", "CONT", "TERM") to the process by PID.
    pub fn signal(&self, signal: &str) {
        assert!(
            self.try_signal(signal),
            "kill -{signal} {} failed",
            self.pid()
        );
    }

    /// [`Process::signal`] that reports failure (the process already exited) instead of
    /// panicking.
    pub fn try_signal(&self, signal: &str) -> bool {
        send_signal(signal, &self.pid().to_string())
    }

    /// Waits until the log contains `needle`, panicking with the log after `timeout`.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return;
            }
            if !self.is_running() {
                panic!(
                    "{} exited before logging {needle:?}:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not log {needle:?} within {timeout:?}:\n{}",
            self.name,
            self.log()
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Sends `signal` (e.g. "KILL") to process `pid` with `kill`; whether it was delivered (false
/// when the process is gone).
pub(crate) fn send_signal(signal: &str, pid: &str) -> bool {
    Command::new("kill")
        .args([&format!("-{signal}"), pid])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a command to completion with a deadline; kills it and panics if it takes longer.
pub fn run_with_timeout(program: &Path, args: &[&str], timeout: Duration) -> Output {
    match run_within(program, args, timeout) {
        Ok(out) => out,
        Err(out) => panic!(
            "{} {args:?} did not finish within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs a command to completion with a deadline: `Ok` with its output, or `Err` with what it
/// wrote before it was killed for taking longer (empty if it could not start).
pub fn run_within(
    program: &Path,
    args: &[impl AsRef<OsStr>],
    timeout: Duration,
) -> Result<Output, Output> {
    let failed = || Output {
        status: std::os::unix::process::ExitStatusExt::from_raw(-1),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    let Ok(mut child) = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return Err(failed());
    };
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|_| failed()),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                return Err(child.wait_with_output().unwrap_or_else(|_| failed()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => return Err(failed()),
        }
    }
}

/// A UDP port on 127.0.0.1 that was free a moment ago (QUIC listens on UDP).
pub fn free_udp_port() -> u16 {
    free_udp_port_on(Ipv4Addr::LOCALHOST.into())
}

/// A UDP port on `ip` (an address of this machine) that was free a moment ago.
pub fn free_udp_port_on(ip: IpAddr) -> u16 {
    loop {
        let socket = UdpSocket::bind((ip, 0)).expect("bind a UDP port");
        let port = socket.local_addr().expect("local addr").port();
        // Keep clear of ports also taken on TCP, so one number serves both kinds of test.
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// Reads every committed part file (`*.jsonl` not starting with ".") in a sink folder and
/// returns the parsed JSON rows.
pub fn read_committed_rows(dir: &Path) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return rows;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') || !name.ends_with(".jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read part file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            rows.push(serde_json::from_str(line).expect("part file line is JSON"));
        }
    }
    rows
}

/// Runs `quiver certs init --dir DIR`, panicking with its output if it fails.
pub fn certs_init(quiver: &Path, dir: &Path) {
    let out = run_with_timeout(
        quiver,
        &["certs", "init", "--dir", &dir.to_string_lossy()],
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "quiver certs init --dir {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `quiver certs node --name NAME --ca CA --dir OUT`, which must succeed: a certificate
/// of its own for one node.
pub fn certs_node(quiver: &Path, ca: &Path, name: &str, out: &Path) {
    let ca = ca.to_string_lossy();
    let dir = out.to_string_lossy();
    let args = ["certs", "node", "--name", name, "--ca", &ca, "--dir", &dir];
    let out = run_with_timeout(quiver, &args, Duration::from_secs(30));
    assert!(
        out.status.success(),
        "quiver {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `quiver coordinator` with the certificates in `certs` on a free 127.0.0.1 port, its
/// data and log in `work`, and waits until it listens. Returns the process and its address.
pub fn start_coordinator(quiver: &Path, certs: &Path, work: &Path) -> (Process, SocketAddr) {
    start_coordinator_on(Ipv4Addr::LOCALHOST.into(), quiver, certs, work)
}

/// [`start_coordinator`] with more arguments (`--http ADDR`, `--log-format json`, ...).
pub fn start_coordinator_with(
    quiver: &Path,
    certs: &Path,
    work: &Path,
    extra: &[&str],
) -> (Process, SocketAddr) {
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_udp_port());
    let process = coordinator_process("coordinator", quiver, certs, work, addr, extra);
    (process, addr)
}

/// [`start_coordinator`] on a free port of `ip`, e.g. a [`Network`]'s bridge address.
pub fn start_coordinator_on(
    ip: IpAddr,
    quiver: &Path,
    certs: &Path,
    work: &Path,
) -> (Process, SocketAddr) {
    let addr = SocketAddr::new(ip, free_udp_port_on(ip));
    (
        restart_coordinator("coordinator", quiver, certs, work, addr),
        addr,
    )
}

/// Starts `quiver coordinator` on `addr` with the data directory `work/coordinator-data`
/// (the same one [`start_coordinator`] used, so a killed coordinator comes back with its
/// state) and waits until it listens; `name` names its log file.
pub fn restart_coordinator(
    name: &str,
    quiver: &Path,
    certs: &Path,
    work: &Path,
    addr: SocketAddr,
) -> Process {
    coordinator_process(name, quiver, certs, work, addr, &[])
}

/// `quiver coordinator` on `addr` with `extra` arguments, data in `work/coordinator-data`,
/// once it listens.
fn coordinator_process(
    name: &str,
    quiver: &Path,
    certs: &Path,
    work: &Path,
    addr: SocketAddr,
    extra: &[&str],
) -> Process {
    let data = work.join("coordinator-data");
    let (certs, data, listen) = (
        certs.to_string_lossy(),
        data.to_string_lossy(),
        addr.to_string(),
    );
    let mut args = vec![
        "coordinator",
        "--certs",
        &certs,
        "--data-dir",
        &data,
        "--listen",
        &listen,
    ];
    args.extend_from_slice(extra);
    let mut process = Process::start(name, quiver, &args, work);
    process.wait_for_log(
        &format!("coordinator listening on {addr}"),
        Duration::from_secs(20),
    );
    process
}

/// Starts `quiver node` named `name` (its log `work/NAME.log`, its data `work/NAME-data`)
/// joining the coordinator at `coordinator` with `slots` slots. It has joined once
/// [`wait_for_alive_nodes`] counts it.
pub fn start_node(
    quiver: &Path,
    certs: &Path,
    coordinator: SocketAddr,
    work: &Path,
    name: &str,
    slots: u32,
) -> Process {
    Process::start(
        name,
        quiver,
        &node_args(certs, coordinator, work, name, slots),
        work,
    )
}

/// The arguments of `quiver node` as [`start_node`] passes them; add flags (such as
/// `--listen`) and start it with [`Process::start`] or [`Host::start`].
pub fn node_args(
    certs: &Path,
    coordinator: SocketAddr,
    work: &Path,
    name: &str,
    slots: u32,
) -> Vec<String> {
    let data = work.join(format!("{name}-data"));
    vec![
        "node".into(),
        "--certs".into(),
        certs.to_string_lossy().into_owned(),
        "--coordinator".into(),
        coordinator.to_string(),
        "--data-dir".into(),
        data.to_string_lossy().into_owned(),
        "--slots".into(),
        slots.to_string(),
    ]
}

/// `GET path` over HTTP/1.1 from `addr` (10 s at most): the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connect to http://{addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("read http://{addr}{path}: {e}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response from http://{addr}{path}: {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    (status, body.to_string())
}

/// One row of `quiver cluster status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    /// The node's id as shown (`node-1`).
    pub node: String,
    /// Its exchange address (the EXCHANGE column).
    pub exchange: SocketAddr,
    /// Whether the STATE column says `alive`.
    pub alive: bool,
}

/// Runs `quiver cluster status` and parses its node rows; panics if the command fails.
pub fn cluster_nodes(quiver: &Path, certs: &Path, coordinator: SocketAddr) -> Vec<NodeRow> {
    let out = run_with_timeout(
        quiver,
        &[
            "cluster",
            "status",
            "--certs",
            &certs.to_string_lossy(),
            "--coordinator",
            &coordinator.to_string(),
        ],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "quiver cluster status failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|line| line.starts_with("node-"))
        .map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert!(columns.len() >= 3, "unexpected cluster status row {line:?}");
            NodeRow {
                node: columns[0].to_string(),
                exchange: columns[1]
                    .parse()
                    .unwrap_or_else(|e| panic!("EXCHANGE of {line:?} is no address: {e}")),
                alive: columns[2] == "alive",
            }
        })
        .collect()
}

/// Polls `quiver cluster status` until at least `count` nodes are alive; returns the rows.
pub fn wait_for_alive_nodes(
    quiver: &Path,
    certs: &Path,
    coordinator: SocketAddr,
    count: usize,
    timeout: Duration,
) -> Vec<NodeRow> {
    let start = Instant::now();
    loop {
        let nodes = cluster_nodes(quiver, certs, coordinator);
        if nodes.iter().filter(|n| n.alive).count() >= count {
            return nodes;
        }
        assert!(
            start.elapsed() < timeout,
            "{count} nodes were not alive within {timeout:?}: {nodes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

//! Real services for tests, started by the project's scripts in `scripts/services/` (the same
//! scripts CI and users run) on a port chosen at run time, and stopped by PID when dropped —
//! also when the test fails.
//!
//! ```no_run
//! let redis = quiver_test_services::Service::redis(std::path::Path::new("target/redis-test"));
//! let url = format!("redis://{}", redis.addr());
//! // ... the test; the server is killed when `redis` goes out of scope.
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A service process started by `scripts/services/NAME.sh start DIR PORT`; SIGKILLed by its
/// PID when dropped.
#[derive(Debug)]
pub struct Service {
    name: String,
    pid: Option<u32>,
    port: u16,
}

/// Attempts at a start: another process may take the free port between the pick and the bind.
const ATTEMPTS: usize = 5;
/// The scripts' exit code for "the port was taken": the only failure worth another attempt.
const PORT_TAKEN: i32 = 3;

impl Service {
    /// A `redis-server` on 127.0.0.1 (installed first if missing: `redis.sh ensure`), its
    /// files in `dir`.
    pub fn redis(dir: &Path) -> Service {
        Service::start("redis", dir)
    }

    /// Starts `scripts/services/{name}.sh start DIR PORT` on a free port, which prints the
    /// service's PID once it is ready (and exits with 3 when the port was taken: then another
    /// port is tried). Panics with the script's message if it fails.
    pub fn start(name: &str, dir: &Path) -> Service {
        let mut failures = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_tcp_port();
            let out = Command::new(script(name))
                .arg("start")
                .arg(dir)
                .arg(port.to_string())
                .output()
                .unwrap_or_else(|e| panic!("run {}: {e}", script(name).display()));
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.trim().parse::<u32>() {
                Ok(pid) if out.status.success() => {
                    return Service {
                        name: name.to_string(),
                        pid: Some(pid),
                        port,
                    }
                }
                _ => {
                    failures.push_str(&format!(
                        "port {port}: {}\n{stdout}{}\n",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ));
                    if out.status.code() != Some(PORT_TAKEN) {
                        break;
                    }
                }
            }
        }
        panic!("{name} did not start:\n{failures}");
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the service now (SIGKILL by PID): what a crash of it looks like to clients.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            let killed = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !killed {
                eprintln!("{} (pid {pid}) was gone already", self.name);
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The script that installs and starts service `name`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/services")
        .join(format!("{name}.sh"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a TCP port on 127.0.0.1")
}

//! What a run killed outright (SIGKILL, the OOM killer) leaves behind — its cluster's
//! processes, network namespaces, links, subnet claims and `tmpfs` mounts — found and removed
//! by the next run, or by `quiver-chaos --clean`. Each run registers itself in [`RUNS`] as a
//! file named after its PID holding its folder; a registered PID that is gone is a run that
//! did not clean up.

use crate::netns;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where runs register: one file per running `quiver-chaos`, named after its PID.
const RUNS: &str = "/run/quiver-chaos";

/// This process's registration, removed when dropped (after the run's own guards).
pub(super) struct Registration(PathBuf);

impl Registration {
    /// Registers this process's run in `dir`.
    pub(super) fn new(dir: &Path) -> std::io::Result<Registration> {
        std::fs::create_dir_all(RUNS)?;
        let path = Path::new(RUNS).join(std::process::id().to_string());
        let dir = std::path::absolute(dir)?;
        std::fs::write(&path, dir.to_string_lossy().as_bytes())?;
        Ok(Registration(path))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes what every registered run whose process is gone left behind; returns what it
/// removed, a line each.
pub(super) fn sweep() -> Vec<String> {
    let mut removed = Vec::new();
    for (pid, entry) in by_pid(RUNS) {
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let dir = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let mut left = Vec::new();
        // A folder of its own (never `/`): its processes and mounts are the run's.
        if Path::new(&dir).components().count() > 1 {
            left.extend(kill_processes_of(&dir));
            left.extend(unmount_under(&dir));
        }
        left.extend(netns::remove_left_by(pid));
        let _ = std::fs::remove_file(entry.path());
        removed.extend(
            left.into_iter()
                .map(|what| format!("removed {what}, left by run {pid} ({dir})")),
        );
    }
    removed
}

/// The entries of folder `dir` named by a number (a PID), with it.
fn by_pid(dir: &str) -> impl Iterator<Item = (u32, std::fs::DirEntry)> {
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten();
    entries.filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e)))
}

/// Kills (SIGKILL) every process the run in `dir` started: its cluster, which runs the
/// link `dir/bin/quiver` (`cluster::ChaosCluster`), so that is its first argument.
fn kill_processes_of(dir: &str) -> Vec<String> {
    let program = Path::new(dir).join("bin").join("quiver");
    let mut killed = Vec::new();
    for (pid, process) in by_pid("/proc") {
        let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
        if pid != std::process::id() && Path::new(&*String::from_utf8_lossy(argv0)) == program {
            crate::send_signal("KILL", &pid.to_string());
            let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            killed.push(format!("process {pid} ({})", shown.trim()));
        }
    }
    killed
}

/// Unmounts (lazily) every file system mounted at or below `dir`, deepest first.
fn unmount_under(dir: &str) -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .filter(|point| Path::new(point).starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    points
        .into_iter()
        .filter(|point| {
            Command::new("umount")
                .args(["-l", point])
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|point| format!("mount {point}"))
        .collect()
}

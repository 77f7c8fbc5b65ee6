//! A `quiver` process runs with transparent huge pages off unless `MIMALLOC_ALLOW_THP` is set
//! (`cli/src/huge_pages.rs`), read from the kernel's own view of the process.

mod common;

use common::{KillOnDrop, QUIVER};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The `THP_enabled` line of `/proc/PID/status` (1: huge pages allowed, 0: turned off).
fn thp_enabled(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim().to_string())
}

/// Starts `quiver local` on a slow generator job (it runs for minutes) with `env` set, and
/// returns its `THP_enabled` while it runs.
fn thp_of_a_running_job(dir: &Path, env: &[(&str, &str)]) -> String {
    let spec = dir.join("job.toml");
    std::fs::write(
        &spec,
        r#"
[job]
name = "slow"

[[source]]
name = "events"
kind = "generator"
count = 1_000_000
keys = 10
rate = 1_000

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#,
    )
    .unwrap();
    let mut command = Command::new(QUIVER);
    command
        .arg("local")
        .arg(&spec)
        .env_remove("MIMALLOC_ALLOW_THP")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = KillOnDrop(command.spawn().unwrap());
    // The switch is set before the command line is read; half a second later the job runs.
    std::thread::sleep(Duration::from_millis(500));
    let value = thp_enabled(child.0.id()).expect("the kernel reports THP_enabled");
    assert!(
        matches!(child.0.try_wait(), Ok(None)),
        "quiver local exited early"
    );
    value
}

#[test]
fn huge_pages_are_off_unless_mimalloc_allow_thp_is_set() {
    let ours = thp_enabled(std::process::id()).expect("the kernel reports THP_enabled");
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(thp_of_a_running_job(dir.path(), &[]), "0");
    assert_eq!(
        thp_of_a_running_job(dir.path(), &[("MIMALLOC_ALLOW_THP", "1")]),
        ours,
        "with MIMALLOC_ALLOW_THP=1 the process keeps what it inherited"
    );
}

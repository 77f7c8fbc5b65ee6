//! A slow sink does not make memory grow: with a consumer that reads the job's output slowly,
//! every input channel's queue fills up to the credits it granted and never beyond, and no
//! record is lost.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

const QUIVER: &str = env!("CARGO_BIN_EXE_quiver");
const EVENTS: usize = 120_000;

#[test]
fn slow_sink_fills_queues_only_up_to_the_granted_credits() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "slow-sink"
parallelism = 2

[[source]]
name = "events"
kind = "generator"
count = {EVENTS}
keys = 1000

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "stdout"
input = "running"
"#
        ),
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new(QUIVER)
            .args(["local", spec.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The slow sink: read the output in small sips with pauses, so the pipe stays full and
    // the stdout sink blocks most of the time.
    let mut stdout = child.0.stdout.take().unwrap();
    let mut lines = 0usize;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = stdout.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        lines += buffer[..n].iter().filter(|&&b| b == b'\n').count();
        std::thread::sleep(Duration::from_micros(300));
    }
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "quiver local failed:\n{stderr}");
    assert_eq!(lines, EVENTS, "one running row per event, none lost");

    // "queued ≤ N of C credits" per task, from the runtime's channel gauges.
    let queues: Vec<(u64, u64)> = stderr
        .lines()
        .filter_map(|l| l.split_once("queued ≤ "))
        .map(|(_, rest)| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            (words[0].parse().unwrap(), words[2].parse().unwrap())
        })
        .collect();
    assert!(!queues.is_empty(), "no task report in:\n{stderr}");
    for (queued, credits) in &queues {
        assert!(queued <= credits, "a queue exceeded its credits:\n{stderr}");
    }
    assert!(
        queues.iter().any(|(queued, credits)| queued == credits),
        "backpressure never filled a queue, so the sink was not slow:\n{stderr}"
    );
}

/// Kills the child if the test fails while it still runs.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

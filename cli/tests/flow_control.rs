//! A slow sink does not make memory grow: with a consumer that reads the job's output slowly,
//! every input channel's queue fills up to the credits it granted and never beyond, and no
//! record is lost.

mod common;

use common::{KillOnDrop, QUIVER};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const EVENTS: usize = 120_000;

/// Starts `quiver local` on a generator of `events` events over `keys` users into a running
/// per-user count written to stdout (parallelism 2; `job_extra` goes into `[job]`), with
/// stdout and stderr piped; the guard kills it if the test fails first.
fn start_running_count(dir: &Path, events: usize, keys: u32, job_extra: &str) -> KillOnDrop {
    let spec = dir.join("job.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "slow-sink"
parallelism = 2
{job_extra}

[[source]]
name = "events"
kind = "generator"
count = {events}
keys = {keys}

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
    KillOnDrop(
        Command::new(QUIVER)
            .args(["local", spec.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn slow_sink_fills_queues_only_up_to_the_granted_credits() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_running_count(dir.path(), EVENTS, 1000, "");
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

/// A sink read slowly for longer than the heartbeat timeout (2 s) and the checkpoint timeout
/// (10 s) neither gets its node declared lost nor the job restarted: the node's liveness does
/// not share fate with a stdout write blocked on a full pipe. Memory stays flat meanwhile, and
/// the output is exactly once per event: for each user, the running counts are 1, 2, …, n.
#[test]
fn a_sink_read_slowly_past_every_timeout_keeps_the_job_running_with_exact_output() {
    const EVENTS: usize = 2_000_000;
    const SLOW_FOR: Duration = Duration::from_secs(20);
    let dir = tempfile::tempdir().unwrap();
    let mut child = start_running_count(dir.path(), EVENTS, 500, "checkpoint_interval = \"500ms\"");
    let pid = child.0.id();
    let stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let started = std::time::Instant::now();
        let mut counts: std::collections::HashMap<i64, Vec<i64>> = Default::default();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let row: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let user = row["user"].as_i64().expect("user");
            counts
                .entry(user)
                .or_default()
                .push(row["n"].as_i64().expect("n"));
            if started.elapsed() < SLOW_FOR {
                // About 500 lines a second: the pipe stays full, the sinks block, and a
                // barrier behind the queued batches takes longer than the checkpoint timeout.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        counts
    });
    // Resident memory while the reader is slow: once the queues are full it must stay flat.
    let rss = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    std::thread::sleep(Duration::from_secs(4));
    let early = rss(pid);
    std::thread::sleep(SLOW_FOR - Duration::from_secs(5));
    let late = rss(pid);
    let counts = reader.join().unwrap();
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
    assert!(
        !stderr.contains("lost") && !stderr.contains("recovering"),
        "the slow reader made the coordinator declare a node lost or recover:\n{stderr}"
    );
    assert!(
        stderr.contains("dropped chk-"),
        "no checkpoint expired, so the reader was not slow enough to test that:\n{stderr}"
    );
    assert!(
        late < early + 64 * 1024,
        "memory grew from {early} kB to {late} kB while the sink was blocked"
    );
    let mut total = 0;
    for (user, mut ns) in counts {
        ns.sort_unstable();
        let expected: Vec<i64> = (1..=ns.len() as i64).collect();
        assert_eq!(ns, expected, "user {user}: running counts are not 1..=n");
        total += ns.len();
    }
    assert_eq!(total, EVENTS, "one running row per event");
}

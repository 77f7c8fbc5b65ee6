//! The design's spend-per-user job gives exactly the rows a naive reference computes, both in
//! `quiver local` and on a real cluster (a coordinator and two `quiver node` processes, four
//! partitions spread over them, so records cross QUIC between the nodes).

use quiver_chaos_tests::{free_udp_port, read_committed_rows, run_with_timeout, Process};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const QUIVER: &str = env!("CARGO_BIN_EXE_quiver");
const USERS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
const START: i64 = 1_735_689_600_000;

/// A deterministic event stream: (user, amount, ts), slightly out of order (≤ 1.5 s, within
/// the spec's 2 s lag) so watermarks matter but nothing is late.
fn events() -> Vec<(String, f64, i64)> {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..3000)
        .map(|i| {
            let user = USERS[(next() % USERS.len() as u64) as usize].to_string();
            let amount = (next() % 10_000) as f64 / 100.0;
            let jitter = (next() % 1500) as i64;
            (user, amount, START + i * 7 + 1500 - jitter)
        })
        .collect()
}

fn write_job(dir: &Path) -> PathBuf {
    let mut csv = String::from("user,amount,ts\n");
    for (user, amount, ts) in events() {
        csv.push_str(&format!("{user},{amount},{ts}\n"));
    }
    std::fs::write(dir.join("events.csv"), csv).unwrap();
    let spec = r#"
[job]
name = "spend-per-user"
parallelism = 4
max_parallelism = 128

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64" }
event_time = "ts"
max_out_of_orderness = "2s"

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()", spend = "sum(amount)", top = "max(amount)" }

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", spend = "sum(amount)" }

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"

[[sink]]
name = "running_out"
kind = "file"
input = "running"
path = "running_out/"
"#;
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// The windowed rows, computed naively: group by (user, second), fold in file order.
fn expected_windows() -> Vec<Value> {
    let mut groups: BTreeMap<(String, i64), (i64, f64, f64)> = BTreeMap::new();
    for (user, amount, ts) in events() {
        let start = ts - ts.rem_euclid(1000);
        let g = groups.entry((user, start)).or_insert((0, 0.0, f64::MIN));
        g.0 += 1;
        g.1 += amount;
        g.2 = g.2.max(amount);
    }
    let rows = groups.into_iter().map(|((user, start), (n, spend, top))| {
        json!({"user": user, "window_start": start, "window_end": start + 1000,
               "n": n, "spend": spend, "top": top})
    });
    sorted(rows.collect())
}

/// The running rows: one per event, the user's count and sum so far in file order.
fn expected_running() -> Vec<Value> {
    let mut so_far: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    let rows = events().into_iter().map(|(user, amount, _)| {
        let s = so_far.entry(user.clone()).or_insert((0, 0.0));
        s.0 += 1;
        s.1 += amount;
        json!({"user": user, "n": s.0, "spend": s.1})
    });
    sorted(rows.collect())
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

fn assert_outputs(dir: &Path) {
    let windows = sorted(read_committed_rows(&dir.join("out")));
    assert_eq!(windows.len(), expected_windows().len(), "window row count");
    assert_eq!(windows, expected_windows());
    let running = sorted(read_committed_rows(&dir.join("running_out")));
    assert_eq!(running.len(), events().len(), "one running row per event");
    assert_eq!(running, expected_running());
}

fn quiver(args: &[&str]) -> std::process::Output {
    run_with_timeout(Path::new(QUIVER), args, Duration::from_secs(60))
}

#[test]
fn local_mode_output_equals_the_naive_reference() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_job(dir.path());
    let out = quiver(&["local", spec.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "quiver local failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_outputs(dir.path());
}

#[test]
fn two_node_cluster_output_equals_the_naive_reference_and_crosses_quic() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spec = write_job(root);
    let certs = root.join("certs");
    let certs = certs.to_str().unwrap();
    assert!(quiver(&["certs", "init", "--dir", certs]).status.success());
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let data = |name: &str| root.join(name).to_string_lossy().to_string();
    let mut coordinator = Process::start(
        "coordinator",
        Path::new(QUIVER),
        &[
            "coordinator", "--certs", certs, "--data-dir", &data("coord"), "--listen", &addr,
        ],
        root,
    );
    coordinator.wait_for_log("coordinator listening", Duration::from_secs(10));
    let mut nodes: Vec<Process> = ["node1", "node2"]
        .iter()
        .map(|name| {
            Process::start(
                name,
                Path::new(QUIVER),
                &[
                    "node", "--certs", certs, "--coordinator", &addr, "--data-dir", &data(name),
                    "--slots", "2",
                ],
                root,
            )
        })
        .collect();
    for node in &mut nodes {
        node.wait_for_log("joined the coordinator", Duration::from_secs(10));
    }
    let cli = |args: &[&str]| {
        let mut all = vec!["--certs", certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        quiver(&all)
    };
    let submit = cli(&["job", "submit", "--wait", spec.to_str().unwrap()]);
    assert!(
        submit.status.success(),
        "job failed:\n{}\n{}",
        String::from_utf8_lossy(&submit.stderr),
        coordinator.log()
    );
    assert_eq!(String::from_utf8_lossy(&submit.stdout).trim(), "job-1");
    assert_outputs(root);

    // Both nodes ran partitions and bytes crossed QUIC between them.
    let status = String::from_utf8_lossy(&cli(&["cluster", "status"]).stdout).to_string();
    let traffic: Vec<(u64, u64)> = status
        .lines()
        .filter(|l| l.starts_with("node-"))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let n = |s: &str| s.replace(',', "").parse::<u64>().unwrap();
            (n(cols[5]), n(cols[6]))
        })
        .collect();
    assert_eq!(traffic.len(), 2, "two nodes in:\n{status}");
    let sent: u64 = traffic.iter().map(|t| t.0).sum();
    let received: u64 = traffic.iter().map(|t| t.1).sum();
    assert!(sent > 10_000, "bytes sent between nodes: {sent}\n{status}");
    assert_eq!(sent, received, "every byte sent was received:\n{status}");
}

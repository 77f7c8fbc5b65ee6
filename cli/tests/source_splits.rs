//! Partitioned sources and their event time (issue 14, parts 4 and 5): a folder of CSV files
//! read by several source partitions, with per-split positions in checkpoints, survives a
//! killed node and a savepoint resumed at another source parallelism exactly once; a split
//! with no records does not stall the windows of the others once it is idle (`idle_timeout`);
//! a split far ahead in event time waits for the slow one (`max_drift`), which keeps window
//! state bounded. Outputs are checked against a naive reference.

mod common;

use common::cluster::{restarts, Cluster};
use common::{events, sorted, QUIVER};
use quiver_chaos_tests::{read_committed_rows, Process};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Events of the recovery tests, dealt into [`FILES`] files.
const EVENTS: usize = 6000;
const FILES: usize = 3;

/// The events of [`common::events`] with amounts in whole cents, so sums are exact in any
/// order (two source partitions interleave a user's records nondeterministically).
fn cents(n: usize) -> Vec<(String, i64, i64)> {
    events(n)
        .into_iter()
        .map(|(user, amount, ts)| (user, (amount * 100.0).round() as i64, ts))
        .collect()
}

/// The CSV text of cents events, with its header.
fn csv<'a>(events: impl IntoIterator<Item = &'a (String, i64, i64)>) -> String {
    let mut text = String::from("user,cents,ts\n");
    for (user, cents, ts) in events {
        text.push_str(&format!("{user},{cents},{ts}\n"));
    }
    text
}

/// Writes `dir/events/part-{i}.csv`, event `k` in file `k mod FILES`: every file spans the
/// whole time range, in order within the events' 1.5 s jitter.
fn write_events(dir: &Path, n: usize) {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    let events = cents(n);
    for i in 0..FILES {
        let text = csv(events.iter().skip(i).step_by(FILES));
        std::fs::write(folder.join(format!("part-{i}.csv")), text).unwrap();
    }
}

/// A job reading the CSV files of the folder `events/` into one-second windows per user
/// published into `out/`.
struct FolderJob<'a> {
    /// The `[job]` table's lines.
    job: &'a str,
    /// The source's schema.
    schema: &'a str,
    /// More lines of the source.
    source: &'a str,
    /// The windows' aggregates.
    aggregates: &'a str,
    /// More stages and sinks.
    more: &'a str,
}

impl FolderJob<'_> {
    /// Writes the spec as `dir/job.toml`.
    fn write(&self, dir: &Path) -> PathBuf {
        let FolderJob {
            job,
            schema,
            source,
            aggregates,
            more,
        } = self;
        let spec = format!(
            r#"
[job]
{job}

[[source]]
name = "events"
kind = "file"
path = "events/"
format = "csv"
schema = {{ {schema} }}
event_time = "ts"
{source}

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "tumbling", size = "1s" }}
aggregates = {{ {aggregates} }}

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"
{more}"#
        );
        let path = dir.join("job.toml");
        std::fs::write(&path, spec).unwrap();
        path
    }
}

/// The schema of the cents events.
const CENTS: &str = r#"user = "string", cents = "i64", ts = "i64""#;
/// The aggregates of every window of the cents events.
const SPEND: &str = r#"n = "count()", spend = "sum(cents)", top = "max(cents)""#;

/// Writes the job reading `events/` at `sources` source partitions into the windows and a
/// running count per user at parallelism 4, with checkpoints every 500 ms.
fn write_spec(dir: &Path, sources: u32) -> PathBuf {
    FolderJob {
        job: "name = \"folder-of-csv\"\nparallelism = 4\ncheckpoint_interval = \"500ms\"",
        schema: CENTS,
        source: &format!("max_out_of_orderness = \"2s\"\nparallelism = {sources}\nrate = 1500"),
        aggregates: SPEND,
        more: r#"
[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()" }

[[sink]]
name = "running_out"
kind = "file"
input = "running"
path = "running_out/"
"#,
    }
    .write(dir)
}

/// The windows of the first `n` cents events, as a naive reference computes them.
fn expected_windows(n: usize) -> Vec<Value> {
    let mut windows: BTreeMap<(String, i64), (i64, i64, i64)> = BTreeMap::new();
    for (user, cents, ts) in cents(n) {
        let start = ts - ts.rem_euclid(1000);
        let w = windows.entry((user, start)).or_insert((0, 0, i64::MIN));
        *w = (w.0 + 1, w.1 + cents, w.2.max(cents));
    }
    let rows = windows.into_iter().map(|((user, start), (n, spend, top))| {
        json!({"user": user, "window_start": start, "window_end": start + 1000,
               "n": n, "spend": spend, "top": top})
    });
    sorted(rows.collect())
}

/// Asserts that the published output is exactly the naive reference: each (user, second)
/// window once with its count, sum and maximum; each user's running count 1, 2, …, k once.
fn assert_exactly_once(dir: &Path, n: usize) {
    let mut per_user: BTreeMap<String, i64> = BTreeMap::new();
    for (user, _, _) in cents(n) {
        *per_user.entry(user).or_default() += 1;
    }
    let expected = expected_windows(n);
    let published = sorted(read_committed_rows(&dir.join("out")));
    assert_eq!(published.len(), expected.len(), "window row count");
    assert_eq!(published, expected, "window rows");
    let running: Vec<Value> = per_user
        .into_iter()
        .flat_map(|(user, k)| (1..=k).map(move |n| json!({"user": user, "n": n})))
        .collect();
    let published = sorted(read_committed_rows(&dir.join("running_out")));
    assert_eq!(published.len(), n, "one running row per event");
    assert_eq!(published, sorted(running), "running counts");
}

/// `nodes` nodes running job-1 over [`EVENTS`] events in [`FILES`] files at two source
/// partitions, once it has a checkpoint; and the cluster's folder.
fn checkpointed_at_two_source_partitions(nodes: usize) -> (Cluster, PathBuf) {
    let cluster = Cluster::on_loopback(nodes);
    let root = cluster.dir.path().to_path_buf();
    write_events(&root, EVENTS);
    cluster.submit_spec(&write_spec(&root, 2));
    cluster.wait_for_checkpoint();
    (cluster, root)
}

#[test]
fn a_folder_read_by_two_partitions_loses_no_row_and_duplicates_none_when_a_node_is_killed() {
    let (mut cluster, root) = checkpointed_at_two_source_partitions(3);
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    assert_exactly_once(&root, EVENTS);
}

#[test]
fn a_savepoint_of_two_source_partitions_resumes_exactly_once_at_three() {
    let (mut cluster, root) = checkpointed_at_two_source_partitions(2);
    let out = cluster.cli(&["job", "stop", "job-1"]);
    let savepoint = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(savepoint.starts_with("job-1/chk-"), "{out:?}");
    let published = read_committed_rows(&root.join("running_out")).len();
    assert!(
        published > 0 && published < EVENTS,
        "stopped mid-run: {published} events"
    );
    // The three new partitions read the three files: each file's position moves from the
    // partition that saved it to the one that reads it now.
    let spec = write_spec(&root, 3);
    let spec = spec.to_str().unwrap();
    let out = cluster.cli(&[
        "job",
        "submit",
        "--from-savepoint",
        &savepoint,
        "--wait",
        spec,
    ]);
    assert!(out.status.success(), "{out:?}\n{}", cluster.logs());
    assert_exactly_once(&root, EVENTS);
    let _ = cluster.wait_for_job("job-2", |_| ());
}

/// Starts `quiver local` on a job reading `events/` at two source partitions — `a.csv`, and
/// `b.csv`, a named pipe holding only its header — into one-second windows, with
/// `source_extra` in the source. Returns the process and the pipe's write end: the split of
/// `b.csv` has no record until the pipe is closed.
fn start_with_an_empty_pipe(dir: &Path, source_extra: &str) -> (Process, std::fs::File) {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.csv"), csv(&cents(2000))).unwrap();
    let pipe = folder.join("b.csv");
    let made = std::process::Command::new("mkfifo").arg(&pipe).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo {}", pipe.display());
    // Opened for reading too, so neither end waits for the other.
    let mut writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&pipe)
        .unwrap();
    std::io::Write::write_all(&mut writer, b"user,cents,ts\n").unwrap();
    let spec_path = FolderJob {
        job: "name = \"idle-split\"\nparallelism = 2\ncheckpoint_interval = \"200ms\"",
        schema: CENTS,
        source: &format!("max_out_of_orderness = \"2s\"\nparallelism = 2\n{source_extra}"),
        aggregates: SPEND,
        more: "",
    }
    .write(dir);
    let local = Process::start(
        "local",
        Path::new(QUIVER),
        &["local", spec_path.to_str().unwrap()],
        dir,
    );
    (local, writer)
}

#[test]
fn an_idle_split_lets_the_windows_of_the_others_fire_while_it_stays_open() {
    let idle = tempfile::tempdir().unwrap();
    let stalled = tempfile::tempdir().unwrap();
    let (mut with_idleness, idle_pipe) =
        start_with_an_empty_pipe(idle.path(), "idle_timeout = \"300ms\"");
    let (mut without, stalled_pipe) = start_with_an_empty_pipe(stalled.path(), "");
    let expected = expected_windows(2000);
    let start = Instant::now();
    while sorted(read_committed_rows(&idle.path().join("out"))) != expected {
        assert!(
            with_idleness.is_running() && start.elapsed() < Duration::from_secs(30),
            "the windows of a.csv were not published while b.csv was idle:\n{}",
            with_idleness.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Published while the pipe is open: the job cannot have ended.
    assert!(with_idleness.is_running(), "{}", with_idleness.log());
    std::thread::sleep(Duration::from_secs(1));
    assert!(without.is_running(), "{}", without.log());
    assert_eq!(
        read_committed_rows(&stalled.path().join("out")),
        Vec::<Value>::new(),
        "without idle_timeout the empty split holds every window back"
    );
    // Closing the pipes ends `b.csv`: both jobs finish with the same, complete output.
    drop((idle_pipe, stalled_pipe));
    for (process, dir) in [(&mut with_idleness, &idle), (&mut without, &stalled)] {
        let start = Instant::now();
        while process.is_running() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            sorted(read_committed_rows(&dir.path().join("out"))),
            expected
        );
    }
}

/// Writes `dir/job.toml` reading `fast.csv` (one record per 200 ms of event time) and
/// `slow.csv` (one per 2 ms), 5000 records each at 1000 records/s per partition, into
/// one-second windows per user (5 users); `source_extra` goes into the source. The source has
/// three partitions: the third has no file to read, and must hold no other back.
fn write_skewed(dir: &Path, source_extra: &str) -> PathBuf {
    let folder = dir.join("events");
    std::fs::create_dir_all(&folder).unwrap();
    for (name, step) in [("fast", 200), ("slow", 2)] {
        let mut text = String::from("user,ts\n");
        for i in 0..5000_i64 {
            text.push_str(&format!("u{},{}\n", i % 5, 1_735_689_600_000 + i * step));
        }
        std::fs::write(folder.join(format!("{name}.csv")), text).unwrap();
    }
    FolderJob {
        job: "name = \"skewed\"\nparallelism = 2",
        schema: r#"user = "string", ts = "i64""#,
        source: &format!("parallelism = 3\nrate = 3000\n{source_extra}"),
        aggregates: r#"n = "count()""#,
        more: "",
    }
    .write(dir)
}

/// The keyed window entries `quiver job status` showed at most while `job` ran.
fn most_state_entries(cluster: &mut Cluster, job: &str) -> u64 {
    let mut most = 0;
    cluster.wait_for_job(job, |status| {
        let entries = status
            .split("state: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|n| n.replace(',', "").parse().ok());
        most = most.max(entries.unwrap_or(0));
    });
    most
}

/// The window rows of the skewed job: 5000 records per file, counted per user and second.
fn skewed_windows() -> usize {
    let fast = 5000 * 200 / 1000 * 5; // 1000 s, 5 users a second
    let slow = 5000 * 2 / 1000 * 5; // 10 s
    fast + slow - 10 * 5 // the first 10 s are shared
}

#[test]
fn max_drift_keeps_window_state_bounded_when_one_split_runs_ahead_in_event_time() {
    // Three source partitions on two nodes: aligned with the one on the other node through
    // the coordinator's relay, with the one beside in step.
    max_drift_keeps_window_state_bounded_on(Cluster::on_loopback(2));
}

#[test]
fn max_drift_keeps_window_state_bounded_with_every_source_partition_on_one_node() {
    // All three in step on one node, the relay not waited for.
    max_drift_keeps_window_state_bounded_on(Cluster::with_slots(1, 3));
}

/// The skewed job unaligned and with `max_drift` on `cluster`.
fn max_drift_keeps_window_state_bounded_on(mut cluster: Cluster) {
    // Unaligned, `fast` runs 100 times further in event time than `slow`: windows pile up
    // until `slow` ends (about 5,000 entries). Aligned, `fast` waits within 5 s (plus a
    // batch, 2 s, and the heartbeat's delay) of `slow`: a few windows per user.
    const BOUND: u64 = 1000;
    let root = cluster.dir.path().to_path_buf();
    let (unaligned, aligned) = (root.join("unaligned"), root.join("aligned"));
    cluster.submit_spec(&write_skewed(&unaligned, ""));
    let most_unaligned = most_state_entries(&mut cluster, "job-1");
    cluster.submit_spec(&write_skewed(&aligned, "max_drift = \"5s\""));
    let most_aligned = most_state_entries(&mut cluster, "job-2");
    assert!(
        most_unaligned > BOUND,
        "unaligned reading should pile up windows: at most {most_unaligned} entries seen"
    );
    assert!(
        most_aligned < BOUND,
        "with max_drift the window state should stay small: {most_aligned} entries seen"
    );
    for dir in [unaligned, aligned] {
        let rows = read_committed_rows(&dir.join("out"));
        let records: i64 = rows.iter().filter_map(|r| r["n"].as_i64()).sum();
        assert_eq!((rows.len(), records), (skewed_windows(), 10_000));
    }
}

//! What several integration tests share: the spend-per-user job over a generated CSV and its
//! expected output computed naively (no engine code), a tiny CLI runner, and a [`cluster`] of
//! processes running that job for the failure tests.
#![allow(dead_code)] // each test binary uses its own subset

pub(crate) mod cluster;
pub(crate) mod kafka;
pub(crate) mod learner_job;
pub(crate) mod policies;
pub(crate) mod predict;
pub(crate) mod reco;
pub(crate) mod shards;
pub(crate) mod swaps;

use quiver_chaos_tests::{read_committed_rows, run_with_timeout};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The binary under test.
pub(crate) const QUIVER: &str = env!("CARGO_BIN_EXE_quiver");
const USERS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
const START: i64 = 1_735_689_600_000;

/// Kills the child process if the test fails while it still runs.
pub(crate) struct KillOnDrop(pub(crate) std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A seeded generator (SplitMix64) for test data.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    /// The next number, uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

/// A deterministic event stream of `n` events: (user, amount, ts), slightly out of order
/// (≤ 1.5 s, within the spec's 2 s lag) so watermarks matter but nothing is late.
pub(crate) fn events(n: usize) -> Vec<(String, f64, i64)> {
    let mut state = 0x2545F4914F6CDD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n as i64)
        .map(|i| {
            let user = USERS[(next() % USERS.len() as u64) as usize].to_string();
            let amount = (next() % 10_000) as f64 / 100.0;
            let jitter = (next() % 1500) as i64;
            (user, amount, START + i * 7 + 1500 - jitter)
        })
        .collect()
}

/// Writes `events.csv` with `n` events and `job.toml` reading it into a windowed and a
/// running aggregate with file sinks at parallelism 4; `job_extra` goes into `[job]`,
/// `source_extra` into the source. Returns the spec's path.
pub(crate) fn write_job(dir: &Path, n: usize, job_extra: &str, source_extra: &str) -> PathBuf {
    write_job_at(dir, 4, n, job_extra, source_extra)
}

/// [`write_job`] at another parallelism.
pub(crate) fn write_job_at(
    dir: &Path,
    parallelism: u32,
    n: usize,
    job_extra: &str,
    source_extra: &str,
) -> PathBuf {
    write_csv(dir, &events(n));
    let spec = format!(
        r#"
[job]
name = "spend-per-user"
parallelism = {parallelism}
max_parallelism = 128
{job_extra}
{}{}{RUNNING_STAGE}"#,
        csv_source(source_extra),
        per_user_stage(""),
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// Writes `events.csv` (with a header) holding `events`: (user, amount, ts).
pub(crate) fn write_csv(dir: &Path, events: &[(String, f64, i64)]) {
    write_csv_file(&dir.join("events.csv"), events);
}

/// Writes the CSV file `path` (with a header) holding `events`: (user, amount, ts).
pub(crate) fn write_csv_file(path: &Path, events: &[(String, f64, i64)]) {
    let mut csv = String::from("user,amount,ts\n");
    for (user, amount, ts) in events {
        csv.push_str(&format!("{user},{amount},{ts}\n"));
    }
    std::fs::write(path, csv).unwrap();
}

/// The source `events` reading `events.csv` with a 2 s lag; `extra` goes into it.
pub(crate) fn csv_source(extra: &str) -> String {
    format!(
        r#"
[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = {{ user = "string", amount = "f64", ts = "i64" }}
event_time = "ts"
max_out_of_orderness = "2s"
{extra}
"#
    )
}

/// The windowed aggregate `per_user` over `events` (n, spend and top per user and second:
/// what [`windows_of`] computes) and its file sink `out/`; `extra` goes into the stage.
pub(crate) fn per_user_stage(extra: &str) -> String {
    format!(
        r#"
[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "tumbling", size = "1s" }}
aggregates = {{ n = "count()", spend = "sum(amount)", top = "max(amount)" }}
{extra}

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"
"#
    )
}

/// The running aggregate `running` over `events` (n and spend per user so far) and its file
/// sink `running_out/`.
pub(crate) const RUNNING_STAGE: &str = r#"
[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", spend = "sum(amount)" }

[[sink]]
name = "running_out"
kind = "file"
input = "running"
path = "running_out/"
"#;

/// The windowed rows, computed naively: group by (user, second), fold in file order.
pub(crate) fn expected_windows(n: usize) -> Vec<Value> {
    windows_of(events(n))
}

/// The windowed rows of `events` (n, spend, top per user and second), folded in their order.
pub(crate) fn windows_of(events: Vec<(String, f64, i64)>) -> Vec<Value> {
    let mut groups: BTreeMap<(String, i64), (i64, f64, f64)> = BTreeMap::new();
    for (user, amount, ts) in events {
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
pub(crate) fn expected_running(n: usize) -> Vec<Value> {
    let mut so_far: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    let rows = events(n).into_iter().map(|(user, amount, _)| {
        let s = so_far.entry(user.clone()).or_insert((0, 0.0));
        s.0 += 1;
        s.1 += amount;
        json!({"user": user, "n": s.0, "spend": s.1})
    });
    sorted(rows.collect())
}

/// Rows in a canonical order, for comparing multisets.
pub(crate) fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

/// Asserts that the committed output of both sinks equals the naive reference exactly: no
/// row missing, none twice.
pub(crate) fn assert_exactly_once(dir: &Path, n: usize) {
    let windows = sorted(read_committed_rows(&dir.join("out")));
    let expected = expected_windows(n);
    assert_eq!(windows.len(), expected.len(), "window row count");
    assert_eq!(windows, expected, "window rows");
    let running = sorted(read_committed_rows(&dir.join("running_out")));
    assert_eq!(running.len(), n, "one running row per event");
    assert_eq!(running, expected_running(n), "running rows");
}

/// Asserts that the published running rows are exactly those of a prefix of the input (the
/// events up to a savepoint): as many rows as events read, and for those events the naive
/// reference. A partition whose output was left unpublished breaks it. Returns the prefix.
pub(crate) fn assert_running_prefix_published(dir: &Path) -> usize {
    let running = sorted(read_committed_rows(&dir.join("running_out")));
    let prefix = running.len();
    assert_eq!(
        running,
        expected_running(prefix),
        "the published running rows are not those of the first {prefix} events"
    );
    prefix
}

/// Asserts that a parameter-server worker's output `rows`, in input order, carry the versions
/// it adopted: they only move forward, and some were published while it learnt.
pub(crate) fn assert_versions_advance<'a>(rows: impl Iterator<Item = &'a Value>) {
    let versions: Vec<u64> = rows
        .map(|r| r["model_version"].as_u64().expect("model_version"))
        .collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");
    assert!(versions[versions.len() - 1] > 0, "no version was published");
}

/// Runs `quiver local SPEC` to completion (120 s at most) and asserts that it succeeded.
pub(crate) fn run_local(spec: &Path) {
    let out = run_with_timeout(
        Path::new(QUIVER),
        &["local", &spec.to_string_lossy()],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "quiver local failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the CLI to completion (60 s at most).
pub(crate) fn quiver(args: &[&str]) -> std::process::Output {
    run_with_timeout(Path::new(QUIVER), args, Duration::from_secs(60))
}

//! State TTL end to end (issues 5 and 14): aggregates over keys that almost never repeat (each
//! event brings a new key) keep only the keys written within about one TTL, so state and
//! checkpoint size stay bounded by the TTL, not by the keys ever seen: a running aggregate,
//! and windows that would otherwise hold every key until the input ends (a one-day tumbling
//! window and a one-day session gap over five minutes of event time); and matrix
//! factorisation, whose users each rate a few times and never come back, keeps only the users
//! learnt from within about one TTL while every prediction stays the library's.

mod common;

use common::reco::{fnv1a, reco_job};
use std::path::Path;
use std::time::Duration;

use common::QUIVER;
const EVENTS: u64 = 500_000;

/// The number after `label` in the report, with thousands separators removed.
fn figure(report: &str, label: &str) -> u64 {
    let rest = report
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?}:\n{report}"))
}

/// Held while a job runs: the tests' expectations depend on how fast a job runs against its
/// TTL, so their jobs run one at a time rather than share the cores.
static ONE_JOB_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Writes `text` to `spec` and runs it with `quiver local` (2 minutes at most); returns the
/// report (stderr) after checking that it succeeded.
fn run_local(spec: &Path, text: &str) -> String {
    let _alone = ONE_JOB_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::fs::write(spec, text).unwrap();
    let out = quiver_chaos_tests::run_with_timeout(
        Path::new(QUIVER),
        &["local", spec.to_str().unwrap()],
        Duration::from_secs(120),
    );
    let report = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "quiver local failed:\n{report}");
    report
}

/// The generator's key of event `seq` (its documented formula) with `seed = 0`:
/// `splitmix64(seq) % keys`.
fn generated_key(seq: u64, keys: u64) -> i64 {
    let mut z = seq.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % keys) as i64
}

#[test]
fn churning_keys_keep_pending_windows_bounded_by_the_ttl() {
    const EVENTS: u64 = 300_000;
    const KEYS: u64 = 1_000_000_000_000;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("job.toml");
    let window = |name: &str, window: &str| {
        format!(
            r#"
[[stage]]
name = "{name}"
kind = "aggregate"
input = "events"
key = ["user"]
window = {window}
aggregates = {{ n = "count()" }}

[[sink]]
name = "{name}_out"
kind = "file"
input = "{name}"
path = "{name}/"
"#
        )
    };
    let text = format!(
        r#"
[job]
name = "ttl-windows"
parallelism = 1
checkpoint_interval = "500ms"
state_ttl = "1s"

[[source]]
name = "events"
kind = "generator"
count = {EVENTS}
keys = {KEYS}
rate = 100000
"#
    ) + &window("tumbling", r#"{ kind = "tumbling", size = "1d" }"#)
        + &window("session", r#"{ kind = "session", gap = "1d" }"#);
    let report = run_local(&spec, &text);
    assert!(
        report.contains("keys expired by state_ttl"),
        "expired keys are counted:\n{report}"
    );
    // The first 10,000 events were written at least 2.9 s (at 100k events/s) before the
    // input ended: far beyond the TTL, so no window of a key seen only among them fires.
    let later: std::collections::HashSet<i64> =
        (10_000..EVENTS).map(|s| generated_key(s, KEYS)).collect();
    let early: std::collections::HashSet<i64> = (0..10_000)
        .map(|s| generated_key(s, KEYS))
        .filter(|k| !later.contains(k))
        .collect();
    for stage in ["tumbling", "session"] {
        let rows = quiver_chaos_tests::read_committed_rows(&dir.path().join(stage));
        // Without a TTL every key's window fires at the end: ~300k rows.
        assert!(
            !rows.is_empty() && rows.len() as u64 <= EVENTS / 2,
            "{stage}: {} windows fired, not bounded by the TTL:\n{report}",
            rows.len()
        );
        let expired: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["user"].as_i64().is_some_and(|u| early.contains(&u)))
            .collect();
        assert!(
            expired.is_empty(),
            "{stage}: windows of expired keys fired: {:?}",
            &expired[..expired.len().min(5)]
        );
    }
}

#[test]
fn churning_keys_keep_state_bounded_by_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("job.toml");
    let report = run_local(
        &spec,
        &format!(
            r#"
[job]
name = "ttl-churn"
parallelism = 2
checkpoint_interval = "500ms"
state_ttl = "1s"

[[source]]
name = "events"
kind = "generator"
count = {EVENTS}
keys = 1000000000
rate = 100000

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#
        ),
    );
    // 500k distinct keys were written, at most 100k per second; with a 1 s TTL and
    // incremental clean-up, far fewer than all of them may remain (without a TTL: 500k
    // entries). The checkpoints' bytes are no measure of it: a checkpoint uploads the keys
    // changed since the last confirmed one, expirations included, so the last one is larger
    // with the TTL than without (878 kB against 461 kB on a quiet machine) and grows with the
    // intervals a slow checkpoint spans. What a restore holds is tested by the operators'
    // TTL tests (expired keys left out of snapshots, dropped on restore).
    let entries = figure(&report, "state: ");
    assert!(
        entries <= EVENTS / 2,
        "{entries} keyed entries held, not bounded by the TTL:\n{report}"
    );
}

#[test]
fn churning_users_keep_matrix_factorization_state_bounded_by_the_ttl() {
    use quiver_ml::recommendation::{MatrixFactorization, MfParams};
    use quiver_ml::OnlineModel;
    // 6,000 ratings at 2,000 a second; user `n / 2` rates rows `n` and `n + 1` (adjacent,
    // read in one batch of 20, so the TTL never expires a user between its two ratings) and
    // never comes back.
    const ROWS: usize = 6000;
    const USERS: u64 = ROWS as u64 / 2;
    let row = |n: usize| {
        (
            format!("u{}", n / 2),
            (n * 7 % 13) as u64,
            (n % 5 + 1) as f64,
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("user,item,rating,ts\n");
    for n in 0..ROWS {
        let (user, item, rating) = row(n);
        csv.push_str(&format!("{user},{item},{rating},{n}\n"));
    }
    std::fs::write(dir.path().join("ratings.csv"), csv).unwrap();
    let spec = dir.path().join("job.toml");
    let report = run_local(
        &spec,
        &reco_job(
            "[job]\nname = \"ttl-users\"\ncheckpoint_interval = \"300ms\"\nstate_ttl = \"500ms\"\n",
            2000,
            1,
        ),
    );
    // Users seen within about the last half second (1,000 ratings: 500 users, more if the
    // source catches up after a stall) and the cleanup's lag remain, not all 3,000; the others
    // were expired and counted.
    let entries = figure(&report, "state: ");
    assert!(
        entries <= USERS / 2,
        "{entries} users held, not bounded by the TTL:\n{report}"
    );
    let expired = figure(&report, "keyed entries (");
    assert!(
        expired >= USERS / 3 && expired + entries == USERS,
        "{expired} users expired, {entries} held, of {USERS}:\n{report}"
    );
    // No user comes back after expiring: every prediction is the library's, without a TTL.
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    let expected: Vec<(f64, i64)> = (0..ROWS)
        .map(|n| {
            let (user, item, rating) = row(n);
            let version = model.version().0 as i64;
            let prediction = model.predict_one(fnv1a(&user), item);
            model.learn_one(fnv1a(&user), item, rating).unwrap();
            (prediction, version)
        })
        .collect();
    let rows = quiver_chaos_tests::read_committed_rows(&dir.path().join("out"));
    assert_eq!(rows.len(), ROWS, "one output row per rating");
    for r in &rows {
        let n = r["ts"].as_i64().unwrap() as usize;
        let found = (
            r["prediction"].as_f64().unwrap(),
            r["model_version"].as_i64().unwrap(),
        );
        assert_eq!(found, expected[n], "row {n}");
    }
}

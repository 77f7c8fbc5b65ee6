//! Exactly-once where every aggregate partition aligns barriers over two inputs: a generator
//! at parallelism 2 feeds a windowed and a running aggregate at parallelism 3 (each partition
//! reads both generator partitions), with checkpoints every 500 ms, on a coordinator and
//! three node processes. Thousands of keys, of which each checkpoint interval writes a part,
//! so checkpoints are incremental (chains of deltas in the coordinator's store): the node is
//! killed with SIGKILL after a few of them; the published output must equal what the
//! generator's documented formula gives — no row missing, none twice, and each upstream
//! partition's records in their order.

mod common;

use common::cluster::{restarts, Cluster};
use common::{per_user_stage, RUNNING_STAGE};
use quiver_chaos_tests::read_committed_rows;
use serde_json::Value;
use std::collections::BTreeMap;

/// Events generated: 6 s at 2000 events/s, so the kill after the third checkpoint lands
/// mid-run; with this many keys an interval of 1000 events writes about a third of them.
const COUNT: u64 = 12_000;
const KEYS: u64 = 3000;
const SEED: u64 = 7;

/// The job without its stages; `{COUNT}`, `{KEYS}` and `{SEED}` are filled in.
const JOB: &str = r#"
[job]
name = "aligned"
parallelism = 3
max_parallelism = 128
checkpoint_interval = "500ms"

[[source]]
name = "events"
kind = "generator"
parallelism = 2
count = {COUNT}
keys = {KEYS}
seed = {SEED}
rate = 2000
"#;

/// Event `seq` as the generator's documentation defines it: (user, amount in cents, ts).
/// `r = splitmix64(seq ^ seed * 0x9E3779B97F4A7C15)`, `user = r % keys`,
/// `amount = ((r >> 32) % 10000) / 100`, `ts = seq`.
fn event(seq: u64) -> (i64, i64, i64) {
    let mut z =
        (seq ^ SEED.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let r = z ^ (z >> 31);
    ((r % KEYS) as i64, ((r >> 32) % 10_000) as i64, seq as i64)
}

fn int(row: &Value, column: &str) -> i64 {
    row[column]
        .as_i64()
        .unwrap_or_else(|| panic!("{column} of {row}"))
}

/// An amount column in cents: sums of two-decimal amounts are exact to far below a cent.
fn cents(row: &Value, column: &str) -> i64 {
    let x = row[column]
        .as_f64()
        .unwrap_or_else(|| panic!("{column} of {row}"));
    (x * 100.0).round() as i64
}

/// Every (user, second) window: n, spend and top in cents, folded naively.
fn assert_windows_exactly_once(rows: &[Value]) {
    let mut expected: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
    for (user, amount, ts) in (0..COUNT).map(event) {
        let w = expected.entry((user, ts - ts % 1000)).or_insert((0, 0, 0));
        *w = (w.0 + 1, w.1 + amount, w.2.max(amount));
    }
    let mut published = BTreeMap::new();
    for row in rows {
        let (user, start) = (int(row, "user"), int(row, "window_start"));
        assert_eq!(int(row, "window_end"), start + 1000, "{row}");
        let values = (int(row, "n"), cents(row, "spend"), cents(row, "top"));
        assert!(
            published.insert((user, start), values).is_none(),
            "window ({user}, {start}) published twice"
        );
    }
    assert_eq!(published, expected, "window rows");
}

/// One running row per event; per user, rows n = 1..k, and each row's spend is what some
/// merge of the user's events from the two generator partitions (even and odd sequence
/// numbers, each in order) sums to at that point.
fn assert_running_exactly_once(rows: &[Value]) {
    let mut by_user: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for row in rows {
        let (user, n) = (int(row, "user"), int(row, "n"));
        by_user
            .entry(user)
            .or_default()
            .push((n, cents(row, "spend")));
    }
    let mut amounts: BTreeMap<i64, [Vec<i64>; 2]> = BTreeMap::new();
    for (user, amount, ts) in (0..COUNT).map(event) {
        amounts.entry(user).or_default()[(ts % 2) as usize].push(amount);
    }
    assert_eq!(
        by_user.keys().collect::<Vec<_>>(),
        amounts.keys().collect::<Vec<_>>(),
        "users"
    );
    for (user, [even, odd]) in amounts {
        let mut rows = by_user.remove(&user).unwrap_or_default();
        rows.sort();
        let ns: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let k = (even.len() + odd.len()) as i64;
        assert_eq!(ns, (1..=k).collect::<Vec<_>>(), "user {user}: counts");
        let prefix = |v: &[i64]| -> Vec<i64> {
            std::iter::once(0)
                .chain(v.iter().scan(0, |s, a| {
                    *s += a;
                    Some(*s)
                }))
                .collect()
        };
        let (even_sums, odd_sums) = (prefix(&even), prefix(&odd));
        // The numbers of even events a merge may have taken after each row.
        let mut reachable = vec![0usize];
        for (n, spend) in rows {
            let n = n as usize;
            let mut next: Vec<usize> = reachable
                .iter()
                .flat_map(|&a| [a, a + 1])
                .filter(|&a| a <= even.len() && a <= n && n - a <= odd.len())
                .filter(|&a| even_sums[a] + odd_sums[n - a] == spend)
                .collect();
            next.dedup();
            assert!(
                !next.is_empty(),
                "user {user}: no in-order merge of its events sums to {spend} cents at row {n}"
            );
            reachable = next;
        }
    }
}

/// Whether a checkpoint after the first of `quiver checkpoint list` wrote fewer bytes than
/// it references: every key group changes in every interval here, so only chains (an earlier
/// base, then this checkpoint's delta) reuse pieces.
fn incremental(listing: &str) -> bool {
    let number = |s: &str| s.replace(',', "").parse::<u64>().unwrap_or(0);
    listing
        .lines()
        .filter(|l| l.starts_with("job-1/chk-"))
        .skip(1)
        .any(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            let (size, new) = (number(columns[3]), number(columns[4]));
            new < size
        })
}

#[test]
fn aggregates_aligning_two_inputs_publish_exactly_once_across_a_killed_node() {
    let mut cluster = Cluster::on_loopback(3);
    let spec = cluster.dir.path().join("aligned.toml");
    let text = [JOB, &per_user_stage(""), RUNNING_STAGE]
        .concat()
        .replace("{COUNT}", &COUNT.to_string())
        .replace("{KEYS}", &KEYS.to_string())
        .replace("{SEED}", &SEED.to_string());
    std::fs::write(&spec, text).unwrap();
    cluster.submit_spec(&spec);
    let listing = cluster.wait_for_checkpoints(3);
    assert!(
        incremental(&listing),
        "no checkpoint reused pieces of an earlier one:\n{listing}"
    );
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    let windows = read_committed_rows(&cluster.dir.path().join("out"));
    assert_windows_exactly_once(&windows);
    let running = read_committed_rows(&cluster.dir.path().join("running_out"));
    assert_eq!(running.len() as u64, COUNT, "one running row per event");
    assert_running_exactly_once(&running);
}

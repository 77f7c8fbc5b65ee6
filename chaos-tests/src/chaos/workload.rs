//! A checkable workload: the seeded generator at parallelism 2 feeding a windowed and a
//! running aggregate at parallelism 3 (every aggregate partition aligns barriers over both
//! generator partitions), each into a file sink. The checker computes what must be published
//! from the generator's documented formula (`node/src/sources/generator.rs`), independently
//! of the engine, and counts rows lost, duplicated or wrong.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The generator workload's parameters.
#[derive(Clone, Copy, Debug)]
pub struct GeneratorWorkload {
    /// Events generated in all.
    pub count: u64,
    /// Distinct users.
    pub keys: u64,
    /// The generator's seed.
    pub seed: u64,
    /// Events per second (both partitions together).
    pub rate: u64,
}

/// What a check found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// Rows published.
    pub rows: u64,
    /// Rows that should have been published and were not.
    pub lost: u64,
    /// Rows published more than once (each extra copy counts).
    pub duplicated: u64,
    /// Rows published once but with other values than expected.
    pub wrong: u64,
    /// A few of the differences, for the report.
    pub examples: Vec<String>,
}

impl Findings {
    /// Whether the output was exactly as expected.
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.wrong == 0
    }

    /// Keeps `example` if fewer than five are kept.
    pub(super) fn note(&mut self, example: String) {
        if self.examples.len() < 5 {
            self.examples.push(example);
        }
    }

    /// Both findings together.
    pub fn merged(mut self, other: Findings) -> Findings {
        self.rows += other.rows;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.wrong += other.wrong;
        for e in other.examples {
            self.note(e);
        }
        self
    }
}

/// The windowed aggregate's sink folder, relative to the spec.
pub const WINDOWS_DIR: &str = "out";
/// The running aggregate's sink folder, relative to the spec.
pub const RUNNING_DIR: &str = "running_out";

impl GeneratorWorkload {
    /// The job spec (TOML) with checkpoints every `checkpoint_interval`.
    pub fn spec(&self, name: &str, checkpoint_interval: &str) -> String {
        format!(
            r#"[job]
name = "{name}"
parallelism = 3
max_parallelism = 128
checkpoint_interval = "{checkpoint_interval}"

[[source]]
name = "events"
kind = "generator"
parallelism = 2
count = {count}
keys = {keys}
seed = {seed}
rate = {rate}

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "tumbling", size = "1s" }}
aggregates = {{ n = "count()", spend = "sum(amount)", top = "max(amount)" }}

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "{WINDOWS_DIR}/"

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()", spend = "sum(amount)" }}

[[sink]]
name = "running_out"
kind = "file"
input = "running"
path = "{RUNNING_DIR}/"
"#,
            count = self.count,
            keys = self.keys,
            seed = self.seed,
            rate = self.rate,
        )
    }

    /// Event `seq` as the generator's documentation defines it: (user, amount in cents, ts).
    /// `r = splitmix64(seq ^ seed * 0x9E3779B97F4A7C15)`, `user = r % keys`,
    /// `amount = ((r >> 32) % 10000) / 100`, `ts = seq`.
    pub fn event(&self, seq: u64) -> (i64, i64, i64) {
        let mut z = (seq ^ self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let r = z ^ (z >> 31);
        (
            (r % self.keys) as i64,
            ((r >> 32) % 10_000) as i64,
            seq as i64,
        )
    }

    /// Checks the windowed rows: one per (user, second) with events, its count, spend and
    /// top as folded naively.
    pub fn check_windows(&self, rows: &[Value]) -> Findings {
        let mut expected: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
        for (user, amount, ts) in (0..self.count).map(|s| self.event(s)) {
            let w = expected.entry((user, ts - ts % 1000)).or_insert((0, 0, 0));
            *w = (w.0 + 1, w.1 + amount, w.2.max(amount));
        }
        let mut found = Findings {
            rows: rows.len() as u64,
            ..Findings::default()
        };
        let mut seen = BTreeMap::new();
        for row in rows {
            let (Some(user), Some(start)) = (int(row, "user"), int(row, "window_start")) else {
                found.wrong += 1;
                found.note(format!("malformed window row {row}"));
                continue;
            };
            let values = (int(row, "n"), cents(row, "spend"), cents(row, "top"));
            *seen.entry((user, start)).or_insert(0u64) += 1;
            if seen[&(user, start)] > 1 {
                found.duplicated += 1;
                found.note(format!("window ({user}, {start}) published again: {row}"));
                continue;
            }
            match expected.get(&(user, start)) {
                Some(&(n, spend, top)) if values == (Some(n), Some(spend), Some(top)) => {}
                Some(e) => {
                    found.wrong += 1;
                    found.note(format!("window ({user}, {start}): {row}, expected {e:?}"));
                }
                None => {
                    found.wrong += 1;
                    found.note(format!("window ({user}, {start}) has no events: {row}"));
                }
            }
        }
        found.lost = expected.keys().filter(|k| !seen.contains_key(k)).count() as u64;
        if found.lost > 0 {
            found.note(format!("{} windows missing", found.lost));
        }
        found
    }

    /// Checks the running rows: per user one row for each n = 1..k, and each row's spend is
    /// what some merge of the user's events from the two generator partitions (even and odd
    /// sequence numbers, each in order) sums to at that point.
    pub fn check_running(&self, rows: &[Value]) -> Findings {
        let mut found = Findings {
            rows: rows.len() as u64,
            ..Findings::default()
        };
        let mut by_user: BTreeMap<i64, BTreeMap<i64, Vec<i64>>> = BTreeMap::new();
        for row in rows {
            match (int(row, "user"), int(row, "n"), cents(row, "spend")) {
                (Some(user), Some(n), Some(spend)) => by_user
                    .entry(user)
                    .or_default()
                    .entry(n)
                    .or_default()
                    .push(spend),
                _ => {
                    found.wrong += 1;
                    found.note(format!("malformed running row {row}"));
                }
            }
        }
        let mut amounts: BTreeMap<i64, [Vec<i64>; 2]> = BTreeMap::new();
        for (user, amount, ts) in (0..self.count).map(|s| self.event(s)) {
            amounts.entry(user).or_default()[(ts % 2) as usize].push(amount);
        }
        for (user, rows) in &by_user {
            if !amounts.contains_key(user) {
                found.wrong += rows.values().map(|v| v.len() as u64).sum::<u64>();
                found.note(format!("user {user} has no events but has running rows"));
            }
        }
        for (user, [even, odd]) in amounts {
            let rows = by_user.remove(&user).unwrap_or_default();
            let k = (even.len() + odd.len()) as i64;
            for (n, spends) in &rows {
                if !(1..=k).contains(n) {
                    found.wrong += spends.len() as u64;
                    found.note(format!("user {user}: row n = {n} of {k} events"));
                }
                if spends.len() > 1 {
                    found.duplicated += spends.len() as u64 - 1;
                    found.note(format!(
                        "user {user}: row n = {n} published {}×",
                        spends.len()
                    ));
                }
            }
            let lost = (1..=k).filter(|n| !rows.contains_key(n)).count() as u64;
            if lost > 0 {
                found.lost += lost;
                found.note(format!("user {user}: {lost} of {k} running rows missing"));
                continue;
            }
            if let Some(n) = first_unmergeable(&even, &odd, &rows) {
                found.wrong += 1;
                found.note(format!(
                    "user {user}: no in-order merge of its events gives the spend of row {n}"
                ));
            }
        }
        found
    }

    /// Checks both sinks' committed rows under the folder of the spec.
    pub fn check(&self, dir: &std::path::Path) -> Findings {
        let windows = crate::read_committed_rows(&dir.join(WINDOWS_DIR));
        let running = crate::read_committed_rows(&dir.join(RUNNING_DIR));
        self.check_windows(&windows)
            .merged(self.check_running(&running))
    }
}

/// The first row (by n) whose spend no in-order merge of `even` and `odd` reaches, given the
/// rows before it; `rows` holds every n from 1 (the first spend of each, if duplicated).
fn first_unmergeable(even: &[i64], odd: &[i64], rows: &BTreeMap<i64, Vec<i64>>) -> Option<i64> {
    let prefix = |v: &[i64]| -> Vec<i64> {
        std::iter::once(0)
            .chain(v.iter().scan(0, |s, a| {
                *s += a;
                Some(*s)
            }))
            .collect()
    };
    let (even_sums, odd_sums) = (prefix(even), prefix(odd));
    // The numbers of even events a merge may have taken after each row.
    let mut reachable = vec![0usize];
    for (&n, spends) in rows {
        let (n, spend) = (n as usize, spends[0]);
        let mut next: Vec<usize> = reachable
            .iter()
            .flat_map(|&a| [a, a + 1])
            .filter(|&a| a <= even.len() && a <= n && n - a <= odd.len())
            .filter(|&a| even_sums[a] + odd_sums[n - a] == spend)
            .collect();
        next.dedup();
        if next.is_empty() {
            return Some(n as i64);
        }
        reachable = next;
    }
    None
}

fn int(row: &Value, column: &str) -> Option<i64> {
    row[column].as_i64()
}

/// An amount column in cents: sums of two-decimal amounts are exact to far below a cent.
fn cents(row: &Value, column: &str) -> Option<i64> {
    row[column].as_f64().map(|x| (x * 100.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const W: GeneratorWorkload = GeneratorWorkload {
        count: 40,
        keys: 3,
        seed: 7,
        rate: 1000,
    };

    /// The rows an exactly-once run publishes: events merged even-first per pair.
    fn exact_rows() -> (Vec<Value>, Vec<Value>) {
        let mut running = Vec::new();
        let mut per_user: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        let mut windows: BTreeMap<(i64, i64), (i64, i64, i64)> = BTreeMap::new();
        for (user, amount, ts) in (0..W.count).map(|s| W.event(s)) {
            let r = per_user.entry(user).or_default();
            *r = (r.0 + 1, r.1 + amount);
            running.push(json!({"user": user, "n": r.0, "spend": r.1 as f64 / 100.0}));
            let w = windows.entry((user, ts - ts % 1000)).or_default();
            *w = (w.0 + 1, w.1 + amount, w.2.max(amount));
        }
        let windows = windows
            .into_iter()
            .map(|((user, start), (n, spend, top))| {
                json!({"user": user, "window_start": start, "window_end": start + 1000,
                       "n": n, "spend": spend as f64 / 100.0, "top": top as f64 / 100.0})
            })
            .collect();
        (windows, running)
    }

    #[test]
    fn exact_output_passes_and_every_fault_is_counted() {
        let (windows, running) = exact_rows();
        assert!(W.check_windows(&windows).exact());
        assert!(W.check_running(&running).exact());

        let mut dup = running.clone();
        dup.push(running[5].clone());
        assert_eq!(W.check_running(&dup).duplicated, 1);
        let lost = &running[1..];
        assert_eq!(W.check_running(lost).lost, 1);
        let mut wrong = running.clone();
        wrong[7]["spend"] = json!(12345.67);
        assert_eq!(W.check_running(&wrong).wrong, 1);

        let mut dup = windows.clone();
        dup.push(windows[0].clone());
        assert_eq!(W.check_windows(&dup).duplicated, 1);
        assert_eq!(W.check_windows(&windows[1..]).lost, 1);
        let mut wrong = windows.clone();
        wrong[0]["n"] = json!(99);
        assert_eq!(W.check_windows(&wrong).wrong, 1);
    }
}

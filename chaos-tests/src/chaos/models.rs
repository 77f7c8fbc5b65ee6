//! The model-swap workload: a logistic regression at parallelism 2 (trained on parameter
//! servers, since the job checkpoints) scores labelled rows from two rate-limited files while
//! the run swaps the version it serves — `model deploy V1`, `model ab --a V1 --b V2 --split
//! 30`, `model deploy V2`, round and round — between faults. The checker holds the output
//! against the input: every row scored exactly once, and per file, in input order, the
//! versions pass through the swaps' phases in the order they were asked for (a phase may be
//! empty: a swap answered with an error, or one followed by the next before a row of that
//! file arrived).

use super::rng::Rng;
use super::workload::Findings;
use quiver_protocol::keygroup::{key_hash_code, murmur_hash};
use quiver_protocol::Value as Cell;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The share of records an A/B sends to its `b` version, in percent.
pub const SPLIT: u64 = 30;
/// Where the job's input and output live, under the job folder.
const INPUT: &str = "model-in";
const OUTPUT: &str = "model-out";
/// The id of the first row of each file: the files' ids never overlap.
const FILE_BASE: [i64; 2] = [0, 1_000_000_000];

/// One input row.
#[derive(Clone, Copy, Debug)]
struct Row {
    id: i64,
    x1: f64,
    x2: f64,
    y: i64,
}

/// What a phase of serving scores rows with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The working copy: versions only grow.
    Latest,
    /// One version for every row.
    Pinned(u64),
    /// `b` for the rows whose record hash falls in the first [`SPLIT`]%, `a` for the rest.
    Split {
        /// The version of most rows.
        a: u64,
        /// The version of [`SPLIT`]% of the rows.
        b: u64,
    },
}

/// The model workload: two files of `rows` rows each.
#[derive(Clone, Copy, Debug)]
pub struct ModelWorkload {
    /// Rows per file.
    pub rows: u64,
    /// Rows per second, both files together.
    pub rate: u64,
    /// Seed of the rows.
    pub seed: u64,
}

impl ModelWorkload {
    fn file(&self, f: usize) -> Vec<Row> {
        let mut rng = Rng::new(self.seed ^ (f as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        (0..self.rows as i64)
            .map(|i| {
                let x1 = rng.range(0, 20_001) as f64 / 10_000.0 - 1.0;
                let x2 = rng.range(0, 20_001) as f64 / 10_000.0 - 1.0;
                Row {
                    id: FILE_BASE[f] + i,
                    x1,
                    x2,
                    y: i64::from(2.0 * x1 - x2 > 0.0),
                }
            })
            .collect()
    }

    /// Writes the input files under `dir` and returns the job spec (TOML).
    pub fn write(&self, dir: &Path, checkpoint_interval: &str) -> std::io::Result<String> {
        let input = dir.join(INPUT);
        std::fs::create_dir_all(&input)?;
        for f in 0..2 {
            let mut csv = String::from("id,x1,x2,y\n");
            for r in self.file(f) {
                let _ = writeln!(csv, "{},{:?},{:?},{}", r.id, r.x1, r.x2, r.y);
            }
            std::fs::write(input.join(format!("part-{f}.csv")), csv)?;
        }
        Ok(format!(
            r#"[job]
name = "models"
parallelism = 2
checkpoint_interval = "{checkpoint_interval}"

[[source]]
name = "rows"
kind = "file"
path = "{INPUT}"
format = "csv"
schema = {{ id = "i64", x1 = "f64", x2 = "f64", y = "i64" }}
parallelism = 2
rate = {rate}

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "rows"
features = ["x1", "x2"]
label = "y"

[[sink]]
name = "model_out"
kind = "file"
input = "clf"
path = "{OUTPUT}/"
"#,
            rate = self.rate
        ))
    }

    /// Checks the scored rows under `dir` against the input and the phases asked for, in
    /// order (the first is [`Phase::Latest`]).
    pub fn check(&self, dir: &Path, phases: &[Phase]) -> Findings {
        let out = crate::read_committed_rows(&dir.join(OUTPUT));
        let mut found = Findings {
            rows: out.len() as u64,
            ..Findings::default()
        };
        let mut versions: BTreeMap<i64, u64> = BTreeMap::new();
        for row in &out {
            let (Some(id), Some(version)) = (row["id"].as_i64(), row["model_version"].as_u64())
            else {
                found.wrong += 1;
                found.note(format!("malformed scored row {row}"));
                continue;
            };
            if versions.insert(id, version).is_some() {
                found.duplicated += 1;
                found.note(format!("row {id} scored twice"));
            }
        }
        for f in 0..2 {
            let input = self.file(f);
            let lost = input
                .iter()
                .filter(|r| !versions.contains_key(&r.id))
                .count() as u64;
            found.lost += lost;
            if lost > 0 {
                found.note(format!("file {f}: {lost} rows never scored"));
            }
            let scored: Vec<(Row, u64)> = input
                .iter()
                .filter_map(|r| versions.get(&r.id).map(|v| (*r, *v)))
                .collect();
            if let Some(e) = out_of_order(&scored, phases) {
                found.wrong += 1;
                found.note(format!("file {f}: {e}"));
            }
        }
        found
    }
}

/// The record hash bucket in [0, 10000) a split decides by (of the input columns, in order).
fn bucket(r: &Row) -> u32 {
    let values = [
        Cell::I64(r.id),
        Cell::F64(r.x1),
        Cell::F64(r.x2),
        Cell::I64(r.y),
    ];
    murmur_hash(key_hash_code(values.iter())) as u32 % 10_000
}

/// Whether `phase` scores `row` with `version` (`last`: the previous row's version).
fn admits(phase: Phase, row: &Row, version: u64, last: u64) -> bool {
    match phase {
        Phase::Latest => version >= last,
        Phase::Pinned(v) => version == v,
        Phase::Split { a, b } => {
            let on_b = u64::from(bucket(row)) < SPLIT * 100;
            version == if on_b { b } else { a }
        }
    }
}

/// The first row whose version fits neither the current phase nor a later one, as text.
fn out_of_order(scored: &[(Row, u64)], phases: &[Phase]) -> Option<String> {
    let (mut phase, mut last) = (0, 0);
    for (row, version) in scored {
        while !admits(phases[phase], row, *version, last) {
            phase += 1;
            if phase == phases.len() {
                return Some(format!(
                    "row {} scored by version {version}, which no phase from {:?} on admits",
                    row.id,
                    phases.get(phase.saturating_sub(1))
                ));
            }
        }
        last = *version;
    }
    None
}

/// The registered versions of the job's `clf` stage in `model list --json`, oldest first.
pub fn versions(list: &Value) -> Vec<u64> {
    list.as_array()
        .map(|a| a.iter().filter_map(|v| v["version"].as_u64()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> Row {
        Row {
            id,
            x1: 0.5,
            x2: 0.25,
            y: 1,
        }
    }

    #[test]
    fn phases_must_come_in_order_and_may_be_empty() {
        let phases = [
            Phase::Latest,
            Phase::Pinned(5),
            Phase::Pinned(9),
            Phase::Pinned(5),
        ];
        let scored = |vs: &[u64]| -> Vec<(Row, u64)> {
            vs.iter()
                .enumerate()
                .map(|(i, v)| (row(i as i64), *v))
                .collect()
        };
        assert_eq!(out_of_order(&scored(&[1, 3, 3, 5, 5, 9, 5]), &phases), None);
        // Pinned(9) empty: fine.
        assert_eq!(out_of_order(&scored(&[1, 5, 5]), &phases), None);
        // Back to the working copy after the swaps: out of order.
        assert!(out_of_order(&scored(&[1, 5, 9, 4]), &phases).is_some());
        // The working copy's versions only grow.
        assert!(out_of_order(&scored(&[3, 1]), &[Phase::Latest]).is_some());
        // A split sends each row by its bucket.
        let r = row(7);
        let on_b = u64::from(bucket(&r)) < SPLIT * 100;
        let (right, wrong) = if on_b { (2, 1) } else { (1, 2) };
        assert!(admits(Phase::Split { a: 1, b: 2 }, &r, right, 0));
        assert!(!admits(Phase::Split { a: 1, b: 2 }, &r, wrong, 0));
    }
}

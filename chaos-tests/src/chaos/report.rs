//! What a chaos run reports: every injection with its recovery, the checker's findings and a
//! verdict, as text and as JSON (`--report`).

use super::workload::Findings;
use serde::Serialize;
use std::fmt::Write;

/// One injected fault and how the job came through it.
#[derive(Clone, Debug, Serialize)]
pub struct Injection {
    /// The fault kind's name.
    pub kind: String,
    /// What it hit.
    pub target: String,
    /// Its parameters.
    pub detail: String,
    /// Milliseconds from the run's start to the injection.
    pub at_ms: u64,
    /// How long the fault was held before it was lifted.
    pub held_ms: u64,
    /// Milliseconds from the end of the fault (its injection for a kill, a panic or a
    /// corrupt write; its lifting for the others) until the job ran and completed a
    /// checkpoint newer than any before the end: it was publishing again. `None`: it did
    /// not recover.
    pub recovery_ms: Option<u64>,
    /// Milliseconds from the injection to that checkpoint: how long output stalled.
    pub outage_ms: Option<u64>,
    /// Recoveries (restarts) of the job the fault caused.
    pub restarts: u32,
    /// The share of the generator's rate not processed between injection and recovery.
    pub throughput_dip: f64,
}

/// Percentiles of a set of durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// How many.
    pub count: usize,
    /// The median.
    pub p50: u64,
    /// The 99th percentile (nearest rank).
    pub p99: u64,
    /// The largest.
    pub max: u64,
}

impl Percentiles {
    /// Of `values` (empty: all zero).
    pub fn of(mut values: Vec<u64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let rank =
            |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Percentiles {
            count: values.len(),
            p50: rank(0.5),
            p99: rank(0.99),
            max: values[values.len() - 1],
        }
    }
}

/// What a report says about the run itself.
#[derive(Clone, Debug)]
pub struct RunFacts {
    /// The schedule's seed.
    pub seed: u64,
    /// The fault phase's length, in seconds.
    pub duration_s: u64,
    /// Whether nodes ran on network hosts of their own.
    pub isolated: bool,
    /// The workload's events per second.
    pub rate: u64,
    /// The command that replays the run.
    pub replay: String,
}

/// A whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The schedule's seed.
    pub seed: u64,
    /// The fault phase's length, in seconds.
    pub duration_s: u64,
    /// Whether nodes ran on network hosts of their own.
    pub isolated: bool,
    /// Faults injected.
    pub injections: usize,
    /// The kinds injected, sorted.
    pub fault_kinds: Vec<String>,
    /// Rows lost (expected, never published).
    pub lost: u64,
    /// Extra copies of rows published more than once.
    pub duplicated: u64,
    /// Rows published once with wrong values.
    pub wrong: u64,
    /// Rows published.
    pub rows: u64,
    /// `pass`, `fail`, or `interrupted` (a signal stopped the run; nothing was checked).
    pub verdict: String,
    /// Why it failed (empty when it passed).
    pub reasons: Vec<String>,
    /// Recovery over every injection.
    pub recovery_ms: Percentiles,
    /// Recovery after faults of nodes, their links and the job's disk.
    pub node_recovery_ms: Percentiles,
    /// Recovery after faults of the coordinator (kill, its disk, a corrupt blob).
    pub coordinator_recovery_ms: Percentiles,
    /// Output stalls over every injection.
    pub outage_ms: Percentiles,
    /// The worst share of throughput lost during a recovery.
    pub throughput_dip_max: f64,
    /// The median share of throughput lost during a recovery.
    pub throughput_dip_p50: f64,
    /// Events generated per second (the workload's rate).
    pub rate: u64,
    /// Job recoveries in all.
    pub restarts: u32,
    /// Wall time of the whole run, in seconds.
    pub elapsed_s: f64,
    /// Each injection.
    pub faults: Vec<Injection>,
    /// Examples of what the checker found wrong.
    pub examples: Vec<String>,
    /// The command that replays this run.
    pub replay: String,
}

impl Report {
    /// The report of `run`'s injections `faults` with the checker's `findings`; `reasons`
    /// are failures found on the way (a job that failed, a fault that did not recover).
    pub fn new(
        run: RunFacts,
        faults: Vec<Injection>,
        findings: Findings,
        mut reasons: Vec<String>,
    ) -> Report {
        if !findings.exact() {
            reasons.push(format!(
                "the output is not exactly once: {} lost, {} duplicated, {} wrong",
                findings.lost, findings.duplicated, findings.wrong
            ));
        }
        let mut kinds: Vec<String> = faults.iter().map(|f| f.kind.clone()).collect();
        kinds.sort();
        kinds.dedup();
        let recovered = |pick: &dyn Fn(&Injection) -> bool| {
            Percentiles::of(
                faults
                    .iter()
                    .filter(|f| pick(f))
                    .filter_map(|f| f.recovery_ms)
                    .collect(),
            )
        };
        let coordinator = |f: &Injection| f.target == "coordinator";
        let mut dips: Vec<f64> = faults.iter().map(|f| f.throughput_dip).collect();
        dips.sort_by(f64::total_cmp);
        Report {
            seed: run.seed,
            duration_s: run.duration_s,
            isolated: run.isolated,
            injections: faults.len(),
            fault_kinds: kinds,
            lost: findings.lost,
            duplicated: findings.duplicated,
            wrong: findings.wrong,
            rows: findings.rows,
            verdict: if reasons.is_empty() { "pass" } else { "fail" }.into(),
            reasons,
            recovery_ms: recovered(&|_| true),
            node_recovery_ms: recovered(&|f| !coordinator(f)),
            coordinator_recovery_ms: recovered(&coordinator),
            outage_ms: Percentiles::of(faults.iter().filter_map(|f| f.outage_ms).collect()),
            throughput_dip_max: dips.last().copied().unwrap_or(0.0),
            throughput_dip_p50: dips.get(dips.len() / 2).copied().unwrap_or(0.0),
            rate: run.rate,
            restarts: faults.iter().map(|f| f.restarts).sum(),
            elapsed_s: 0.0,
            faults,
            examples: findings.examples,
            replay: run.replay,
        }
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chaos run: seed {}, {} s of faults, {} injections",
            self.seed, self.duration_s, self.injections
        );
        let _ = writeln!(out, "fault kinds: {}", self.fault_kinds.join(", "));
        for f in &self.faults {
            let recovery = f.recovery_ms.map_or("did not recover".into(), |ms| {
                format!("recovered in {ms} ms")
            });
            let _ = writeln!(
                out,
                "  {:>7.1} s  {:<18} {:<12} {:<18} held {:>5} ms, {recovery}, {} restarts, throughput dip {:.0}%",
                f.at_ms as f64 / 1000.0,
                f.kind,
                f.target,
                f.detail,
                f.held_ms,
                f.restarts,
                f.throughput_dip * 100.0
            );
        }
        let p = |x: &Percentiles| {
            format!(
                "p50 {} ms, p99 {} ms, max {} ms (n = {})",
                x.p50, x.p99, x.max, x.count
            )
        };
        let _ = writeln!(out, "recovery: {}", p(&self.recovery_ms));
        let _ = writeln!(out, "  node faults: {}", p(&self.node_recovery_ms));
        let _ = writeln!(
            out,
            "  coordinator faults: {}",
            p(&self.coordinator_recovery_ms)
        );
        let _ = writeln!(
            out,
            "throughput dip during recovery: median {:.0}%, worst {:.0}% (rate {} events/s); {} job restarts",
            self.throughput_dip_p50 * 100.0,
            self.throughput_dip_max * 100.0,
            self.rate,
            self.restarts
        );
        if self.verdict == "interrupted" {
            let _ = writeln!(out, "output: not checked");
        } else {
            let _ = writeln!(
                out,
                "output: {} rows, {} lost, {} duplicated, {} wrong",
                self.rows, self.lost, self.duplicated, self.wrong
            );
        }
        for e in &self.examples {
            let _ = writeln!(out, "  e.g. {e}");
        }
        let _ = writeln!(out, "verdict: {}", self.verdict.to_uppercase());
        for r in &self.reasons {
            let _ = writeln!(out, "  {r}");
        }
        if !self.passed() {
            let _ = writeln!(out, "replay: {}", self.replay);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!((p.p50, p.p99, p.max, p.count), (50, 99, 100, 100));
        let p = Percentiles::of(vec![7]);
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }
}

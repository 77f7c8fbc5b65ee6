//! Watermark alignment across the partitions of a source (`max_drift`), as Flink's source
//! coordinator does it: each source task reports the watermark of its slowest reading split
//! with every heartbeat (`TaskMetrics::source_watermark`; +∞ when all its splits are idle or
//! finished). After a heartbeat the coordinator sends, for every aligned source of a running
//! job (`max_drift` set, more than one partition), the reports of all its partitions to the
//! nodes running them when they changed ([`ToNode::AlignSource`]). There each partition
//! holds its splits within `max_drift` of the slowest *other* partition — its own watermark
//! it knows first-hand — and within the partition splits align at once.
//!
//! Staleness: a report is at most one heartbeat interval (500 ms) old when it arrives and goes
//! out on that heartbeat, so what a partition knows of the others is at most about one
//! heartbeat interval plus two network hops old. While watermarks only rise, a stale
//! watermark is below the true one: a partition waits longer than it needs to, it never runs
//! further ahead. A split that rejoins from idleness lowers its partition's report, and the
//! other partitions hear of it within that delay. Nothing is sent before every partition of
//! a deployment has reported, so partitions start out waiting (the others are at −∞ until
//! told) rather than running ahead.

use super::phase::Phase;
use super::Cluster;
use quiver_protocol::messages::ToNode;
use quiver_protocol::plan::OperatorKind;
use quiver_protocol::{Generation, OperatorId, PartitionId};
use std::collections::BTreeMap;

/// Each partition's watermark, as reported.
type Reports = Vec<(PartitionId, i64)>;

/// The reports last sent for each aligned source of a job, in one generation.
#[derive(Debug, Default)]
pub(super) struct SentReports {
    generation: Option<Generation>,
    sent: BTreeMap<OperatorId, Reports>,
}

impl SentReports {
    /// Records `reports` for `source` in `generation`; whether they differ from those sent
    /// (a new generation starts afresh).
    fn changed(&mut self, generation: Generation, source: OperatorId, reports: &Reports) -> bool {
        if self.generation != Some(generation) {
            self.sent.clear();
            self.generation = Some(generation);
        }
        self.sent.insert(source, reports.clone()).as_ref() != Some(reports)
    }
}

/// Every partition's report; `None` until every partition has reported.
fn all_reported(reports: impl IntoIterator<Item = (PartitionId, Option<i64>)>) -> Option<Reports> {
    let reports: Option<Reports> = reports
        .into_iter()
        .map(|(p, w)| w.map(|w| (p, w)))
        .collect();
    reports.filter(|r| !r.is_empty())
}

impl Cluster {
    /// After a heartbeat: sends the nodes running each aligned source the watermarks of its
    /// partitions, when they changed.
    pub(super) fn align_sources(&mut self) {
        let mut commands = Vec::new();
        for (&job, entry) in &mut self.jobs {
            let Phase::Running(running) = &mut entry.phase else {
                continue;
            };
            let generation = entry.record.generation;
            for op in &entry.plan.operators {
                let aligned = matches!(&op.kind, OperatorKind::Source(s) if s.max_drift.is_some());
                if !aligned || op.parallelism < 2 {
                    continue;
                }
                let tasks: Vec<_> = entry
                    .tasks
                    .iter()
                    .filter(|(t, _)| t.operator == op.id)
                    .collect();
                let reports = tasks
                    .iter()
                    .map(|(t, s)| (t.partition, s.metrics.source_watermark));
                let Some(watermarks) = all_reported(reports) else {
                    continue;
                };
                if !running.alignment.changed(generation, op.id, &watermarks) {
                    continue;
                }
                let mut nodes: Vec<_> = tasks.iter().map(|(_, s)| s.node).collect();
                nodes.sort();
                nodes.dedup();
                for node in nodes {
                    let command = ToNode::AlignSource {
                        job,
                        generation,
                        source: op.id,
                        watermarks: watermarks.clone(),
                    };
                    commands.push((node, command));
                }
            }
        }
        for (node, command) in commands {
            self.send(node, command);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_go_out_once_every_partition_has_reported() {
        let (p0, p1) = (PartitionId(0), PartitionId(1));
        assert_eq!(
            all_reported([(p0, Some(5)), (p1, Some(3))]),
            Some(vec![(p0, 5), (p1, 3)])
        );
        assert_eq!(all_reported([(p0, Some(5)), (p1, None)]), None);
        assert_eq!(all_reported([]), None);
    }

    #[test]
    fn reports_are_sent_when_they_change_and_again_in_a_new_generation() {
        let mut sent = SentReports::default();
        let (source, other) = (OperatorId(0), OperatorId(1));
        let first = vec![(PartitionId(0), 10), (PartitionId(1), 20)];
        let lower = vec![(PartitionId(0), 7), (PartitionId(1), 20)];
        assert!(sent.changed(Generation(1), source, &first));
        assert!(!sent.changed(Generation(1), source, &first));
        assert!(sent.changed(Generation(1), other, &first), "per source");
        assert!(
            sent.changed(Generation(1), source, &lower),
            "lower after a rejoin"
        );
        assert!(
            sent.changed(Generation(2), source, &lower),
            "a new deployment hears it"
        );
    }
}

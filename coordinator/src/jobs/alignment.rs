//! Watermark alignment across the partitions of a source (`max_drift`), as Flink's source
//! coordinator does it: each source task reports the watermark of its slowest reading split
//! with every heartbeat (`TaskMetrics::source_watermark`; +∞ when all its splits are idle or
//! finished), and a partition of a source with partitions on other nodes also whenever it has
//! risen a quarter of `max_drift` or fallen (`ToCoordinator::SourceWatermarks`, looked for
//! every 5 ms). After each, the coordinator sends, for every aligned source of a running job
//! (`max_drift` set, more than one partition), the reports of all its partitions to the nodes
//! running them when they changed ([`ToNode::AlignSource`]). There each partition holds its
//! splits within `max_drift` of the slowest partition on another node; those on its own node
//! it knows first-hand (they read in step), and within the partition splits align at once.
//!
//! Staleness: a report is at most a quarter of `max_drift` of event time behind its partition
//! (a heartbeat, 250 ms, for one that rose less since) plus 5 ms when it arrives, and goes out
//! at once, so what a partition knows of those elsewhere is about that plus two network hops
//! old. Relayed once a heartbeat, a split could move on by `max_drift` of event time per
//! heartbeat at most: W1 with `max_drift = "10s"` on two nodes read 40,000 events/s
//! (BENCHMARKS.md). While watermarks only rise, a stale watermark is below the true one: a
//! partition waits longer than it needs to, it never runs further ahead. A split that rejoins
//! from idleness lowers its partition's report, which is reported at once (within 5 ms).
//! Nothing is sent before every partition of a deployment has reported, so partitions start
//! out waiting (the others are at −∞ until told) rather than running ahead.

use super::phase::Phase;
use super::Cluster;
use quiver_protocol::messages::{SourceWatermark, ToNode};
use quiver_protocol::plan::OperatorKind;
use quiver_protocol::{Generation, JobId, OperatorId, PartitionId};
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
    /// Reports of source partitions' alignment watermarks between heartbeats
    /// ([`ToCoordinator::SourceWatermarks`](quiver_protocol::messages::ToCoordinator)): taken
    /// as a heartbeat's would be, and relayed at once.
    pub(crate) fn source_watermarks(&mut self, reports: Vec<SourceWatermark>) {
        let mut jobs = Vec::new();
        for (job, generation, task, watermark) in reports {
            if let Some(status) = self.task_mut(job, generation, task) {
                if !status.finished {
                    status.metrics.source_watermark = Some(watermark);
                    jobs.push(job);
                }
            }
        }
        // Up to every 5 ms per node: only the jobs reported on, not every job.
        self.align_sources_of(|job| jobs.contains(&job));
    }

    /// After a heartbeat: sends the nodes running each aligned source the watermarks of its
    /// partitions, when they changed.
    pub(super) fn align_sources(&mut self) {
        self.align_sources_of(|_| true);
    }

    /// [`Cluster::align_sources`] for the jobs `which` selects.
    fn align_sources_of(&mut self, which: impl Fn(JobId) -> bool) {
        let mut commands = Vec::new();
        for (&job, entry) in self.jobs.iter_mut().filter(|(&job, _)| which(job)) {
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

    /// The relayed watermarks among `commands`.
    fn relayed(commands: Vec<ToNode>) -> Vec<Vec<(PartitionId, i64)>> {
        commands
            .into_iter()
            .filter_map(|c| match c {
                ToNode::AlignSource { watermarks, .. } => Some(watermarks),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reports_between_heartbeats_are_relayed_at_once() {
        use super::super::test_support::{Running, SPEC};
        // The test support's job (a generator at parallelism 2), its source aligned.
        let aligned = SPEC.replacen("count = 100", "count = 100\nmax_drift = \"10s\"", 1);
        assert_ne!(aligned, SPEC);
        let mut running = Running::start_spec(&aligned);
        let (job, generation) = (running.job, running.generation());
        let mut sources: Vec<quiver_protocol::messages::TaskId> = running.tasks();
        sources.retain(|t| {
            let op = running.entry().plan.operator(t.operator).expect("planned");
            matches!(op.kind, OperatorKind::Source(_))
        });
        sources.sort_by_key(|t| t.partition);
        let (p0, p1) = (sources[0], sources[1]);
        running.commands();
        running
            .cluster
            .source_watermarks(vec![(job, generation, p0, 1_000)]);
        assert_eq!(
            relayed(running.commands()),
            Vec::<Vec<_>>::new(),
            "partition 1 has not reported"
        );
        running
            .cluster
            .source_watermarks(vec![(job, generation, p1, 5_000)]);
        let both = vec![(p0.partition, 1_000), (p1.partition, 5_000)];
        assert_eq!(relayed(running.commands()), vec![both.clone()]);
        running
            .cluster
            .source_watermarks(vec![(job, generation, p0, 2_000)]);
        let moved = vec![(p0.partition, 2_000), (p1.partition, 5_000)];
        assert_eq!(relayed(running.commands()), vec![moved]);
        running
            .cluster
            .source_watermarks(vec![(job, Generation(generation.0 + 7), p0, 9_000)]);
        assert_eq!(
            relayed(running.commands()),
            Vec::<Vec<_>>::new(),
            "another generation's report is not this one's"
        );
    }
}

//! The alignment watermarks of source partitions aligned with partitions on other nodes
//! (`max_drift`), sent to the coordinator between heartbeats while they move
//! (`ToCoordinator::SourceWatermarks`), which relays them at once. With the heartbeat alone, a
//! partition waiting for one on another node learnt of its progress once every 250 ms, so a
//! source read faster than real time moved on by at most `max_drift` of event time per
//! heartbeat.

use quiver_protocol::messages::{SourceWatermark as Report, TaskId};
use quiver_protocol::{Generation, JobId};
use std::collections::HashMap;
use std::time::Duration;

/// How often the node looks for moved alignment watermarks to report, while it runs a
/// partition of a source aligned across nodes (a heartbeat apart otherwise).
pub(super) const ALIGNMENT_REPORT_INTERVAL: Duration = Duration::from_millis(20);

/// What the node last reported of each task's alignment watermark.
#[derive(Debug, Default)]
pub(super) struct SentWatermarks {
    sent: HashMap<(JobId, Generation, TaskId), i64>,
}

impl SentWatermarks {
    /// The reports of `current` whose watermark differs from the one last reported for their
    /// task (taken as reported now); tasks not in `current` are forgotten.
    pub(super) fn changed(&mut self, current: Vec<Report>) -> Vec<Report> {
        let mut now = HashMap::with_capacity(current.len());
        let changed = current
            .into_iter()
            .filter(|&(job, generation, task, watermark)| {
                now.insert((job, generation, task), watermark);
                self.sent.get(&(job, generation, task)) != Some(&watermark)
            })
            .collect();
        self.sent = now;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::{OperatorId, PartitionId};

    fn task(partition: u32) -> TaskId {
        TaskId {
            operator: OperatorId(0),
            partition: PartitionId(partition),
        }
    }

    #[test]
    fn only_moved_watermarks_are_reported_again() {
        let (job, generation) = (JobId(1), Generation(1));
        let mut sent = SentWatermarks::default();
        let first = vec![
            (job, generation, task(0), 100),
            (job, generation, task(1), 50),
        ];
        assert_eq!(sent.changed(first.clone()), first, "all new");
        assert_eq!(sent.changed(first.clone()), vec![], "nothing moved");
        let moved = vec![
            (job, generation, task(0), 100),
            (job, generation, task(1), 70),
        ];
        assert_eq!(sent.changed(moved), vec![(job, generation, task(1), 70)]);
        // A task that went away and came back (a new deployment) is reported afresh.
        assert_eq!(sent.changed(vec![]), vec![]);
        assert_eq!(
            sent.changed(vec![(job, generation, task(1), 70)]),
            vec![(job, generation, task(1), 70)]
        );
        assert_eq!(
            sent.changed(vec![(job, Generation(2), task(1), 70)]),
            vec![(job, Generation(2), task(1), 70)],
            "another generation's task is another task"
        );
    }
}

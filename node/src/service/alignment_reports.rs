//! The alignment watermarks of source partitions aligned with partitions on other nodes
//! (`max_drift`), sent to the coordinator between heartbeats as they move, as
//! `ToCoordinator::SourceWatermarks`, which the coordinator relays at once. With the heartbeat
//! alone, a partition waiting for one on another node learnt of its progress once every
//! 250 ms, so a source read faster than real time moved on by at most `max_drift` of event
//! time per heartbeat.
//!
//! A watermark is reported again once it has risen a quarter of `max_drift` (a partition on
//! another node waits only when it is `max_drift` ahead of what it heard, so it hears of every
//! quarter in time), and at once when it falls (a split back from idleness). A source replaying
//! history, whose event time runs thousands of times faster than the clock, reports at every
//! look (every 5 ms); one in real time about once every `max_drift` / 4 of wall time, leaving
//! the rest to the heartbeat. (Reporting every move every 20 ms made two nodes running W1 at
//! 1,000 events/s with `max_drift = "10s"` use 30–50% more CPU than without `max_drift`.)

use quiver_protocol::messages::{SourceWatermark as Report, TaskId};
use quiver_protocol::{Generation, JobId};
use std::collections::HashMap;
use std::time::Duration;

/// How often the node looks for moved alignment watermarks to report, while it runs a
/// partition of a source aligned across nodes (a heartbeat apart otherwise).
pub(super) const ALIGNMENT_REPORT_INTERVAL: Duration = Duration::from_millis(5);

/// A watermark is reported again once it has risen `max_drift` / `STEPS_PER_DRIFT`.
const STEPS_PER_DRIFT: i64 = 4;

/// What the node last reported of each task's alignment watermark.
#[derive(Debug, Default)]
pub(super) struct SentWatermarks {
    sent: HashMap<(JobId, Generation, TaskId), i64>,
}

impl SentWatermarks {
    /// The reports of `current` (each with its source's `max_drift` in ms) that are due: a
    /// task not reported before, one whose watermark has risen a step (see the module) since
    /// it was last reported, or one whose watermark fell (a split back from idleness: the
    /// partitions elsewhere must not run ahead of it). Those are taken as reported now; tasks
    /// not in `current` are forgotten.
    pub(super) fn due(&mut self, current: Vec<(Report, i64)>) -> Vec<Report> {
        let mut now = HashMap::with_capacity(current.len());
        let due = current
            .into_iter()
            .filter_map(|(report, drift)| {
                let (job, generation, task, watermark) = report;
                let key = (job, generation, task);
                let step = (drift / STEPS_PER_DRIFT).max(1);
                match self.sent.get(&key) {
                    Some(&last) if (last..last.saturating_add(step)).contains(&watermark) => {
                        now.insert(key, last);
                        None
                    }
                    _ => {
                        now.insert(key, watermark);
                        Some(report)
                    }
                }
            })
            .collect();
        self.sent = now;
        due
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

    /// A source with `max_drift = "400ms"`: a step of 100 ms.
    const DRIFT: i64 = 400;

    #[test]
    fn a_watermark_is_reported_again_once_it_moved_a_quarter_of_max_drift() {
        let (job, generation) = (JobId(1), Generation(1));
        let at = |partition, watermark| ((job, generation, task(partition), watermark), DRIFT);
        let mut sent = SentWatermarks::default();
        let first = vec![at(0, 1_000), at(1, 500)];
        assert_eq!(
            sent.due(first.clone()),
            vec![
                (job, generation, task(0), 1_000),
                (job, generation, task(1), 500)
            ],
            "all new"
        );
        assert_eq!(sent.due(first), vec![], "nothing moved");
        assert_eq!(
            sent.due(vec![at(0, 1_099), at(1, 600)]),
            vec![(job, generation, task(1), 600)]
        );
        // Partition 0's small moves add up from what was last reported (1,000), not from
        // the last look.
        assert_eq!(sent.due(vec![at(0, 1_099), at(1, 650)]), vec![]);
        assert_eq!(
            sent.due(vec![at(0, 1_100), at(1, 699)]),
            vec![(job, generation, task(0), 1_100)]
        );
        // A fall (a split back from idleness, from +∞) is due at once, however small.
        assert_eq!(
            sent.due(vec![at(0, i64::MAX), at(1, 699)]),
            vec![(job, generation, task(0), i64::MAX)]
        );
        assert_eq!(
            sent.due(vec![at(0, 1_150), at(1, 599)]),
            vec![
                (job, generation, task(0), 1_150),
                (job, generation, task(1), 599)
            ]
        );
        // A task that went away and came back (a new deployment) is reported afresh.
        assert_eq!(sent.due(vec![]), vec![]);
        assert_eq!(
            sent.due(vec![at(1, 699)]),
            vec![(job, generation, task(1), 699)]
        );
        assert_eq!(
            sent.due(vec![((job, Generation(2), task(1), 699), DRIFT)]),
            vec![(job, Generation(2), task(1), 699)],
            "another generation's task is another task"
        );
        // With `max_drift = "0s"`, every move is due.
        let mut exact = SentWatermarks::default();
        let zero = |watermark| vec![((job, generation, task(0), watermark), 0)];
        assert_eq!(exact.due(zero(5)).len(), 1);
        assert_eq!(exact.due(zero(5)).len(), 0);
        assert_eq!(exact.due(zero(6)).len(), 1);
    }
}

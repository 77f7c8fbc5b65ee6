//! The checkpoint schedule of one job, as pure decisions over time and acknowledgements.
//!
//! Every `interval` a checkpoint is triggered at the sources; it completes when every task
//! acknowledged it (uploaded its snapshot), and times out otherwise. Savepoints are
//! checkpoints a user asked for. When every bounded source has run dry, one last checkpoint
//! is triggered at once: its barrier precedes the sources' end, and its commit publishes the
//! job's final output.

use quiver_protocol::messages::{SnapshotKind, TaskId};
use quiver_protocol::CheckpointId;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A checkpoint waiting for acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its id.
    pub checkpoint: CheckpointId,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// The final checkpoint of exhausted sources.
    pub last: bool,
    /// When it was triggered.
    pub started: Instant,
    /// Tasks that have not acknowledged yet.
    pub missing: BTreeSet<TaskId>,
}

/// What to trigger now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// The new checkpoint's id.
    pub checkpoint: CheckpointId,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// The final checkpoint of exhausted sources.
    pub last: bool,
}

/// The checkpoint schedule of one job deployment.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Option<Duration>,
    timeout: Duration,
    next: u64,
    last_trigger: Instant,
    savepoint_requested: bool,
    /// A checkpoint is wanted before the interval passes (a model swap waits for one).
    checkpoint_requested: bool,
    pending: Option<Pending>,
}

impl Schedule {
    /// A schedule taking a checkpoint every `interval` (`None`: savepoints only), with ids
    /// from `next`. A checkpoint times out after ten intervals (at least 10 s).
    pub fn new(interval: Option<Duration>, next: u64, now: Instant) -> Schedule {
        let timeout = interval.map_or(Duration::from_secs(60), |i| {
            (i * 10).max(Duration::from_secs(10))
        });
        Schedule {
            interval,
            timeout,
            next: next.max(1),
            last_trigger: now,
            savepoint_requested: false,
            checkpoint_requested: false,
            pending: None,
        }
    }

    /// The id the next checkpoint will get.
    pub fn next_id(&self) -> u64 {
        self.next
    }

    /// Takes the next id for something that is no checkpoint (an imported model version),
    /// so no checkpoint ever gets it.
    pub fn take_id(&mut self) -> u64 {
        let id = self.next;
        self.next += 1;
        id
    }

    /// The checkpoint in flight.
    pub fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    /// Asks for a savepoint at the next opportunity.
    pub fn request_savepoint(&mut self) {
        self.savepoint_requested = true;
    }

    /// Asks for a checkpoint at the next opportunity, before the interval passes (what a
    /// model swap waits for: its barrier switches the learners).
    pub fn request_checkpoint(&mut self) {
        self.checkpoint_requested = true;
    }

    /// What to trigger now, if anything: a requested savepoint, the final checkpoint once
    /// every source ran dry, or a periodic checkpoint when the interval has passed. One
    /// checkpoint is in flight at a time; `tasks` must all acknowledge it.
    pub fn due(
        &mut self,
        now: Instant,
        sources_exhausted: bool,
        tasks: impl IntoIterator<Item = TaskId>,
    ) -> Option<Trigger> {
        if self.pending.is_some() {
            return None;
        }
        let periodic = self
            .interval
            .is_some_and(|i| now.duration_since(self.last_trigger) >= i);
        let last = sources_exhausted && self.interval.is_some();
        let early = self.checkpoint_requested && self.interval.is_some();
        let kind = if self.savepoint_requested {
            SnapshotKind::Savepoint
        } else if last || periodic || early {
            SnapshotKind::Checkpoint
        } else {
            return None;
        };
        self.savepoint_requested = false;
        self.checkpoint_requested = false;
        let checkpoint = CheckpointId(self.next);
        self.next += 1;
        // A periodic checkpoint keeps the schedule's phase (the caller's tick is coarser than
        // the interval: resetting to `now` would stretch every period to the next tick); one
        // that fell a whole interval behind, or came early, starts the phase again.
        self.last_trigger = match self.interval {
            Some(i) if periodic && !early && now.duration_since(self.last_trigger) < 2 * i => {
                self.last_trigger + i
            }
            _ => now,
        };
        self.pending = Some(Pending {
            checkpoint,
            kind,
            last,
            started: now,
            missing: tasks.into_iter().collect(),
        });
        Some(Trigger {
            checkpoint,
            kind,
            last,
        })
    }

    /// `task` acknowledged `checkpoint`: returns the pending checkpoint once every task did.
    pub fn ack(&mut self, checkpoint: CheckpointId, task: TaskId) -> Option<Pending> {
        let pending = self.pending.as_mut()?;
        if pending.checkpoint != checkpoint {
            return None;
        }
        pending.missing.remove(&task);
        if pending.missing.is_empty() {
            self.pending.take()
        } else {
            None
        }
    }

    /// Whether `checkpoint` is the one in flight.
    pub fn is_pending(&self, checkpoint: CheckpointId) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.checkpoint == checkpoint)
    }

    /// The checkpoint in flight if it has waited longer than the timeout.
    pub fn timed_out(&self, now: Instant) -> Option<(CheckpointId, Duration)> {
        let pending = self.pending.as_ref()?;
        (now.duration_since(pending.started) > self.timeout)
            .then_some((pending.checkpoint, self.timeout))
    }

    /// Drops the checkpoint in flight (a failure or a timeout).
    pub fn abort(&mut self) -> Option<Pending> {
        self.pending.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::{OperatorId, PartitionId};

    fn task(p: u32) -> TaskId {
        TaskId {
            operator: OperatorId(0),
            partition: PartitionId(p),
        }
    }

    #[test]
    fn triggers_every_interval_and_completes_on_the_last_ack() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Some(Duration::from_secs(1)), 1, t0);
        assert_eq!(s.due(t0, false, [task(0), task(1)]), None);
        let t = s
            .due(t0 + Duration::from_secs(1), false, [task(0), task(1)])
            .unwrap();
        assert_eq!((t.checkpoint, t.last), (CheckpointId(1), false));
        // One in flight at a time.
        assert_eq!(s.due(t0 + Duration::from_secs(5), false, [task(0)]), None);
        assert_eq!(s.ack(t.checkpoint, task(0)), None);
        assert_eq!(
            s.ack(CheckpointId(7), task(1)),
            None,
            "other ids do not count"
        );
        let done = s.ack(t.checkpoint, task(1)).unwrap();
        assert!(done.missing.is_empty());
        assert!(s.pending().is_none());
    }

    #[test]
    fn periods_keep_their_phase_on_a_coarse_tick_and_a_requested_checkpoint_comes_at_once() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Schedule::new(Some(Duration::from_secs(1)), 1, t0);
        let mut fired = Vec::new();
        // A 250 ms tick: due at 1 s, 2 s, 3 s ... fire on the ticks at or after those.
        for tick in 1..=16u64 {
            let now = t0 + ms(250 * tick) + ms(10);
            if let Some(trigger) = s.due(now, false, [task(0)]) {
                fired.push(250 * tick);
                s.ack(trigger.checkpoint, task(0));
            }
        }
        assert_eq!(fired, vec![1000, 2000, 3000, 4000], "not every 1.25 s");
        // Asked for: at once, not at 5 s.
        s.request_checkpoint();
        let trigger = s.due(t0 + ms(4100), false, [task(0)]).expect("at once");
        assert_eq!(trigger.kind, SnapshotKind::Checkpoint);
    }

    #[test]
    fn the_final_checkpoint_comes_at_once_when_sources_are_exhausted() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Some(Duration::from_secs(60)), 4, t0);
        let t = s.due(t0, true, [task(0)]).unwrap();
        assert_eq!((t.checkpoint, t.last), (CheckpointId(4), true));
    }

    #[test]
    fn savepoints_need_no_interval_and_get_the_next_id() {
        let t0 = Instant::now();
        let mut s = Schedule::new(None, 1, t0);
        assert_eq!(s.due(t0 + Duration::from_secs(100), true, [task(0)]), None);
        s.request_savepoint();
        let t = s.due(t0, false, [task(0)]).unwrap();
        assert_eq!(
            (t.kind, t.checkpoint),
            (SnapshotKind::Savepoint, CheckpointId(1))
        );
    }

    #[test]
    fn a_stuck_checkpoint_times_out_and_can_be_aborted() {
        let t0 = Instant::now();
        let mut s = Schedule::new(Some(Duration::from_millis(500)), 1, t0);
        let t = s
            .due(t0 + Duration::from_secs(1), false, [task(0)])
            .unwrap();
        assert_eq!(s.timed_out(t0 + Duration::from_secs(2)), None);
        let (id, _) = s.timed_out(t0 + Duration::from_secs(12)).unwrap();
        assert_eq!(id, t.checkpoint);
        assert!(s.abort().is_some());
        assert!(s.timed_out(t0 + Duration::from_secs(60)).is_none());
    }
}

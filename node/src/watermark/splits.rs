//! The event time of one source partition over its splits: a watermark per split, idleness
//! (`idle_timeout`) and alignment (`max_drift`).
//!
//! Each split has its own bounded-out-of-orderness [`WatermarkGenerator`], and the partition's
//! watermark is the minimum over its splits (a [`WatermarkTracker`] with one input per split),
//! so a split read ahead of the others never makes their records late, whatever order the
//! splits are read in. A finished split counts as +∞.
//!
//! - **Idleness.** A split without records for `idle_timeout` (and none waiting to be taken)
//!   is idle: it is left out of the minimum until records come, and then until its watermark
//!   catches up with the partition's (as the tracker does for any input back from idle), so
//!   it holds nothing back; its records at or below the partition's watermark by then are
//!   late. When every unfinished split is idle the partition is idle: it says
//!   [`TimeSignal::Idle`] once, and its next records make it say its watermark again, which
//!   puts it back into its consumers' minimum.
//! - **Alignment.** With `max_drift`, a split whose watermark is more than `max_drift` ahead
//!   of the slowest — the slowest reading split of this partition, or the slowest of the
//!   source's partitions on other nodes as last reported
//!   ([`SplitTimes::set_slowest_elsewhere`]; those on its node it knows first-hand, reading
//!   in step, below) — is *ahead*: it must not read until the gap closes
//!   ([`SplitTimes::may_read`]). Idle and finished splits are never the slowest; a split
//!   without a record yet is (at −∞), so the others wait for its first batch. A split waiting
//!   ahead does not go idle. Reads are checked between batches, so a split may overshoot by
//!   one batch.
//! - **In step.** A partition that reads [`SplitTimes::in_step`] with the source's partitions
//!   on its node waits the same way when a split is more than the given drift ahead of the
//!   slowest of them ([`SplitTimes::set_slowest_beside`]), with or without `max_drift`.
//!
//! Time comes in as `now`, so tests drive it with a fake clock.

use super::{WatermarkGenerator, WatermarkTracker};
use std::time::{Duration, Instant};

/// What a source partition tells its consumers about event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSignal {
    /// Its watermark advanced to this, or it speaks again after being idle (its current one).
    Watermark(i64),
    /// Every unfinished split is idle: leave this partition out of the minimum.
    Idle,
}

/// The event-time settings of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSettings {
    /// `max_out_of_orderness` in ms.
    pub lag_ms: i64,
    /// `idle_timeout`.
    pub idle_timeout: Option<Duration>,
    /// `max_drift` in ms.
    pub max_drift_ms: Option<i64>,
}

/// Reading in step with the source's other partitions on the same node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InStep {
    /// The slowest of their alignment watermarks (−∞ until the first report).
    slowest: i64,
    /// How far ahead of it, in ms, a split may read.
    drift_ms: i64,
}

/// Where a split stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Reading (or allowed to).
    Reading,
    /// Too far ahead of the slowest split: not reading.
    Ahead,
    /// No records for `idle_timeout`: left out of the minimum.
    Idle,
    /// All read: +∞.
    Finished,
}

#[derive(Debug, Clone)]
struct SplitTime {
    generator: WatermarkGenerator,
    /// When its last record came (or it started, or stopped waiting ahead).
    last_record: Instant,
    status: Status,
}

impl SplitTime {
    /// Its watermark; −∞ before its first record.
    fn watermark(&self) -> i64 {
        self.generator.watermark().unwrap_or(i64::MIN)
    }
}

/// The event time of one source partition's splits (see the module doc).
#[derive(Debug, Clone)]
pub struct SplitTimes {
    splits: Vec<SplitTime>,
    tracker: WatermarkTracker,
    idle_timeout: Option<Duration>,
    max_drift_ms: Option<i64>,
    /// The slowest watermark of the source's partitions on other nodes, when this partition
    /// aligns with them (−∞ until the first report).
    elsewhere: Option<i64>,
    /// When this partition reads in step with the source's partitions on its node: the
    /// slowest of them and how far ahead of it a split may read.
    in_step: Option<InStep>,
    /// The partition said [`TimeSignal::Idle`] and has not spoken since.
    idle: bool,
}

impl SplitTimes {
    /// `splits` splits read with `settings` from `now`; `other_partitions`: the source has
    /// other partitions to align with (their slowest watermark is −∞ until reported).
    pub fn new(
        splits: usize,
        settings: TimeSettings,
        other_partitions: bool,
        now: Instant,
    ) -> SplitTimes {
        let split = SplitTime {
            generator: WatermarkGenerator::new(settings.lag_ms),
            last_record: now,
            status: Status::Reading,
        };
        SplitTimes {
            splits: vec![split; splits],
            tracker: WatermarkTracker::new(splits),
            idle_timeout: settings.idle_timeout,
            max_drift_ms: settings.max_drift_ms,
            elsewhere: (other_partitions && settings.max_drift_ms.is_some()).then_some(i64::MIN),
            in_step: None,
            idle: false,
        }
    }

    /// Reads in step with the source's other partitions on this node: a split more than
    /// `drift_ms` ahead of the slowest of them ([`SplitTimes::set_slowest_beside`]; −∞
    /// until reported) waits, as with `max_drift`.
    pub fn in_step(mut self, drift_ms: i64) -> SplitTimes {
        self.in_step = Some(InStep {
            slowest: i64::MIN,
            drift_ms: drift_ms.max(0),
        });
        self
    }

    /// Reading starts at `now`: every split's idle timeout starts afresh (a deployment may
    /// wait a while between opening the splits and reading them).
    pub fn start(&mut self, now: Instant) {
        for s in &mut self.splits {
            s.last_record = now;
        }
    }

    /// Split `split` read records with these event times at `now`.
    pub fn records(
        &mut self,
        split: usize,
        event_times: impl IntoIterator<Item = i64>,
        now: Instant,
    ) -> Vec<TimeSignal> {
        let Some(s) = self.splits.get_mut(split) else {
            return Vec::new();
        };
        let before = s.generator.watermark();
        event_times.into_iter().for_each(|t| s.generator.observe(t));
        let Some(watermark) = s.generator.watermark() else {
            return Vec::new();
        };
        s.last_record = now;
        let back = s.status == Status::Idle;
        if back {
            s.status = Status::Reading;
        }
        if before == Some(watermark) && !back {
            return Vec::new();
        }
        let advanced = self.tracker.update(split, watermark);
        self.signals(advanced)
    }

    /// Split `split` has no more records. The last split to finish says nothing: the
    /// partition has ended, and its end is the runtime's business.
    pub fn finished(&mut self, split: usize) -> Vec<TimeSignal> {
        let Some(s) = self.splits.get_mut(split) else {
            return Vec::new();
        };
        s.status = Status::Finished;
        let advanced = self.tracker.end(split);
        if self.all_finished() {
            return Vec::new();
        }
        self.signals(advanced)
    }

    /// Marks the splits without records for `idle_timeout` at `now` idle; `waiting(i)`: split
    /// `i` has records read and not yet taken (it is not idle, only not taken yet).
    pub fn tick(&mut self, now: Instant, waiting: impl Fn(usize) -> bool) -> Vec<TimeSignal> {
        let Some(timeout) = self.idle_timeout else {
            return Vec::new();
        };
        let mut advanced = None;
        for (i, s) in self.splits.iter_mut().enumerate() {
            let quiet = now.saturating_duration_since(s.last_record) >= timeout;
            if s.status == Status::Reading && quiet && !waiting(i) {
                s.status = Status::Idle;
                advanced = self.tracker.set_idle(i).or(advanced);
            }
        }
        self.signals(advanced)
    }

    /// Which splits may read now: all but the finished ones and, with `max_drift`, those
    /// whose watermark is more than `max_drift` ahead of the slowest (module doc). A split
    /// that stops waiting ahead starts its idle timeout afresh at `now`.
    pub fn may_read(&mut self, now: Instant) -> Vec<bool> {
        let beside = self
            .in_step
            .map_or(i64::MAX, |s| s.slowest.saturating_add(s.drift_ms));
        let limit = self
            .max_drift_ms
            .map_or(i64::MAX, |drift| self.slowest().saturating_add(drift))
            .min(beside);
        self.splits
            .iter_mut()
            .map(|s| match s.status {
                Status::Finished => false,
                Status::Idle => true,
                Status::Reading | Status::Ahead => {
                    let ahead = s.watermark() > limit;
                    if ahead {
                        s.status = Status::Ahead;
                    } else if s.status == Status::Ahead {
                        s.status = Status::Reading;
                        s.last_record = now;
                    }
                    !ahead
                }
            })
            .collect()
    }

    /// The slowest watermark alignment holds the splits to: of this partition's reading
    /// splits and of the other partitions.
    fn slowest(&self) -> i64 {
        self.alignment_watermark()
            .min(self.elsewhere.unwrap_or(i64::MAX))
    }

    /// What this partition reports for aligning the source's partitions: the watermark of its
    /// slowest reading (not idle, not finished) split, −∞ while one has no record yet, +∞ when
    /// none reads.
    pub fn alignment_watermark(&self) -> i64 {
        self.splits
            .iter()
            .filter(|s| matches!(s.status, Status::Reading | Status::Ahead))
            .map(SplitTime::watermark)
            .min()
            .unwrap_or(i64::MAX)
    }

    /// These times for a partition whose source has every partition on its node: those read
    /// [`SplitTimes::in_step`] with it, known first-hand, so it waits for no report of theirs
    /// (and ignores any, see [`SplitTimes::set_slowest_elsewhere`]).
    pub fn all_partitions_here(self) -> SplitTimes {
        SplitTimes {
            elsewhere: None,
            ..self
        }
    }

    /// The slowest watermark of the source's partitions on other nodes moved to `watermark`
    /// (ignored when this partition does not align with others elsewhere).
    pub fn set_slowest_elsewhere(&mut self, watermark: i64) {
        if let Some(slowest) = &mut self.elsewhere {
            *slowest = watermark;
        }
    }

    /// The slowest watermark of the source's other partitions on this node moved to
    /// `watermark` (ignored unless this partition reads [`SplitTimes::in_step`]).
    pub fn set_slowest_beside(&mut self, watermark: i64) {
        if let Some(in_step) = &mut self.in_step {
            in_step.slowest = watermark;
        }
    }

    /// The slowest watermark of the source's other partitions on this node, as last set.
    pub fn slowest_beside(&self) -> Option<i64> {
        self.in_step.map(|s| s.slowest)
    }

    /// Whether a split waits ahead of the slowest (as [`SplitTimes::may_read`] last found).
    pub fn any_ahead(&self) -> bool {
        self.splits.iter().any(|s| s.status == Status::Ahead)
    }

    /// Whether every split has finished (also when there are none).
    pub fn all_finished(&self) -> bool {
        self.splits.iter().all(|s| s.status == Status::Finished)
    }

    /// The partition's watermark so far (`i64::MIN` before any).
    pub fn watermark(&self) -> i64 {
        self.tracker.current()
    }

    /// What to say after the minimum moved to `advanced` (if it did): the new watermark,
    /// and whether the partition went idle or speaks again.
    fn signals(&mut self, advanced: Option<i64>) -> Vec<TimeSignal> {
        let mut signals: Vec<TimeSignal> =
            advanced.map(TimeSignal::Watermark).into_iter().collect();
        let idle = self.splits.iter().any(|s| s.status == Status::Idle)
            && self
                .splits
                .iter()
                .all(|s| matches!(s.status, Status::Idle | Status::Finished));
        if idle && !self.idle {
            signals.push(TimeSignal::Idle);
        } else if !idle && self.idle && advanced.is_none() {
            signals.push(TimeSignal::Watermark(self.tracker.current()));
        }
        self.idle = idle;
        signals
    }
}

#[cfg(test)]
mod tests;

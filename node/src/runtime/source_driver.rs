//! The source driver: reads a source partition's splits without blocking its task, and turns
//! what they read into records and event-time signals for the task's chain.
//!
//! Each split assigned to the partition (`crate::sources::splits`) has at most one read in
//! flight. A reader that may block (a file) reads a batch on a blocking thread and hands it
//! back to the task as a message; one that only computes (the generator) reads in place. The
//! task stays free meanwhile: checkpoint barriers, idleness checks and alignment updates are
//! never held up by a read, so a split with nothing to read (a pipe) goes idle instead of
//! stalling its partition, and the splits are read side by side, each batch as it comes.
//!
//! A split's checkpointed position is the one after the last batch the task emitted from it;
//! a batch read but not yet emitted when a barrier passes is read again after a restore.
//! Event time, idleness and alignment are decided by [`SplitTimes`].

use super::latency;
use super::saved_state::SavedAs;
use crate::operator::{KeyGroupState, OperatorError, Source};
use crate::sources::splits::{self, Split, SplitProgress, SplitState};
use crate::watermark::splits::{SplitTimes, TimeSettings, TimeSignal};
use quiver_protocol::batch::Batch;
use quiver_protocol::codec::{self, CodecError};
use quiver_protocol::spec::{SourceKind, SourceSpec};
use quiver_protocol::KeyGroup;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records per batch at most.
const MAX_BATCH: usize = super::gate::MAX_BATCH;

/// How far (ms of event time) a split of a generated source may read ahead of the slowest of
/// the source's partitions on its node, when the source sets no `max_drift`.
const IN_STEP_DRIFT_MS: i64 = 1_000;

/// Whether the partitions of `spec` on one node read in step (see
/// [`super::source_peers`]): a generated source's (a partition can always produce its next
/// batch at once, so waiting for it costs nothing) and any source with `max_drift`. Other
/// sources read as their data comes: a partition waiting on a quiet file or pipe would hold
/// back the others' records, not only their watermark.
pub(crate) fn reads_in_step(spec: &SourceSpec) -> bool {
    spec.max_drift.is_some() || matches!(spec.kind, SourceKind::Generator(_))
}

/// One split of the partition.
struct SplitSlot {
    split: Split,
    /// Its reader: `None` while a read is in flight, and once it finished.
    reader: Option<Box<dyn Source>>,
    /// How far the task emitted: what a checkpoint records.
    progress: SplitProgress,
    /// Records its reader skipped as malformed so far.
    skipped: u64,
    /// A read came back with records the task has not taken yet (set off the task).
    waiting: Arc<AtomicBool>,
}

/// A batch to read from one split, off the task when its reader blocks.
pub(crate) struct Read {
    slot: usize,
    reader: Box<dyn Source>,
    max: usize,
    waiting: Arc<AtomicBool>,
}

impl Read {
    /// Whether the read may block on I/O (it then runs on a blocking thread).
    pub(crate) fn blocks(&self) -> bool {
        self.reader.blocks()
    }

    /// Reads the batch, stamped with when the read returned it (`Batch::read_at_us`).
    pub(crate) fn run(mut self) -> ReadDone {
        let batch = self
            .reader
            .poll_batch(self.max)
            .map(|b| b.map(|b| b.with_read_at_us(Some(latency::unix_micros()))));
        if matches!(&batch, Ok(Some(records)) if !records.is_empty()) {
            self.waiting.store(true, Ordering::Release);
        }
        ReadDone {
            slot: self.slot,
            reader: self.reader,
            batch,
        }
    }
}

/// A finished [`Read`]: the reader back, and what it read.
pub(crate) struct ReadDone {
    slot: usize,
    reader: Box<dyn Source>,
    batch: Result<Option<Batch>, OperatorError>,
}

/// What the partition hands its chain after an event, in this order.
#[derive(Debug, Default)]
pub(crate) struct Produced {
    /// Records to emit, in the source's schema.
    pub(crate) records: Batch,
    /// Records skipped as malformed.
    pub(crate) skipped: u64,
    /// Event-time signals to emit after the records.
    pub(crate) signals: Vec<TimeSignal>,
    /// Every split has finished now.
    pub(crate) ended: bool,
}

/// The source of a source task: its splits, their readers and their event time.
pub(crate) struct SourceDriver {
    pub(crate) name: String,
    /// The schema its saved positions carry.
    pub(crate) saved_as: SavedAs,
    slots: Vec<SplitSlot>,
    time: SplitTimes,
    /// Records per second for this partition; 0: flat out.
    rate: u64,
    started: Option<Instant>,
    produced: u64,
    idle_timeout: Option<Duration>,
    /// Reading stopped after a stop's savepoint barrier (the task is cancelled next).
    pub(crate) paused: bool,
}

impl SourceDriver {
    /// Opens the splits partition `partition` of `parallelism` of `spec` reads, at the
    /// positions `saved` (a checkpoint's pieces of this source; `None`: from the start).
    /// Lists folders, opens files and seeks: call it off the async workers.
    pub(crate) fn open(
        spec: &SourceSpec,
        saved_as: SavedAs,
        partition: u32,
        parallelism: u32,
        saved: Option<Vec<KeyGroupState>>,
    ) -> Result<SourceDriver, OperatorError> {
        let all = splits::splits_of(spec, parallelism)?;
        let saved = match saved {
            Some(pieces) => {
                let states = pieces
                    .iter()
                    .map(|p| codec::decode::<SplitState>(&p.bytes))
                    .collect::<Result<Vec<_>, CodecError>>()
                    .map_err(|e| {
                        OperatorError::State(format!(
                            "source \"{}\": unreadable split position: {e}",
                            spec.name
                        ))
                    })?;
                splits::saved_progress(&spec.name, states, &all)?
            }
            None => Default::default(),
        };
        let mut slots = Vec::new();
        for split in splits::assigned(all, partition, parallelism) {
            let progress = saved.get(&split.id).copied();
            let reader = match progress {
                Some(SplitProgress::Finished) => None,
                Some(SplitProgress::At(position)) => {
                    let mut reader = splits::open_split(spec, &split)?;
                    reader.seek(position)?;
                    Some(reader)
                }
                None => Some(splits::open_split(spec, &split)?),
            };
            let progress = match &reader {
                Some(reader) => SplitProgress::At(reader.position()),
                None => SplitProgress::Finished,
            };
            slots.push(SplitSlot {
                split,
                reader,
                progress,
                skipped: 0,
                waiting: Arc::default(),
            });
        }
        let rate = match &spec.kind {
            SourceKind::File(f) => f.rate,
            SourceKind::Generator(g) => g.rate,
            SourceKind::Kafka(_) => 0,
        };
        let settings = TimeSettings {
            lag_ms: spec.max_out_of_orderness.as_millis() as i64,
            idle_timeout: spec.idle_timeout,
            max_drift_ms: spec.max_drift.map(|d| d.as_millis() as i64),
        };
        let mut time = SplitTimes::new(slots.len(), settings, parallelism > 1, Instant::now());
        if parallelism > 1 && reads_in_step(spec) {
            let drift = settings.max_drift_ms.unwrap_or(IN_STEP_DRIFT_MS);
            time = time.in_step(drift);
        }
        for (i, slot) in slots.iter().enumerate() {
            if slot.progress == SplitProgress::Finished {
                time.finished(i);
            }
        }
        Ok(SourceDriver {
            name: spec.name.clone(),
            saved_as,
            slots,
            time,
            rate: rate.div_ceil(u64::from(parallelism.max(1))),
            started: None,
            produced: 0,
            idle_timeout: spec.idle_timeout,
            paused: false,
        })
    }

    /// Whether every split has finished (also when the partition has none).
    pub(crate) fn ended(&self) -> bool {
        self.time.all_finished()
    }

    /// The reads to start now: one for each split that has its reader, may read (alignment)
    /// and is not finished; none while paused.
    pub(crate) fn reads(&mut self, now: Instant) -> Vec<Read> {
        if self.paused {
            return Vec::new();
        }
        if self.started.is_none() {
            self.started = Some(now);
            self.time.start(now);
        }
        let max = if self.rate == 0 {
            MAX_BATCH
        } else {
            (self.rate / 100).clamp(1, MAX_BATCH as u64) as usize
        };
        let allowed = self.time.may_read(now);
        self.slots
            .iter_mut()
            .zip(allowed)
            .enumerate()
            .filter(|(_, (_, allowed))| *allowed)
            .filter_map(|(slot, (s, _))| {
                let reader = s.reader.take()?;
                Some(Read {
                    slot,
                    reader,
                    max,
                    waiting: s.waiting.clone(),
                })
            })
            .collect()
    }

    /// A read came back at `now`: its records, the signals they cause, and whether the
    /// partition ended. While paused nothing is emitted (the batch is read again after a
    /// restore).
    pub(crate) fn on_read(
        &mut self,
        done: ReadDone,
        now: Instant,
    ) -> Result<Produced, OperatorError> {
        let ReadDone {
            slot: index,
            reader,
            batch,
        } = done;
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(Produced::default());
        };
        slot.waiting.store(false, Ordering::Release);
        let skipped = reader.skipped() - slot.skipped;
        slot.skipped = reader.skipped();
        let batch = batch?;
        if self.paused {
            slot.reader = Some(reader);
            return Ok(Produced::default());
        }
        let Some(records) = batch else {
            slot.progress = SplitProgress::Finished;
            let signals = self.time.finished(index);
            return Ok(Produced {
                skipped,
                signals,
                ended: self.time.all_finished(),
                ..Produced::default()
            });
        };
        slot.progress = SplitProgress::At(reader.position());
        slot.reader = Some(reader);
        self.produced += records.len() as u64;
        let signals = self
            .time
            .records(index, records.event_time().iter().copied(), now);
        Ok(Produced {
            records,
            skipped,
            signals,
            ended: false,
        })
    }

    /// When the records emitted so far are due at the replay rate (`None`: flat out).
    pub(crate) fn due(&self) -> Option<Instant> {
        let started = self.started?;
        (self.rate > 0)
            .then(|| started + Duration::from_secs_f64(self.produced as f64 / self.rate as f64))
    }

    /// How often to check for idle splits (`None`: splits never go idle): a split goes idle
    /// between `idle_timeout` and 1.25 × `idle_timeout` after its last record.
    pub(crate) fn idle_check_period(&self) -> Option<Duration> {
        self.idle_timeout
            .map(|t| (t / 4).max(Duration::from_millis(1)))
    }

    /// Marks quiet splits idle.
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<TimeSignal> {
        let slots = &self.slots;
        self.time
            .tick(now, |i| slots[i].waiting.load(Ordering::Acquire))
    }

    /// The driver, told that every partition of its source is on its node (see
    /// [`SplitTimes::all_partitions_here`]).
    pub(crate) fn all_partitions_here(mut self) -> SourceDriver {
        self.time = self.time.all_partitions_here();
        self
    }

    /// The slowest watermark of the source's partitions on other nodes moved.
    pub(crate) fn set_slowest_elsewhere(&mut self, watermark: i64) {
        self.time.set_slowest_elsewhere(watermark);
    }

    /// The slowest watermark of the source's other partitions on this node moved (see
    /// [`SplitTimes::set_slowest_beside`]).
    pub(crate) fn set_slowest_beside(&mut self, watermark: i64) {
        self.time.set_slowest_beside(watermark);
    }

    /// The slowest watermark of the source's other partitions on this node, as last set;
    /// `None` when the partition does not read in step with them.
    pub(crate) fn slowest_beside(&self) -> Option<i64> {
        self.time.slowest_beside()
    }

    /// Whether a split waits ahead of the slowest (its partition's or another's).
    pub(crate) fn waits_ahead(&self) -> bool {
        self.time.any_ahead()
    }

    /// What this partition reports for aligning the source's partitions.
    pub(crate) fn alignment_watermark(&self) -> i64 {
        self.time.alignment_watermark()
    }

    /// Each split's position for a checkpoint, under its index.
    pub(crate) fn positions(&self) -> Result<Vec<KeyGroupState>, CodecError> {
        self.slots
            .iter()
            .map(|slot| {
                let state = SplitState {
                    split: slot.split.id.clone(),
                    progress: slot.progress,
                };
                Ok(KeyGroupState {
                    group: KeyGroup(slot.split.index.0),
                    bytes: codec::encode(&state)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;

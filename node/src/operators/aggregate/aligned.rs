//! Tumbling and sliding event-time windows: windows aligned to the epoch, the same for every
//! key, kept as one accumulator table per window end and fired in end order.
//!
//! A record at time `t` belongs to every window `[start, start + size)` with `start` a
//! multiple of `slide` and `start <= t < start + size` (tumbling: `slide = size`, one window).

use super::accumulator::Acc;
use super::columns::WindowRows;
use super::key::GroupKey;
use super::table::{hash, AccTable, GroupEntries};
use super::{arrange, Core};
use crate::operator::{
    ClonedState, KeyGroupState, Operator, OperatorError, Output, SavedState, StateCopy,
};
use quiver_protocol::batch::Batch;
use quiver_protocol::KeyGroup;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// The decoded entries of one window in one key group.
type KeyEntries<K> = Vec<(K, Vec<Acc>)>;

/// Keyed aggregates over tumbling (`slide == size`) or sliding windows.
pub(crate) struct AlignedWindows<K> {
    core: Core,
    size: i64,
    slide: i64,
    /// Pending windows by end (exclusive): the window `[end - size, end)`.
    windows: BTreeMap<i64, AccTable<K>>,
    /// Fired windows' tables, cleared, kept to hold the next windows without reallocating
    /// (as many as were ever pending at once: a batch can open several windows).
    spare: Vec<AccTable<K>>,
}

/// A copy for a checkpoint: the pending windows, without the pool of spare tables.
impl<K: GroupKey> Clone for AlignedWindows<K> {
    fn clone(&self) -> Self {
        AlignedWindows {
            core: self.core.clone(),
            size: self.size,
            slide: self.slide,
            windows: self.windows.clone(),
            spare: Vec::new(),
        }
    }
}

impl<K: GroupKey> AlignedWindows<K> {
    pub(crate) fn new(core: Core, size: i64, slide: i64) -> AlignedWindows<K> {
        AlignedWindows {
            core,
            size,
            slide,
            windows: BTreeMap::new(),
            spare: Vec::new(),
        }
    }

    /// Emits and drops every window with `end - 1 <= watermark`, in end order, as one batch.
    fn fire(&mut self, watermark: i64, out: &mut Output) -> Result<(), OperatorError> {
        let mut rows: Option<WindowRows> = None;
        while let Some(entry) = self.windows.first_entry() {
            let end = *entry.key();
            if end.saturating_sub(1) > watermark {
                break;
            }
            let mut table = entry.remove();
            let start = end.saturating_sub(self.size);
            let rows = rows.get_or_insert_with(|| WindowRows::new(&self.core));
            rows.reserve(table.len());
            for (key, _, accs) in table.iter() {
                rows.push(&self.core, key, (start, end), accs)?;
            }
            table.clear();
            self.spare.push(table);
        }
        rows.map_or(Ok(()), |rows| rows.emit(&self.core, out))
    }
}

impl<K: GroupKey> Operator for AlignedWindows<K> {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        let width = self.core.plans.len();
        let input = self.core.input::<K>(batch)?;
        let mut late = Vec::new();
        for (row, &t) in batch.event_time().iter().enumerate() {
            let key = input.key(row);
            let key_hash = hash(&key);
            let mut accepted = false;
            // The latest window holding `t`, then earlier ones while they hold it: at most
            // ceil(size / slide). A window bound beyond i64 is an error, never wrapped or
            // clamped.
            let mut start = t
                .checked_sub(t.rem_euclid(self.slide))
                .ok_or_else(|| self.core.time_overflow(t))?;
            loop {
                let end = start
                    .checked_add(self.size)
                    .ok_or_else(|| self.core.time_overflow(t))?;
                // `end > t`, so `end - 1` cannot overflow.
                if end - 1 <= self.core.watermark {
                    // Earlier windows end earlier still: none of them takes the record.
                    break;
                }
                let spare = &mut self.spare;
                let table = self
                    .windows
                    .entry(end)
                    .or_insert_with(|| spare.pop().unwrap_or_else(|| AccTable::new(width)));
                let (accs, _, _) = table.find_or_insert(key, key_hash, &self.core.initial);
                self.core.accumulate(accs, &input, row);
                accepted = true;
                // The window before ends at `end - slide` (at least `start`, no overflow).
                if end - self.slide <= t {
                    break;
                }
                start = start
                    .checked_sub(self.slide)
                    .ok_or_else(|| self.core.time_overflow(t))?;
            }
            if !accepted {
                late.push(row as u32);
            }
        }
        if !late.is_empty() {
            out.late.push(batch.take(&late));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<(), OperatorError> {
        if self.core.advance_watermark(watermark) {
            self.fire(watermark, out)?;
        }
        Ok(())
    }

    /// The end of input closes every window: pending windows always end after the watermark,
    /// so a watermark at `i64::MAX` fires them all.
    fn on_end(&mut self, out: &mut Output) -> Result<(), OperatorError> {
        self.on_watermark(i64::MAX, out)
    }

    /// One entry per key and pending window.
    fn state_entries(&self) -> u64 {
        self.windows.values().map(|t| t.len() as u64).sum()
    }

    fn snapshot_copy(&mut self) -> Result<Box<dyn StateCopy>, OperatorError> {
        Ok(Box::new(ClonedState(self.clone())))
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        let mut groups: FxHashMap<KeyGroup, Vec<(i64, GroupEntries<'_, K>)>> = FxHashMap::default();
        for (&end, table) in &self.windows {
            for (group, entries) in table.by_group(self.core.max_parallelism) {
                groups.entry(group).or_default().push((end, entries));
            }
        }
        groups
            .into_iter()
            .map(|(group, windows)| self.core.encode(group, windows))
            .collect()
    }

    fn restore(&mut self, saved: SavedState) -> Result<(), OperatorError> {
        let SavedState {
            pieces: state,
            order,
        } = saved;
        let order = order.as_deref();
        let (windows, width) = (&mut self.windows, self.core.plans.len());
        self.core
            .decode(state, |entries: Vec<(i64, KeyEntries<K>)>| {
                for (end, keys) in entries {
                    let table = windows.entry(end).or_insert_with(|| AccTable::new(width));
                    for (key, accs) in keys {
                        table.insert(key, &arrange(order, accs)?)?;
                    }
                }
                Ok(())
            })
    }
}

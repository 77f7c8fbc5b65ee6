//! Tumbling and sliding event-time windows: windows aligned to the epoch, the same for every
//! key, kept as one accumulator table per window end and fired in end order.
//!
//! A record at time `t` belongs to every window `[start, start + size)` with `start` a
//! multiple of `slide` and `start <= t < start + size` (tumbling: `slide = size`, one window).
//!
//! In a checkpoint an entry's key is the window end (ordered bytes) then the key, and its
//! value the accumulators with the key's last write (with a state TTL). Fired windows need no
//! tombstones: the header's live-key bound (windows ending after the watermark) drops them
//! from every chain. With a state TTL a key's pending windows are dropped, unfired, once it
//! was not written for the TTL ([`super::ttl`]).

use super::acc_columns::Hit;
use super::accumulator::Acc;
use super::columns::WindowRows;
use super::key::GroupKey;
use super::table::{hash, AccTable};
use super::ttl::KeyExpiry;
use super::{arrange, Core};
use crate::operator::{ChangesCopy, KeyGroupState, Operator, OperatorError, Output, SavedState};
use crate::state::pieces::{decode, ordered_i64, split_ordered_i64};
use crate::state::ttl::Expiry;
use crate::state::{ChangeLog, KeyedEntry, LayerKey};
use quiver_protocol::batch::Batch;
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::CheckpointId;
use std::collections::BTreeMap;

/// A key's saved value in one window: its accumulators and the key's last write.
type Saved = (Vec<Acc>, Option<i64>);

/// A key in one window, as a checkpoint stores it: the window end in order-preserving bytes
/// (so a live-key bound cuts fired windows), then the key.
pub(crate) struct WindowKey<K> {
    end: i64,
    key: K,
}

impl<K: GroupKey> LayerKey for WindowKey<K> {
    fn encode_key(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&ordered_i64(self.end));
        self.key.encode_key(out)
    }
}

/// One key of one window in a checkpoint: its value, `None` once the window fired or the key
/// expired.
type Entry<K> = KeyedEntry<WindowKey<K>, Saved>;

/// Keyed aggregates over tumbling (`slide == size`) or sliding windows.
pub(crate) struct AlignedWindows<K: GroupKey> {
    core: Core,
    size: i64,
    slide: i64,
    /// Pending windows by end (exclusive): the window `[end - size, end)`.
    windows: BTreeMap<i64, AccTable<K>>,
    /// Fired windows' tables, cleared, kept to hold the next windows without reallocating
    /// (as many as were ever pending at once: a batch can open several windows).
    spare: Vec<AccTable<K>>,
    /// Changed (window end, key)s of unconfirmed checkpoints (a job with checkpoints).
    log: Option<ChangeLog<(i64, K)>>,
    /// Last writes per key, with a state TTL.
    ttl: Option<KeyExpiry<K>>,
}

impl<K: GroupKey> AlignedWindows<K> {
    /// Windows of `size` every `slide` ms, whose keys expire as `expiry` says (`None`: never).
    pub(crate) fn new(
        core: Core,
        size: i64,
        slide: i64,
        expiry: Option<Expiry>,
    ) -> AlignedWindows<K> {
        AlignedWindows {
            log: core.tracked.then(ChangeLog::default),
            core,
            size,
            slide,
            windows: BTreeMap::new(),
            spare: Vec::new(),
            ttl: expiry.map(KeyExpiry::new),
        }
    }

    /// An empty window table: tracked when the job takes checkpoints.
    fn empty_table(core: &Core) -> AccTable<K> {
        AccTable::new(&core.initial).tracked(core.tracked)
    }

    /// Drops `key` from every pending window (its state expired).
    fn expire(windows: &mut BTreeMap<i64, AccTable<K>>, key: &K) {
        for table in windows.values_mut() {
            table.remove(key);
        }
    }

    /// Every pending window's entries in a snapshot of `kind`: `(end, key)`s from `keys`.
    fn copy(
        &self,
        kind: PieceKind,
        keys: impl Iterator<Item = (i64, K)>,
    ) -> crate::state::DeltaCopy<Entry<K>> {
        let entries = keys
            .map(|(end, key)| {
                let written = self.ttl.as_ref().and_then(|t| t.written(&key));
                let live = match (&self.ttl, written) {
                    (Some(ttl), Some(w)) => !ttl.expired(w),
                    _ => true,
                };
                let value = self
                    .windows
                    .get(&end)
                    .and_then(|t| t.get(&key))
                    .filter(|_| live)
                    .map(|(_, accs)| (accs.to_vec(), written));
                let group = self.core.group(&key);
                let entry = Entry {
                    key: WindowKey { end, key },
                    value,
                };
                (group, entry)
            })
            .collect();
        // Pending windows end after the watermark + 1: the others fired.
        let live = (self.core.watermark > i64::MIN)
            .then(|| ordered_i64(self.core.watermark.saturating_add(2)).to_vec());
        let held = self.windows.values().map(AccTable::len).sum();
        self.core.copy(kind, live, entries, held)
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
            match &self.ttl {
                None => rows.push_table(&self.core, &table, (start, end))?,
                Some(ttl) => {
                    for (key, _, accs) in table.iter() {
                        // An expired key's windows never fire, cleaned up yet or not.
                        if ttl.is_live(&key) {
                            rows.push(&self.core, &key, (start, end), &accs)?;
                        }
                    }
                }
            }
            table.clear();
            self.spare.push(table);
        }
        rows.map_or(Ok(()), |rows| rows.emit(&self.core, out))
    }
}

impl<K: GroupKey> Operator for AlignedWindows<K> {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        let input = self.core.input::<K>(batch)?;
        let mut late = Vec::new();
        // Every (window end, row) a record adds to, found first; the windows' tables are
        // then updated a window at a time.
        let mut targets: Vec<(i64, u32)> = Vec::with_capacity(batch.len());
        if let Some(ttl) = &mut self.ttl {
            ttl.tick();
        }
        for (row, &t) in batch.event_time().iter().enumerate() {
            let key = input.key(row);
            if let Some(ttl) = &self.ttl {
                if ttl.is_expired(key, hash(&key)) {
                    Self::expire(&mut self.windows, &K::own(key));
                }
            }
            let before = targets.len();
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
                targets.push((end, row as u32));
                // The window before ends at `end - slide` (at least `start`, no overflow).
                if end - self.slide <= t {
                    break;
                }
                start = start
                    .checked_sub(self.slide)
                    .ok_or_else(|| self.core.time_overflow(t))?;
            }
            match (targets.len() > before, &mut self.ttl) {
                (false, _) => late.push(row as u32),
                (true, Some(ttl)) => ttl
                    .write(key, hash(&key))
                    .map_err(|e| self.core.state_error(e))?,
                (true, None) => {}
            }
        }
        // By window, each window's records in row order (a stable sort; in-order tumbling
        // input is sorted already).
        if !targets.is_sorted_by_key(|&(end, _)| end) {
            targets.sort_by_key(|&(end, _)| end);
        }
        let mut hits = Vec::with_capacity(targets.len());
        for window in targets.chunk_by(|a, b| a.0 == b.0) {
            let (spare, core) = (&mut self.spare, &self.core);
            let table = self
                .windows
                .entry(window[0].0)
                .or_insert_with(|| spare.pop().unwrap_or_else(|| Self::empty_table(core)));
            hits.clear();
            for &(_, row) in window {
                let key = input.key(row as usize);
                let (_, slot, _) = table
                    .find_or_insert(key, hash(&key))
                    .map_err(|e| core.state_error(e))?;
                // The table holds at most u32::MAX keys.
                hits.push(Hit {
                    slot: slot as u32,
                    row,
                });
            }
            core.accumulate_rows(table.accs_mut(), &hits, &input, None)?;
        }
        if let Some(ttl) = &mut self.ttl {
            let windows = &mut self.windows;
            ttl.clean(batch.len(), |key| Self::expire(windows, &key));
        }
        if !late.is_empty() {
            out.late.push(batch.take(&late));
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, out: &mut Output) -> Result<(), OperatorError> {
        if self.core.advance_watermark(watermark) {
            if let Some(ttl) = &mut self.ttl {
                ttl.tick();
            }
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

    fn state_expired(&self) -> u64 {
        self.ttl.as_ref().map_or(0, KeyExpiry::expired_count)
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        let fresh: Vec<(i64, K)> = self
            .windows
            .iter_mut()
            .flat_map(|(&end, table)| table.take_changed().into_iter().map(move |k| (end, k)))
            .collect();
        let Some(mut log) = self.log.take() else {
            return Ok(None);
        };
        let copy = self.copy(
            PieceKind::Delta,
            log.capture(checkpoint, fresh)
                .map(|(end, k)| (*end, k.clone())),
        );
        self.log = Some(log);
        Ok(Some(Box::new(copy)))
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        if let Some(log) = &mut self.log {
            log.confirm(checkpoint);
        }
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        let keys = self
            .windows
            .iter()
            .flat_map(|(&end, table)| table.iter().map(move |(k, _, _)| (end, k)));
        self.copy(PieceKind::Base, keys).encode_full()
    }

    fn restore(&mut self, saved: SavedState) -> Result<(), OperatorError> {
        let SavedState { pieces, order } = saved;
        let reordered = order.is_some();
        let order = order.as_deref();
        let mut restored: Vec<(i64, K, Saved)> = Vec::new();
        self.core.restore_chains(pieces, |key, value| {
            let (end, key) = split_ordered_i64(key)?;
            let (accs, written): Saved = decode(value)?;
            restored.push((end, decode(key)?, (arrange(order, accs)?, written)));
            Ok(())
        })?;
        let now = self.ttl.as_mut().map_or(0, KeyExpiry::tick);
        // A key's last write is the latest any of its windows saved (state from a stage
        // without TTL starts its life now).
        let mut last: std::collections::HashMap<&K, i64> = std::collections::HashMap::new();
        for (_, key, (_, written)) in &restored {
            let w = last.entry(key).or_insert(i64::MIN);
            *w = (*w).max(written.unwrap_or(now));
        }
        let last: Vec<(K, i64)> = last.into_iter().map(|(k, w)| (k.clone(), w)).collect();
        let mut expired = std::collections::HashSet::new();
        if let Some(ttl) = &mut self.ttl {
            for (key, written) in last {
                if ttl.expired(written) {
                    expired.insert(key);
                } else {
                    ttl.restore(key, written)
                        .map_err(|e| self.core.state_error(e))?;
                }
            }
        }
        for (end, key, (accs, _)) in restored {
            let core = &self.core;
            let table = self
                .windows
                .entry(end)
                .or_insert_with(|| Self::empty_table(core));
            if expired.contains(&key) {
                // Gone: the next checkpoint removes it from the stored chain too.
                table.note_removed(key);
            } else {
                table
                    .insert(key, &accs)
                    .map_err(|e| self.core.state_error(e))?;
            }
        }
        if reordered {
            // Stored in another order: the next checkpoint writes every entry anew.
            self.windows.values_mut().for_each(AccTable::mark_all);
        }
        Ok(())
    }
}

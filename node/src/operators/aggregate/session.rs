//! Session windows: per key, a record at `t` opens the window `[t, t + gap)`; windows of one
//! key that overlap or touch merge (Flink's `TimeWindow.intersects`), so a session is
//! `[first event, last event + gap)`. A session fires when the watermark reaches `end - 1`.
//!
//! A record is late when the session it would join (after merging) has `end - 1` at or below
//! the watermark: a record that reaches back into a still-open session is on time.
//!
//! In a checkpoint an entry is a key with its open sessions and its last write (with a state
//! TTL); a key whose sessions changed, fired or expired since the last confirmed checkpoint is
//! copied (a tombstone once it has none). With a state TTL a key's open sessions are dropped,
//! unfired, once it was not written for the TTL ([`super::ttl`]).

use super::accumulator::Acc;
use super::columns::{Input, WindowRows};
use super::key::GroupKey;
use super::table::hash;
use super::ttl::KeyExpiry;
use super::{arrange, Core};
use crate::operator::{ChangesCopy, KeyGroupState, Operator, OperatorError, Output, SavedState};
use crate::state::pieces::decode;
use crate::state::ttl::Expiry;
use crate::state::{ChangeLog, KeyedEntry};
use hashbrown::{HashMap, HashSet};
use quiver_protocol::batch::Batch;
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::CheckpointId;
use rustc_hash::FxBuildHasher;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key's saved value: its open sessions and its last write.
type Saved = (Vec<Session>, Option<i64>);

/// One key in a checkpoint: its value, `None` once it has no session.
type Entry<K> = KeyedEntry<K, Saved>;

/// One open session of a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    start: i64,
    /// Exclusive: last event time + gap.
    end: i64,
    /// When this session's timer is due: at most `end`. Extending a session does not add a
    /// timer; when the old one comes due the session's timer moves to its new end, so a key
    /// has about one timer per session, not one per record.
    timer: i64,
    accs: Vec<Acc>,
}

impl Session {
    fn touches(&self, start: i64, end: i64) -> bool {
        self.start <= end && self.end >= start
    }
}

/// Keyed aggregates over session windows.
pub(crate) struct SessionWindows<K: GroupKey> {
    core: Core,
    gap: i64,
    /// Open sessions per key: disjoint, never touching. (hashbrown's map, so a key read
    /// from the input's columns finds its sessions without being copied.)
    sessions: HashMap<K, Vec<Session>, FxBuildHasher>,
    /// Keys with a session timer due at each time. Merging leaves stale entries behind, which
    /// find no session with that timer when they come due and are dropped.
    timers: BTreeMap<i64, Vec<K>>,
    /// Keys whose sessions changed since the last barrier (a job with checkpoints).
    changed: Option<HashSet<K, FxBuildHasher>>,
    /// Changed keys of unconfirmed checkpoints.
    log: ChangeLog<K>,
    /// Last writes per key, with a state TTL.
    ttl: Option<KeyExpiry<K>>,
}

impl<K: GroupKey> SessionWindows<K> {
    /// Sessions closing after `gap` ms without a record, whose keys expire as `expiry` says
    /// (`None`: never).
    pub(crate) fn new(core: Core, gap: i64, expiry: Option<Expiry>) -> SessionWindows<K> {
        SessionWindows {
            gap,
            sessions: HashMap::default(),
            timers: BTreeMap::new(),
            changed: core.tracked.then(HashSet::default),
            log: ChangeLog::default(),
            ttl: expiry.map(KeyExpiry::new),
            core,
        }
    }

    /// Drops `key`'s sessions (its state expired); their timers find nothing when due.
    fn expire(
        sessions: &mut HashMap<K, Vec<Session>, FxBuildHasher>,
        changed: &mut Option<HashSet<K, FxBuildHasher>>,
        key: K,
    ) {
        sessions.remove(&key);
        if let Some(changed) = changed {
            changed.insert(key);
        }
    }

    /// Marks `key`'s sessions as changed.
    #[inline]
    fn mark(&mut self, key: K::Ref<'_>) {
        if let Some(changed) = &mut self.changed {
            if !changed.contains(&key) {
                changed.insert(K::own(key));
            }
        }
    }

    /// A snapshot of `kind` holding the sessions of `keys`.
    fn copy<'a>(
        &self,
        kind: PieceKind,
        keys: impl Iterator<Item = &'a K>,
    ) -> crate::state::DeltaCopy<Entry<K>> {
        let entries = keys
            .map(|key| {
                let written = self.ttl.as_ref().and_then(|t| t.written(key));
                let live = match (&self.ttl, written) {
                    (Some(ttl), Some(w)) => !ttl.expired(w),
                    _ => true,
                };
                let entry = Entry {
                    key: key.clone(),
                    value: self
                        .sessions
                        .get(key)
                        .filter(|_| live)
                        .map(|list| (list.clone(), written)),
                };
                (self.core.group(key), entry)
            })
            .collect();
        self.core.copy(kind, None, entries, self.sessions.len())
    }

    /// Registered timers, stale ones included.
    #[cfg(test)]
    pub(super) fn timer_count(&self) -> usize {
        self.timers.values().map(Vec::len).sum()
    }

    /// Adds row `row` (at event time `t`) of `input`; returns `false` when it is late.
    fn add(&mut self, input: &Input<'_, K>, row: usize, t: i64) -> Result<bool, OperatorError> {
        let key = input.key(row);
        let key_hash = hash(&key);
        if self
            .ttl
            .as_ref()
            .is_some_and(|ttl| ttl.is_expired(key, key_hash))
        {
            Self::expire(&mut self.sessions, &mut self.changed, K::own(key));
        }
        let own_end = t
            .checked_add(self.gap)
            .ok_or_else(|| self.core.time_overflow(t))?;
        let (mut start, mut end) = (t, own_end);
        let (mut hits, mut first_hit) = (0usize, 0usize);
        let mut list = self.sessions.get_mut(&key);
        for (i, s) in list.iter().flat_map(|l| l.iter()).enumerate() {
            if s.touches(t, own_end) {
                if hits == 0 {
                    first_hit = i;
                }
                hits += 1;
                start = start.min(s.start);
                end = end.max(s.end);
            }
        }
        // `end > t`, so `end - 1` cannot overflow.
        if end - 1 <= self.core.watermark {
            return Ok(false);
        }
        let core = &self.core;
        match (hits, list.as_deref_mut()) {
            (1, Some(list)) => {
                let s = &mut list[first_hit];
                s.start = start;
                s.end = end;
                core.accumulate(s.accs.as_mut_slice(), input, row);
            }
            (0, _) | (_, None) => {
                let mut accs = core.initial.clone();
                core.accumulate(accs.as_mut_slice(), input, row);
                let timer = end;
                let session = Session {
                    start,
                    end,
                    timer,
                    accs,
                };
                match list {
                    Some(list) => list.push(session),
                    None => {
                        self.sessions.insert(K::own(key), vec![session]);
                    }
                }
                self.timers.entry(timer).or_default().push(K::own(key));
            }
            (_, Some(list)) => {
                let mut accs = core.initial.clone();
                core.accumulate(accs.as_mut_slice(), input, row);
                // The earliest timer of the merged sessions is still registered: keep it.
                let mut timer = end;
                list.retain(|s| {
                    let merged = s.touches(t, own_end);
                    if merged {
                        for ((a, b), plan) in accs.iter_mut().zip(&s.accs).zip(&core.plans) {
                            a.merge(b, plan.keep);
                        }
                        timer = timer.min(s.timer);
                    }
                    !merged
                });
                list.push(Session {
                    start,
                    end,
                    timer,
                    accs,
                });
            }
        }
        self.mark(key);
        if let Some(ttl) = &mut self.ttl {
            ttl.write(key, key_hash)
                .map_err(|e| self.core.state_error(e))?;
        }
        Ok(true)
    }

    /// Emits and drops every session with `end - 1 <= watermark`, in end order, as one
    /// batch.
    fn fire(&mut self, watermark: i64, out: &mut Output) -> Result<(), OperatorError> {
        let mut rows: Option<WindowRows> = None;
        while let Some(entry) = self.timers.first_entry() {
            let due = *entry.key();
            if due.saturating_sub(1) > watermark {
                break;
            }
            for key in entry.remove() {
                let Some(list) = self.sessions.get_mut(&key) else {
                    continue;
                };
                let Some(i) = list.iter().position(|s| s.timer == due) else {
                    continue;
                };
                if list[i].end > due {
                    // Extended since: due at its end (later in this loop if already passed).
                    list[i].timer = list[i].end;
                    self.timers.entry(list[i].end).or_default().push(key);
                    continue;
                }
                let s = list.swap_remove(i);
                // An expired key's sessions never fire, cleaned up yet or not.
                if self.ttl.as_ref().is_none_or(|ttl| ttl.is_live(&key)) {
                    rows.get_or_insert_with(|| WindowRows::new(&self.core))
                        .push(&self.core, &key, (s.start, s.end), s.accs.as_slice())?;
                }
                if list.is_empty() {
                    self.sessions.remove(&key);
                }
                if let Some(changed) = &mut self.changed {
                    changed.insert(key);
                }
            }
        }
        rows.map_or(Ok(()), |rows| rows.emit(&self.core, out))
    }
}

impl<K: GroupKey> Operator for SessionWindows<K> {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        let input = self.core.input::<K>(batch)?;
        let mut late = Vec::new();
        if let Some(ttl) = &mut self.ttl {
            ttl.tick();
        }
        for (row, &t) in batch.event_time().iter().enumerate() {
            if !self.add(&input, row, t)? {
                late.push(row as u32);
            }
        }
        if let Some(ttl) = &mut self.ttl {
            let (sessions, changed) = (&mut self.sessions, &mut self.changed);
            ttl.clean(batch.len(), |key| Self::expire(sessions, changed, key));
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

    /// One entry per open session.
    fn state_entries(&self) -> u64 {
        self.sessions.values().map(|l| l.len() as u64).sum()
    }

    fn state_expired(&self) -> u64 {
        self.ttl.as_ref().map_or(0, KeyExpiry::expired_count)
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        let Some(changed) = &mut self.changed else {
            return Ok(None);
        };
        let fresh: Vec<K> = changed.drain().collect();
        let mut log = std::mem::take(&mut self.log);
        let copy = self.copy(PieceKind::Delta, log.capture(checkpoint, fresh));
        self.log = log;
        Ok(Some(Box::new(copy)))
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        self.log.confirm(checkpoint);
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.copy(PieceKind::Base, self.sessions.keys())
            .encode_full()
    }

    fn restore(&mut self, saved: SavedState) -> Result<(), OperatorError> {
        let SavedState { pieces, order } = saved;
        let reordered = order.is_some();
        let order = order.as_deref();
        let (sessions, timers) = (&mut self.sessions, &mut self.timers);
        let (ttl, changed) = (&mut self.ttl, &mut self.changed);
        let now = ttl.as_mut().map_or(0, KeyExpiry::tick);
        let width = self.core.plans.len();
        self.core.restore_chains(pieces, |key, value| {
            let key: K = decode(key)?;
            let (mut list, written): Saved = decode(value)?;
            if let Some(ttl) = ttl.as_mut() {
                // State from a stage without TTL starts its life now.
                let written = written.unwrap_or(now);
                if ttl.expired(written) {
                    // Gone: the next checkpoint removes it from the stored chain too.
                    if let Some(changed) = changed.as_mut() {
                        changed.insert(key);
                    }
                    return Ok(());
                }
                ttl.restore(key.clone(), written)?;
            }
            for s in &mut list {
                s.accs = arrange(order, std::mem::take(&mut s.accs))?;
            }
            if let Some(bad) = list.iter().find(|s| s.accs.len() != width) {
                return Err(format!(
                    "a session has {} accumulators, the stage computes {width}",
                    bad.accs.len()
                ));
            }
            for s in &mut list {
                s.timer = s.end;
                timers.entry(s.end).or_default().push(key.clone());
            }
            sessions.entry(key).or_default().extend(list);
            Ok(())
        })?;
        if let (true, Some(changed)) = (reordered, &mut self.changed) {
            // Stored in another order: the next checkpoint writes every entry anew.
            changed.extend(self.sessions.keys().cloned());
        }
        Ok(())
    }
}

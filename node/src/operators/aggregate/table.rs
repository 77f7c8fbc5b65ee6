//! A hash table from key to accumulators, laid out as columns by slot: keys occupy numbered
//! slots `0..len`, the key of every slot is kept in one column ([`GroupKey::Keys`]), the
//! accumulators in typed columns ([`AccColumns`]), and the hash index itself
//! ([`SlotIndex`]) holds only a slot number and 32 bits of the key's hash per entry (8
//! bytes). A running count + sum over an i64 key costs about 8 (key) + 16 (count, sum) +
//! 10–20 (the index's bucket at its load factor) bytes per key, where an entry holding key,
//! slot and accumulators took 72 bytes.
//!
//! The stored hash bits let the table grow without reading a key, and make a probe compare
//! a key only when 32 bits of its hash agree.
//!
//! Removing a key moves the key of the last slot into the freed number (the TTL's last-write
//! times are kept by slot, and move the same way).
//!
//! A table built [`AccTable::tracked`] (a job with checkpoints) is a table of the keyed-state
//! layer (`crate::state`): it marks every key written or removed since the last barrier, one
//! bit per slot, so a checkpoint copies only those ([`AccTable::take_changed`]).

use super::acc_columns::{AccColumns, SlotMut, SlotRef};
use super::accumulator::Acc;
use super::key::{GroupKey, KeyColumn};
use super::slot_index::SlotIndex;
use crate::state::ChangedSlots;
use quiver_protocol::batch::{ColumnBuilder, WrongType};
use rustc_hash::FxBuildHasher;
use std::hash::{BuildHasher, Hash};

/// The 32 bits of a key's [`hash`] its entry keeps.
#[inline]
fn tag(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// Accumulators per key, in aggregate order.
#[derive(Debug, Clone)]
pub(crate) struct AccTable<K: GroupKey> {
    /// Tag → slot.
    index: SlotIndex,
    /// The key of every slot.
    keys: K::Keys,
    /// The accumulators of every slot.
    accs: AccColumns,
    /// Keys written or removed since the last barrier (tracked tables only).
    changes: Option<ChangedSlots<K>>,
}

/// The hash a key (owned, or a [`GroupKey::Ref`] to it) is found by in every table.
#[inline]
pub(crate) fn hash(key: &impl Hash) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// The error of a table asked to hold more keys than slot numbers exist.
fn full() -> String {
    format!("a stage's table holds {} keys, its most", u32::MAX)
}

impl<K: GroupKey> AccTable<K> {
    /// An empty table whose new keys start from the accumulators `initial` (one per aggregate,
    /// as [`super::accumulator::AggregatePlan::initial`] makes them; none for a table of keys
    /// alone).
    pub(crate) fn new(initial: &[Acc]) -> AccTable<K> {
        AccTable {
            index: SlotIndex::default(),
            keys: K::Keys::default(),
            accs: AccColumns::new(initial),
            changes: None,
        }
    }

    /// The table, marking the keys written or removed since the last barrier when `tracked`.
    pub(crate) fn tracked(self, tracked: bool) -> AccTable<K> {
        AccTable {
            changes: tracked.then(ChangedSlots::default),
            ..self
        }
    }

    /// The accumulators of `key` (whose [`hash`] is `hash`), its slot, and whether it is new
    /// (created with the initial accumulators): one probe of the table. Fails only when the
    /// table holds `u32::MAX` keys.
    #[inline]
    pub(crate) fn find_or_insert(
        &mut self,
        key: K::Ref<'_>,
        hash: u64,
    ) -> Result<(SlotMut<'_>, usize, bool), String> {
        let (slot, new) = self.entry(hash, |keys, s| keys.holds(s, key), || K::own(key), true)?;
        Ok((self.accs.slot_mut(slot), slot, new))
    }

    /// The slot of the key `is` finds (whose [`hash`] is `hash`), created with `new_key()` and
    /// the initial accumulators when there is none; whether it is new. A `write` marks it
    /// changed.
    #[inline]
    fn entry(
        &mut self,
        hash: u64,
        is: impl Fn(&K::Keys, usize) -> bool,
        new_key: impl FnOnce() -> K,
        write: bool,
    ) -> Result<(usize, bool), String> {
        let tag = tag(hash);
        let keys = &self.keys;
        let next = keys.len();
        let (slot, new) = if next > SlotIndex::MAX_SLOT {
            let found = self.index.find(tag, |s| is(keys, s));
            (found.ok_or_else(full)?, false)
        } else {
            self.index.find_or_insert(tag, |s| is(keys, s), next)
        };
        let changes = self.changes.as_mut().filter(|_| write);
        if new {
            let key = new_key();
            if let Some(changes) = changes {
                changes.mark(slot, || key.clone());
            }
            self.keys.push(key);
            self.accs.push();
        } else if let Some(changes) = changes {
            changes.mark(slot, || self.keys.key(slot));
        }
        Ok((slot, new))
    }

    /// Adds a key with its accumulators (restore: not marked as changed); an existing key is
    /// replaced. Returns the key's slot and whether it is new.
    pub(crate) fn insert(&mut self, key: K, accs: &[Acc]) -> Result<(usize, bool), String> {
        if let Some(wrong) = self.accs.mismatch(accs) {
            return Err(wrong);
        }
        let hash = hash(&key);
        let (slot, new) = self.entry(
            hash,
            |keys, s| keys.holds_key(s, &key),
            || key.clone(),
            false,
        )?;
        self.accs.slot_mut(slot).set(accs);
        Ok((slot, new))
    }

    /// Removes and returns the key in slot `slot`; the key of the last slot moves into
    /// `slot`. `None` (and nothing changes) when there is no such slot.
    pub(crate) fn swap_remove(&mut self, slot: usize) -> Option<K> {
        let last = self.keys.len().checked_sub(1)?;
        if slot > last {
            return None;
        }
        self.index.remove(tag(hash(&self.keys.key(slot))), slot);
        if slot != last {
            self.index
                .renumber(tag(hash(&self.keys.key(last))), last, slot);
        }
        let removed = self.keys.swap_remove(slot);
        self.accs.swap_remove(slot);
        if let Some(changes) = &mut self.changes {
            changes.removed(slot, removed.clone(), last);
        }
        Some(removed)
    }

    /// The slot of the first hash entry whose stored hash bits match `hash` (a key's
    /// [`hash`]), its key not compared: what a probe for the key reads first. With
    /// [`AccTable::touch`], a batch's keys are read this way before they are probed, in loops
    /// whose iterations depend on nothing but their own key, so the CPU waits for many cache
    /// misses at a time and the probes and updates that follow find their lines in cache (a
    /// table far larger than the cache misses 4–5 times per record).
    #[inline]
    pub(crate) fn peek(&self, hash: u64) -> Option<usize> {
        self.index.peek(tag(hash))
    }

    /// Reads slot `slot`'s key and accumulators (see [`AccTable::peek`]), changing nothing;
    /// returns a value folded from what it read.
    #[inline]
    pub(crate) fn touch(&self, slot: usize) -> u64 {
        self.keys.touch(slot) ^ self.accs.touch(slot)
    }

    /// The accumulators of every slot.
    #[inline]
    pub(crate) fn accs_mut(&mut self) -> &mut AccColumns {
        &mut self.accs
    }

    /// Appends every slot's key to `keys` (one builder per key column) and its aggregates to
    /// `aggregates` (one per aggregate), in slot order.
    pub(crate) fn write_all(
        &self,
        keys: &mut [ColumnBuilder],
        aggregates: &mut [ColumnBuilder],
    ) -> Result<(), WrongType> {
        self.keys.write_all(keys)?;
        self.accs.write_all(aggregates)
    }

    /// Removes `key` (see [`AccTable::swap_remove`]).
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some((slot, _)) = self.get(key) {
            self.swap_remove(slot);
        }
    }

    /// The slot of the key `key` names (whose [`hash`] is `hash`).
    #[inline]
    pub(crate) fn find(&self, key: K::Ref<'_>, hash: u64) -> Option<usize> {
        self.slot(hash, |keys, s| keys.holds(s, key))
    }

    #[inline]
    fn slot(&self, hash: u64, is: impl Fn(&K::Keys, usize) -> bool) -> Option<usize> {
        self.index.find(tag(hash), |s| is(&self.keys, s))
    }

    /// Every key with its slot and accumulators, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, usize, SlotRef<'_>)> + '_ {
        (0..self.keys.len()).map(|slot| (self.keys.key(slot), slot, self.accs.slot(slot)))
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Removes every key, keeping the memory for reuse (and forgetting their changes).
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.keys.clear();
        self.accs.clear();
        if let Some(changes) = &mut self.changes {
            changes.clear();
        }
    }

    /// The slot and accumulators of `key`.
    pub(crate) fn get(&self, key: &K) -> Option<(usize, SlotRef<'_>)> {
        let slot = self.slot(hash(key), |keys, s| keys.holds_key(s, key))?;
        Some((slot, self.accs.slot(slot)))
    }

    /// The keys written or removed since the last call (empty for an untracked table).
    pub(crate) fn take_changed(&mut self) -> Vec<K> {
        self.changes
            .as_mut()
            .map_or_else(Vec::new, ChangedSlots::take)
    }

    /// Marks `key`, which is not in the table, as removed (a restore dropped it).
    pub(crate) fn note_removed(&mut self, key: K) {
        if let Some(changes) = &mut self.changes {
            changes.note(key);
        }
    }

    /// Marks every key as changed (a restore changed how values are stored).
    pub(crate) fn mark_all(&mut self) {
        if let Some(changes) = &mut self.changes {
            for slot in 0..self.keys.len() {
                changes.mark(slot, || self.keys.key(slot));
            }
        }
    }
}

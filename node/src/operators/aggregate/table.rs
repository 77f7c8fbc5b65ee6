//! A hash table from key to accumulators, laid out as columns by slot: keys occupy numbered
//! slots `0..len`, the key of every slot is kept in one column ([`GroupKey::Keys`]), the
//! accumulators in typed columns ([`AccColumns`]), and the hash table itself holds only a
//! slot number and 32 bits of the key's hash per entry (8 bytes). A running count + sum over
//! an i64 key costs about 8 (key) + 16 (count, sum) + 9–18 (the hash table's entry and
//! control byte at its load factor) bytes per key, where an entry holding key, slot and
//! accumulators took 72 bytes at the same load factor.
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
use crate::state::ChangedSlots;
use hashbrown::hash_table::{Entry as Found, HashTable};
use quiver_protocol::batch::{ColumnBuilder, WrongType};
use rustc_hash::FxBuildHasher;
use std::hash::{BuildHasher, Hash};

/// A key's entry in the hash table: its slot and the upper half of its [`hash`].
#[derive(Debug, Clone, Copy)]
struct Bucket {
    slot: u32,
    tag: u32,
}

impl Bucket {
    /// The hash the table places the entry by: its tag in both halves, so the bucket index
    /// (low bits) and hashbrown's control byte (top 7 bits) both come from it.
    #[inline]
    fn hash(self) -> u64 {
        spread(self.tag)
    }
}

/// The 32 bits of a key's [`hash`] its entry keeps.
#[inline]
fn tag(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

/// See [`Bucket::hash`].
#[inline]
fn spread(tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(tag)
}

/// Accumulators per key, in aggregate order.
#[derive(Debug, Clone)]
pub(crate) struct AccTable<K: GroupKey> {
    entries: HashTable<Bucket>,
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
            entries: HashTable::new(),
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

    /// The slot of the key `is` finds (whose [`hash`] is `hash`), created with `new()` and
    /// the initial accumulators when there is none; whether it is new. A `write` marks it
    /// changed.
    #[inline]
    fn entry(
        &mut self,
        hash: u64,
        is: impl Fn(&K::Keys, usize) -> bool,
        new: impl FnOnce() -> K,
        write: bool,
    ) -> Result<(usize, bool), String> {
        let tag = tag(hash);
        let keys = &self.keys;
        let found = self.entries.entry(
            spread(tag),
            |b| b.tag == tag && is(keys, b.slot as usize),
            |b| b.hash(),
        );
        let changes = self.changes.as_mut().filter(|_| write);
        match found {
            Found::Occupied(found) => {
                let slot = found.get().slot as usize;
                if let Some(changes) = changes {
                    changes.mark(slot, || keys.key(slot));
                }
                Ok((slot, false))
            }
            Found::Vacant(vacant) => {
                let slot = self.keys.len();
                let number = u32::try_from(slot).map_err(|_| full())?;
                let key = new();
                if let Some(changes) = changes {
                    changes.mark(slot, || key.clone());
                }
                vacant.insert(Bucket { slot: number, tag });
                self.keys.push(key);
                self.accs.push();
                Ok((slot, true))
            }
        }
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
        let removed_tag = tag(hash(&self.keys.key(slot)));
        if let Ok(found) = self
            .entries
            .find_entry(spread(removed_tag), |b| b.slot as usize == slot)
        {
            found.remove();
        }
        if slot != last {
            let moved_tag = tag(hash(&self.keys.key(last)));
            if let Some(b) = self
                .entries
                .find_mut(spread(moved_tag), |b| b.slot as usize == last)
            {
                // `slot < last <= u32::MAX`: the number fits.
                b.slot = slot as u32;
            }
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
        let tag = tag(hash);
        self.entries
            .find(spread(tag), |b| b.tag == tag)
            .map(|b| b.slot as usize)
    }

    /// Reads the hash entries beside the one a new key of hash `hash` will most likely take
    /// (hashbrown probes from bucket `hash mod buckets`, and its entries lie eight to a cache
    /// line), so that the insert finds that line in cache; returns a value folded from what it
    /// read. The peek loop calls it for the keys it did not find: the new entry's line is the
    /// one an insert into a large table otherwise waits for. Only speed depends on the guess.
    #[inline]
    pub(crate) fn warm_insert(&self, hash: u64) -> u64 {
        let buckets = self.entries.num_buckets();
        let home = spread(tag(hash)) as usize & buckets.wrapping_sub(1);
        let line = home & !7;
        (line..(line + 8).min(buckets))
            .find_map(|i| self.entries.get_bucket(i))
            .map_or(0, |b| u64::from(b.slot))
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
        let tag = tag(hash);
        self.entries
            .find(spread(tag), |b| {
                b.tag == tag && is(&self.keys, b.slot as usize)
            })
            .map(|b| b.slot as usize)
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
        self.entries.clear();
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

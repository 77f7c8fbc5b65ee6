//! A hash table from key to a fixed-width run of accumulators, held in the key's own entry:
//! finding a key reaches its accumulators in the same bucket, one random memory access per
//! record. Up to [`INLINE`] accumulators sit in the entry itself; a wider stage boxes them.
//!
//! Keys occupy numbered slots `0..len` (the TTL's last-write times are kept by slot); a
//! table built with [`AccTable::removable`] also keeps the key of every slot, so it can
//! remove keys (the key of the last slot takes the freed number).
//!
//! A table built [`AccTable::tracked`] (a job with checkpoints) is a table of the keyed-state
//! layer (`crate::state`): it marks every key written or removed since the last barrier, one
//! bit per slot, so a checkpoint copies only those ([`AccTable::take_changed`]).

use super::accumulator::Acc;
use super::key::GroupKey;
use crate::state::ChangedSlots;
use hashbrown::hash_table::{Entry as Found, HashTable};
use hashbrown::Equivalent;
use rustc_hash::FxBuildHasher;
use std::hash::{BuildHasher, Hash};

/// The most accumulators a key keeps inside its table entry.
const INLINE: usize = 2;

/// A key's accumulators: inline for stages of up to [`INLINE`] aggregates (the unused tail
/// is filler), boxed beyond.
#[derive(Debug, Clone)]
enum Accs {
    Inline([Acc; INLINE]),
    Boxed(Box<[Acc]>),
}

impl Accs {
    fn new(initial: &[Acc]) -> Accs {
        match initial {
            [a] => Accs::Inline([a.clone(), Acc::Count(0)]),
            [a, b] => Accs::Inline([a.clone(), b.clone()]),
            _ => Accs::Boxed(initial.into()),
        }
    }

    #[inline]
    fn get(&self, width: usize) -> &[Acc] {
        match self {
            Accs::Inline(a) => &a[..width],
            Accs::Boxed(b) => b,
        }
    }

    #[inline]
    fn get_mut(&mut self, width: usize) -> &mut [Acc] {
        match self {
            Accs::Inline(a) => &mut a[..width],
            Accs::Boxed(b) => b,
        }
    }
}

/// One key's entry.
#[derive(Debug, Clone)]
struct Entry<K> {
    key: K,
    slot: usize,
    accs: Accs,
}

/// Accumulators per key: `width` of them for each key, in aggregate order.
#[derive(Debug, Clone)]
pub(crate) struct AccTable<K> {
    entries: HashTable<Entry<K>>,
    width: usize,
    /// The key of every slot (removable tables only).
    keys: Option<Vec<K>>,
    /// Keys written or removed since the last barrier (tracked tables only).
    changes: Option<ChangedSlots<K>>,
}

/// The hash a key (owned, or a [`GroupKey::Ref`] to it) is found by in every table.
#[inline]
pub(crate) fn hash(key: &impl Hash) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<K: GroupKey> AccTable<K> {
    /// An empty table of `width` accumulators per key.
    pub(crate) fn new(width: usize) -> AccTable<K> {
        AccTable {
            entries: HashTable::new(),
            width,
            keys: None,
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

    /// An empty table of `width` accumulators per key that can remove keys.
    pub(crate) fn removable(width: usize) -> AccTable<K> {
        AccTable {
            keys: Some(Vec::new()),
            ..AccTable::new(width)
        }
    }

    /// The accumulators of `key` (whose [`hash`] is `hash`), its slot, and whether it is new
    /// (created with the accumulators `initial`): one probe of the table.
    #[inline]
    pub(crate) fn find_or_insert(
        &mut self,
        key: K::Ref<'_>,
        hash: u64,
        initial: &[Acc],
    ) -> (&mut [Acc], usize, bool) {
        self.entry(hash, |k| key.equivalent(k), || K::own(key), initial, true)
    }

    /// The entry of the key `is` finds (whose [`hash`] is `hash`), created with `new()` and
    /// the accumulators `initial` when there is none.
    #[inline]
    fn entry(
        &mut self,
        hash: u64,
        is: impl Fn(&K) -> bool,
        new: impl FnOnce() -> K,
        initial: &[Acc],
        write: bool,
    ) -> (&mut [Acc], usize, bool) {
        let width = self.width;
        let slot = self.entries.len();
        let changes = self.changes.as_mut().filter(|_| write);
        match self
            .entries
            .entry(hash, |e| is(&e.key), |e| self::hash(&e.key))
        {
            Found::Occupied(found) => {
                let entry = found.into_mut();
                if let Some(changes) = changes {
                    changes.mark(entry.slot, || entry.key.clone());
                }
                (entry.accs.get_mut(width), entry.slot, false)
            }
            Found::Vacant(vacant) => {
                let key = new();
                if let Some(keys) = &mut self.keys {
                    keys.push(key.clone());
                }
                if let Some(changes) = changes {
                    changes.mark(slot, || key.clone());
                }
                let entry = vacant
                    .insert(Entry {
                        key,
                        slot,
                        accs: Accs::new(initial),
                    })
                    .into_mut();
                (entry.accs.get_mut(width), slot, true)
            }
        }
    }

    /// Adds a key with its accumulators (restore: not marked as changed); an existing key is
    /// replaced. Returns the key's slot and whether it is new.
    pub(crate) fn insert(&mut self, key: K, accs: &[Acc]) -> Result<(usize, bool), String> {
        if accs.len() != self.width {
            return Err(format!(
                "a key has {} accumulators, the stage computes {}",
                accs.len(),
                self.width
            ));
        }
        let hash = hash(&key);
        let (held, slot, new) = self.entry(hash, |k| *k == key, || key.clone(), accs, false);
        held.clone_from_slice(accs);
        Ok((slot, new))
    }

    /// Removes and returns the key in slot `slot` (`< len`) of a [`AccTable::removable`]
    /// table; the key of the last slot moves into `slot`. A table that cannot remove keys,
    /// or an empty one, is left unchanged.
    pub(crate) fn swap_remove(&mut self, slot: usize) -> Option<K> {
        let keys = self.keys.as_mut()?;
        let last = keys.len().checked_sub(1)?;
        let removed = keys.swap_remove(slot);
        if let Some(changes) = &mut self.changes {
            changes.removed(slot, removed.clone(), last);
        }
        if let Ok(found) = self
            .entries
            .find_entry(hash(&removed), |e| e.key == removed)
        {
            found.remove();
        }
        if let Some(moved) = keys.get(slot) {
            if let Some(entry) = self.entries.find_mut(hash(moved), |e| e.key == *moved) {
                entry.slot = slot;
            }
        }
        Some(removed)
    }

    /// Removes `key` from a [`AccTable::removable`] table (see [`AccTable::swap_remove`]).
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some((slot, _)) = self.get(key) {
            self.swap_remove(slot);
        }
    }

    /// The slot of the key `key` names (whose [`hash`] is `hash`).
    #[inline]
    pub(crate) fn find(&self, key: K::Ref<'_>, hash: u64) -> Option<usize> {
        self.entries
            .find(hash, |e| key.equivalent(&e.key))
            .map(|e| e.slot)
    }

    /// Every key with its slot and accumulators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, usize, &[Acc])> + '_ {
        let width = self.width;
        self.entries
            .iter()
            .map(move |e| (&e.key, e.slot, e.accs.get(width)))
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Removes every key, keeping the memory for reuse (and forgetting their changes).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        if let Some(keys) = &mut self.keys {
            keys.clear();
        }
        if let Some(changes) = &mut self.changes {
            changes.clear();
        }
    }

    /// The slot and accumulators of `key`.
    pub(crate) fn get(&self, key: &K) -> Option<(usize, &[Acc])> {
        self.entries
            .find(hash(key), |e| e.key == *key)
            .map(|e| (e.slot, e.accs.get(self.width)))
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
            for e in &self.entries {
                changes.mark(e.slot, || e.key.clone());
            }
        }
    }
}

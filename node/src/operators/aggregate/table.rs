//! A hash table from key to a fixed-width run of accumulators, stored flat: one `Vec<Acc>`
//! holds every key's accumulators, so a new key costs no allocation of its own. Keys occupy
//! numbered slots `0..len`; a table built with [`AccTable::removable`] also keeps the key of
//! every slot, so it can remove keys (the last slot moves into the hole).

use super::accumulator::Acc;
use super::key::GroupKey;
use quiver_protocol::keygroup::key_group;
use quiver_protocol::KeyGroup;
use rustc_hash::FxHashMap;

/// Accumulators per key: `width` of them for each key, in aggregate order.
#[derive(Debug, Clone)]
pub(crate) struct AccTable<K> {
    /// Key → slot number.
    index: FxHashMap<K, usize>,
    accs: Vec<Acc>,
    width: usize,
    /// The key of every slot (removable tables only).
    keys: Option<Vec<K>>,
}

/// Entries of one key group, borrowed for a snapshot.
pub(crate) type GroupEntries<'a, K> = Vec<(&'a K, &'a [Acc])>;

impl<K: GroupKey> AccTable<K> {
    /// An empty table of `width` accumulators per key.
    pub(crate) fn new(width: usize) -> AccTable<K> {
        AccTable {
            index: FxHashMap::default(),
            accs: Vec::new(),
            width,
            keys: None,
        }
    }

    /// An empty table of `width` accumulators per key that can remove keys.
    pub(crate) fn removable(width: usize) -> AccTable<K> {
        AccTable {
            keys: Some(Vec::new()),
            ..AccTable::new(width)
        }
    }

    /// The accumulators of `key`, created from `initial` when the key is new.
    #[inline]
    pub(crate) fn slot(&mut self, key: &K, initial: &[Acc]) -> &mut [Acc] {
        let (slot, _) = self.find_or_insert(key, initial);
        self.accs_mut(slot)
    }

    /// The slot of `key`, and whether it is new (created with the accumulators `initial`).
    #[inline]
    pub(crate) fn find_or_insert(&mut self, key: &K, initial: &[Acc]) -> (usize, bool) {
        if let Some(&slot) = self.index.get(key) {
            return (slot, false);
        }
        let slot = self.index.len();
        self.accs.extend_from_slice(initial);
        self.index.insert(key.clone(), slot);
        if let Some(keys) = &mut self.keys {
            keys.push(key.clone());
        }
        (slot, true)
    }

    /// The accumulators in slot `slot` (`< len`).
    #[inline]
    pub(crate) fn accs_mut(&mut self, slot: usize) -> &mut [Acc] {
        let start = slot * self.width;
        &mut self.accs[start..start + self.width]
    }

    /// Adds a key with its accumulators (restore); an existing key is replaced. Returns the
    /// key's slot and whether it is new.
    pub(crate) fn insert(&mut self, key: K, accs: &[Acc]) -> Result<(usize, bool), String> {
        if accs.len() != self.width {
            return Err(format!(
                "a key has {} accumulators, the stage computes {}",
                accs.len(),
                self.width
            ));
        }
        let (slot, new) = self.find_or_insert(&key, accs);
        self.accs_mut(slot).clone_from_slice(accs);
        Ok((slot, new))
    }

    /// Removes the key in slot `slot` (`< len`) of a [`AccTable::removable`] table; the key
    /// of the last slot moves into `slot`. A table that cannot remove keys is left unchanged.
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        let Some(keys) = &mut self.keys else {
            return;
        };
        let removed = keys.swap_remove(slot);
        self.index.remove(&removed);
        let last = keys.len();
        if slot < last {
            self.index.insert(keys[slot].clone(), slot);
            let (head, tail) = self.accs.split_at_mut(last * self.width);
            head[slot * self.width..(slot + 1) * self.width].swap_with_slice(tail);
        }
        self.accs.truncate(last * self.width);
    }

    /// Every key with its slot and accumulators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, usize, &[Acc])> + '_ {
        let width = self.width;
        self.index
            .iter()
            .map(move |(k, &slot)| (k, slot, &self.accs[slot * width..(slot + 1) * width]))
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Removes every key, keeping the memory for reuse.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.accs.clear();
        if let Some(keys) = &mut self.keys {
            keys.clear();
        }
    }

    /// The entries split by key group.
    pub(crate) fn by_group(
        &self,
        max_parallelism: u32,
    ) -> FxHashMap<KeyGroup, GroupEntries<'_, K>> {
        self.by_group_with(max_parallelism, |key, _, accs| Some((key, accs)))
    }

    /// The entries `entry(key, slot, accs)` makes (`None`: skip the key), split by key group.
    pub(crate) fn by_group_with<'a, T>(
        &'a self,
        max_parallelism: u32,
        mut entry: impl FnMut(&'a K, usize, &'a [Acc]) -> Option<T>,
    ) -> FxHashMap<KeyGroup, Vec<T>> {
        let mut groups: FxHashMap<KeyGroup, Vec<T>> = FxHashMap::default();
        for (key, slot, accs) in self.iter() {
            if let Some(e) = entry(key, slot, accs) {
                groups
                    .entry(key_group(key.hash_code(), max_parallelism))
                    .or_default()
                    .push(e);
            }
        }
        groups
    }
}

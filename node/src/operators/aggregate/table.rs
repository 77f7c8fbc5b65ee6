//! A hash table from key to a fixed-width run of accumulators, stored flat: one `Vec<Acc>`
//! holds every key's accumulators, so a new key costs no allocation of its own.

use super::accumulator::Acc;
use super::key::GroupKey;
use quiver_protocol::keygroup::key_group;
use quiver_protocol::KeyGroup;
use rustc_hash::FxHashMap;

/// Accumulators per key: `width` of them for each key, in aggregate order.
#[derive(Debug, Clone)]
pub(crate) struct AccTable<K> {
    index: FxHashMap<K, usize>,
    accs: Vec<Acc>,
    width: usize,
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
        }
    }

    /// The accumulators of `key`, created from `initial` when the key is new.
    #[inline]
    pub(crate) fn slot(&mut self, key: &K, initial: &[Acc]) -> &mut [Acc] {
        let start = match self.index.get(key) {
            Some(&start) => start,
            None => {
                let start = self.accs.len();
                self.accs.extend_from_slice(initial);
                self.index.insert(key.clone(), start);
                start
            }
        };
        &mut self.accs[start..start + self.width]
    }

    /// Adds a key with its accumulators (restore); an existing key is replaced.
    pub(crate) fn insert(&mut self, key: K, accs: &[Acc]) -> Result<(), String> {
        if accs.len() != self.width {
            return Err(format!(
                "a key has {} accumulators, the stage computes {}",
                accs.len(),
                self.width
            ));
        }
        self.slot(&key, accs).clone_from_slice(accs);
        Ok(())
    }

    /// Every key with its accumulators.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &[Acc])> + '_ {
        self.index
            .iter()
            .map(|(k, &start)| (k, &self.accs[start..start + self.width]))
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Removes every key, keeping the memory for reuse.
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.accs.clear();
    }

    /// The entries split by key group.
    pub(crate) fn by_group(
        &self,
        max_parallelism: u32,
    ) -> FxHashMap<KeyGroup, GroupEntries<'_, K>> {
        let mut groups: FxHashMap<KeyGroup, GroupEntries<'_, K>> = FxHashMap::default();
        for (key, accs) in self.iter() {
            groups
                .entry(key_group(key.hash_code(), max_parallelism))
                .or_default()
                .push((key, accs));
        }
        groups
    }
}

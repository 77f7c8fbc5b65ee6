//! Tracking the keys changed since the last confirmed checkpoint.

use quiver_protocol::CheckpointId;
use std::collections::HashSet;
use std::hash::Hash;

/// The keys of a slot-numbered table written since the last barrier: one bit per slot (a
/// key is listed once however often it is written) and the list of those keys, so taking
/// them costs O(changed), not O(table).
#[derive(Debug, Clone)]
pub(crate) struct ChangedSlots<K> {
    bits: Vec<u64>,
    keys: Vec<K>,
}

impl<K> Default for ChangedSlots<K> {
    fn default() -> Self {
        ChangedSlots {
            bits: Vec::new(),
            keys: Vec::new(),
        }
    }
}

impl<K> ChangedSlots<K> {
    /// Slot `slot` is written; `key()` names its key the first time since the last barrier.
    #[inline]
    pub(crate) fn mark(&mut self, slot: usize, key: impl FnOnce() -> K) {
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        if self.bits[word] & bit == 0 {
            self.bits[word] |= bit;
            self.keys.push(key());
        }
    }

    /// Slot `slot`'s key `key` was removed; the key of slot `from` now lives in `slot`.
    pub(crate) fn removed(&mut self, slot: usize, key: K, from: usize) {
        self.keys.push(key);
        let moved = self.is_marked(from);
        self.set(slot, moved);
        self.set(from, false);
    }

    /// `key`, which has no slot, changed (it was removed before it got one).
    pub(crate) fn note(&mut self, key: K) {
        self.keys.push(key);
    }

    fn is_marked(&self, slot: usize) -> bool {
        self.bits
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    fn set(&mut self, slot: usize, on: bool) {
        if let Some(word) = self.bits.get_mut(slot / 64) {
            let bit = 1u64 << (slot % 64);
            if on {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    /// The keys changed since the last call (a removed key may be listed twice), forgetting
    /// them.
    pub(crate) fn take(&mut self) -> Vec<K> {
        self.bits.fill(0);
        std::mem::take(&mut self.keys)
    }

    /// Forgets every change (the table was emptied).
    pub(crate) fn clear(&mut self) {
        self.bits.clear();
        self.keys.clear();
    }
}

/// Changed keys captured at barriers whose checkpoints the coordinator has not confirmed
/// yet. Every delta carries all of them, so a checkpoint that never completes loses nothing.
#[derive(Debug, Clone)]
pub(crate) struct ChangeLog<K> {
    unconfirmed: Vec<(CheckpointId, Vec<K>)>,
}

impl<K> Default for ChangeLog<K> {
    fn default() -> Self {
        ChangeLog {
            unconfirmed: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> ChangeLog<K> {
    /// Barrier `checkpoint`: `fresh` changed since the previous barrier. Returns every key
    /// changed since the last confirmed checkpoint (possibly repeated).
    ///
    /// While checkpoints keep failing (a backpressured job whose checkpoints expire), the
    /// lists of earlier unconfirmed checkpoints are merged into one, each key once, under the
    /// newest of their ids: a later confirmation then forgets them all, an earlier one none
    /// (they are sent again, which is harmless), and memory stays bounded by the distinct
    /// keys changed since the last confirmed checkpoint.
    pub(crate) fn capture(
        &mut self,
        checkpoint: CheckpointId,
        fresh: Vec<K>,
    ) -> impl Iterator<Item = &K> + '_ {
        if self.unconfirmed.len() >= 2 {
            let newest = self.unconfirmed.iter().map(|(c, _)| *c).max();
            let mut seen = HashSet::new();
            let merged: Vec<K> = std::mem::take(&mut self.unconfirmed)
                .into_iter()
                .flat_map(|(_, keys)| keys)
                .filter(|k| seen.insert(k.clone()))
                .collect();
            if let Some(newest) = newest {
                self.unconfirmed.push((newest, merged));
            }
        }
        self.unconfirmed.push((checkpoint, fresh));
        self.unconfirmed.iter().flat_map(|(_, keys)| keys)
    }

    /// Checkpoint `checkpoint` is complete: changes captured up to its barrier are stored.
    pub(crate) fn confirm(&mut self, checkpoint: CheckpointId) {
        self.unconfirmed.retain(|(c, _)| *c > checkpoint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_key_is_listed_once_per_interval_and_moves_with_its_slot() {
        let mut changed = ChangedSlots::default();
        for slot in [0, 3, 0, 70, 3] {
            changed.mark(slot, || slot);
        }
        assert_eq!(changed.take(), vec![0, 3, 70]);
        changed.mark(3, || 3);
        // The key in slot 3 is removed; the key of slot 70 takes slot 3, unmarked.
        changed.removed(3, 3, 70);
        changed.mark(3, || 70);
        changed.mark(70, || 999);
        assert_eq!(changed.take(), vec![3, 3, 70, 999]);
    }

    #[test]
    fn changes_are_kept_until_their_checkpoint_is_confirmed() {
        let mut log = ChangeLog::default();
        let keys = |log: &mut ChangeLog<u32>, c: u64, fresh: Vec<u32>| {
            log.capture(CheckpointId(c), fresh)
                .copied()
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(keys(&mut log, 1, vec![1, 2]), BTreeSet::from([1, 2]));
        // Checkpoint 1 was aborted: checkpoint 2 carries its changes too.
        assert_eq!(keys(&mut log, 2, vec![3]), BTreeSet::from([1, 2, 3]));
        // Checkpoint 3's barrier passed before checkpoint 2's confirmation arrived.
        assert_eq!(keys(&mut log, 3, vec![4]), BTreeSet::from([1, 2, 3, 4]));
        log.confirm(CheckpointId(2));
        assert_eq!(keys(&mut log, 4, vec![]), BTreeSet::from([4]));
    }

    #[test]
    fn the_lists_of_failing_checkpoints_merge_and_are_forgotten_by_the_newest() {
        let mut log = ChangeLog::default();
        let mut changed = BTreeSet::new();
        for (c, fresh) in [
            (1, vec![1, 2]),
            (2, vec![2, 3]),
            (3, vec![3, 4]),
            (4, vec![1]),
        ] {
            changed.extend(fresh.iter().copied());
            let all: BTreeSet<u32> = log.capture(CheckpointId(c), fresh).copied().collect();
            assert_eq!(all, changed, "nothing confirmed: every change is carried");
        }
        let held: Vec<u32> = log
            .unconfirmed
            .iter()
            .flat_map(|(_, k)| k)
            .copied()
            .collect();
        assert_eq!(held.len(), 5, "1..=4 once (merged) and 1 (fresh): {held:?}");
        // Checkpoint 2 completing confirms nothing merged under checkpoint 3.
        log.confirm(CheckpointId(2));
        let kept: BTreeSet<u32> = log.capture(CheckpointId(5), vec![]).copied().collect();
        assert_eq!(kept, BTreeSet::from([1, 2, 3, 4]));
        log.confirm(CheckpointId(5));
        assert_eq!(log.capture(CheckpointId(6), vec![]).count(), 0);
    }
}

//! A table's hash index: from 32 bits of a key's hash (its *tag*) to the key's slot, by open
//! addressing with linear probing over one array of 8-byte buckets (tag and slot in one
//! word; 0 is an empty bucket). A probe reads the bucket its tag names and the ones after it,
//! mostly within one cache line; a key not held is inserted in that same run. So reading a
//! batch's home buckets first ([`SlotIndex::peek`]) warms the lines the probes *and* the
//! inserts will touch, which an index that does not say where it inserts cannot offer.
//!
//! At most 13/16 of the buckets are full (so a run always ends), at least 13/32 once it grew:
//! 10–20 bytes per key. Removal shifts the entries after the hole back (no tombstones).

/// An empty bucket.
const EMPTY: u64 = 0;

/// Tag → slot, for up to `u32::MAX - 1` slots.
#[derive(Debug, Clone, Default)]
pub(crate) struct SlotIndex {
    /// `tag << 32 | (slot + 1)` per full bucket, [`EMPTY`] otherwise; a power of two long, or
    /// empty.
    buckets: Vec<u64>,
    /// Full buckets.
    len: usize,
}

/// The bucket of `slot` under `tag` (`slot < u32::MAX`).
#[inline]
fn bucket(tag: u32, slot: usize) -> u64 {
    (u64::from(tag) << 32) | (slot as u64 + 1)
}

/// A full bucket's tag.
#[inline]
fn tag_of(bucket: u64) -> u32 {
    (bucket >> 32) as u32
}

/// A full bucket's slot.
#[inline]
fn slot_of(bucket: u64) -> usize {
    (bucket & u64::from(u32::MAX)) as usize - 1
}

impl SlotIndex {
    /// The largest slot number the index holds.
    pub(crate) const MAX_SLOT: usize = u32::MAX as usize - 1;

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The bucket where the run of `tag`'s entry starts.
    #[inline]
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// The position of the first bucket from `tag`'s home on that is empty or holds `tag` and
    /// a slot `is` accepts (`None`: the index has no bucket).
    #[inline]
    fn position(&self, tag: u32, is: impl Fn(usize) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(tag);
        loop {
            let b = self.buckets[i];
            if b == EMPTY || (tag_of(b) == tag && is(slot_of(b))) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot of the first entry of `tag` that `is` accepts.
    #[inline]
    pub(crate) fn find(&self, tag: u32, is: impl Fn(usize) -> bool) -> Option<usize> {
        let b = self.buckets[self.position(tag, is)?];
        (b != EMPTY).then(|| slot_of(b))
    }

    /// The slot of the first entry of `tag`, its key not compared; reads the buckets a probe
    /// or an insert of `tag` will read.
    #[inline]
    pub(crate) fn peek(&self, tag: u32) -> Option<usize> {
        self.find(tag, |_| true)
    }

    /// The slot of the entry of `tag` that `is` accepts; without one, `new` (`<=`
    /// [`SlotIndex::MAX_SLOT`]) is added under `tag`. Returns the slot and whether it is new.
    #[inline]
    pub(crate) fn find_or_insert(
        &mut self,
        tag: u32,
        is: impl Fn(usize) -> bool,
        new: usize,
    ) -> (usize, bool) {
        if (self.len + 1) * 16 > self.buckets.len() * 13 {
            self.grow();
        }
        // The index has buckets now, one at least empty.
        let Some(i) = self.position(tag, is) else {
            return (new, false);
        };
        let b = self.buckets[i];
        if b != EMPTY {
            return (slot_of(b), false);
        }
        self.buckets[i] = bucket(tag, new);
        self.len += 1;
        (new, true)
    }

    /// Twice the buckets (8 at first), every entry placed anew by its tag.
    fn grow(&mut self) {
        let size = (self.buckets.len() * 2).max(8);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; size]);
        let mask = self.mask();
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            let mut i = self.home(tag_of(b));
            while self.buckets[i] != EMPTY {
                i = (i + 1) & mask;
            }
            self.buckets[i] = b;
        }
    }

    /// Removes the entry of `slot` under `tag`; whether there was one. The entries after it
    /// in its run move back, so every run stays unbroken.
    pub(crate) fn remove(&mut self, tag: u32, slot: usize) -> bool {
        let Some(mut hole) = self.position(tag, |s| s == slot) else {
            return false;
        };
        if self.buckets[hole] == EMPTY {
            return false;
        }
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b == EMPTY {
                break;
            }
            // `b` may fill the hole unless its home lies after the hole (cyclically, up to j).
            let home = self.home(tag_of(b));
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// The entry of slot `from` under `tag` names slot `to` (`<=` [`SlotIndex::MAX_SLOT`])
    /// instead; nothing when there is no such entry.
    pub(crate) fn renumber(&mut self, tag: u32, from: usize, to: usize) {
        if let Some(i) = self.position(tag, |s| s == from) {
            if self.buckets[i] != EMPTY {
                self.buckets[i] = bucket(tag, to);
            }
        }
    }

    /// Removes every entry, keeping the buckets.
    pub(crate) fn clear(&mut self) {
        self.buckets.fill(EMPTY);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::SlotIndex;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        /// Finds or inserts key `.0` (tag `.0 % 8`, so runs collide and wrap).
        Write(u16),
        Remove(u16),
        /// Keys `.0` and `.1` swap their slots (renumbering, as a table's swap-remove does).
        Swap(u16, u16),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = 0u16..40;
        prop_oneof![
            10 => key.clone().prop_map(Op::Write),
            4 => key.clone().prop_map(Op::Remove),
            2 => (key.clone(), key).prop_map(|(a, b)| Op::Swap(a, b)),
            1 => Just(Op::Clear),
        ]
    }

    /// Tags of few values (collisions, runs across the array's end) and far apart.
    fn tag(key: u16) -> u32 {
        (u32::from(key % 8) * 5) | (u32::from(key % 3) << 30)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any sequence of writes, removals, renumberings and clears finds every key a
        /// `HashMap` holds at the slot it holds, and no other.
        #[test]
        fn a_slot_index_finds_what_a_hash_map_holds(ops in prop::collection::vec(op(), 0..300)) {
            let mut index = SlotIndex::default();
            // Key -> slot; slots are handed out as a counter (any distinct numbers do).
            let mut model: HashMap<u16, usize> = HashMap::new();
            let mut next = 0;
            for op in ops {
                match op {
                    Op::Write(k) => {
                        let slots = model.clone();
                        let is = |s: usize| slots.get(&k) == Some(&s);
                        let (slot, new) = index.find_or_insert(tag(k), is, next);
                        prop_assert_eq!(new, !model.contains_key(&k));
                        prop_assert_eq!(slot, *model.entry(k).or_insert(next));
                        next += 1;
                    }
                    Op::Remove(k) => {
                        let removed = model.remove(&k);
                        let slot = removed.unwrap_or(usize::MAX - 7);
                        prop_assert_eq!(index.remove(tag(k), slot), removed.is_some());
                    }
                    Op::Swap(a, b) => {
                        if let (Some(&sa), Some(&sb)) = (model.get(&a), model.get(&b)) {
                            if a != b {
                                index.renumber(tag(a), sa, next);
                                index.renumber(tag(b), sb, sa);
                                index.renumber(tag(a), next, sb);
                                model.insert(a, sb);
                                model.insert(b, sa);
                            }
                        }
                    }
                    Op::Clear => {
                        index.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(index.len(), model.len());
                for k in 0..40u16 {
                    let held = model.get(&k).copied();
                    let found = index.find(tag(k), |s| held == Some(s));
                    prop_assert_eq!(found, held, "key {}", k);
                }
            }
        }
    }
}

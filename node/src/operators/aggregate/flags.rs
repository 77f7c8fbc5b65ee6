//! A bit per slot of a table (a sum's "any value seen").

/// One bit per slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flags {
    words: Vec<u64>,
}

impl Flags {
    /// Slot `slot`'s bit (off beyond the room made).
    #[inline]
    pub(crate) fn get(&self, slot: usize) -> bool {
        self.words
            .get(slot / 64)
            .is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }

    /// Sets slot `slot`'s bit (a slot beyond the room [`Flags::grow`] made is ignored).
    #[inline]
    pub(crate) fn set(&mut self, slot: usize, on: bool) {
        if let Some(word) = self.words.get_mut(slot / 64) {
            let bit = 1u64 << (slot % 64);
            if on {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }

    /// Makes room for `slots` slots (new bits are off).
    #[inline]
    pub(crate) fn grow(&mut self, slots: usize) {
        let words = slots.div_ceil(64);
        if words > self.words.len() {
            self.words.resize(words, 0);
        }
    }

    /// Sets the bit of every hit's slot.
    #[inline]
    pub(crate) fn set_all(&mut self, hits: &[super::acc_columns::Hit]) {
        hits.iter()
            .for_each(|hit| self.set(hit.slot as usize, true));
    }

    /// Whether the bits of slots `0..slots` are all on (room made for them).
    pub(crate) fn all(&self, slots: usize) -> bool {
        let (full, rest) = (slots / 64, slots % 64);
        self.words.len() >= slots.div_ceil(64)
            && self.words[..full].iter().all(|&w| w == u64::MAX)
            && (rest == 0 || self.words[full] & ((1 << rest) - 1) == (1 << rest) - 1)
    }

    /// Slot `last`'s bit moves into `slot` (`last` is the last slot, which goes away).
    pub(crate) fn swap_remove(&mut self, slot: usize, last: usize) {
        let moved = self.get(last);
        self.set(slot, moved);
        self.set(last, false);
    }

    /// Every bit off, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.words.clear();
    }
}

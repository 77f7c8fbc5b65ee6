//! Keyed state every path shares: a running count + sum per key and 1 s tumbling windows of
//! the same, in hashbrown tables hashed with Fx (as `node`'s `AccTable`), with the count and
//! sum as plain `i64` / `f64` slots. Only the key's representation differs by path: an i64,
//! an `Arc<str>` shared with the row (rows path, as `node`'s `StrKey`), or bytes in an arena
//! owned by the table (columnar paths: no allocation per key).

use hashbrown::hash_table::{Entry, HashTable};
use rustc_hash::FxHasher;
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::sync::Arc;

/// A key's running count and sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Acc {
    /// Records.
    pub n: i64,
    /// Sum of `amount`.
    pub total: f64,
}

impl Acc {
    #[inline]
    fn add(&mut self, amount: f64) -> Acc {
        self.n += 1;
        self.total += amount;
        *self
    }
}

/// A table from key to [`Acc`].
pub trait KeyTable: Default {
    /// The key as a lookup reads it.
    type Key<'a>: Copy;
    /// Adds one record of `amount` to `key`; returns the key's new accumulator.
    fn upsert(&mut self, key: Self::Key<'_>, amount: f64) -> Acc;
    /// Keys held.
    fn len(&self) -> usize;
    /// Whether no key is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Forgets every key, keeping the capacity.
    fn clear(&mut self);
    /// Calls `f` with every key and accumulator.
    fn for_each<'s>(&'s self, f: impl FnMut(Self::Key<'s>, Acc));
}

#[inline]
fn hash_i64(x: i64) -> u64 {
    let mut h = FxHasher::default();
    h.write_i64(x);
    h.finish()
}

/// The hash of a string key (its bytes).
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(b);
    h.finish()
}

/// i64 keys.
#[derive(Default)]
pub struct I64Table(HashTable<(i64, Acc)>);

impl KeyTable for I64Table {
    type Key<'a> = i64;
    #[inline]
    fn upsert(&mut self, key: i64, amount: f64) -> Acc {
        match self
            .0
            .entry(hash_i64(key), |e| e.0 == key, |e| hash_i64(e.0))
        {
            Entry::Occupied(o) => o.into_mut().1.add(amount),
            Entry::Vacant(v) => v.insert((key, Acc::default())).into_mut().1.add(amount),
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
    fn for_each<'s>(&'s self, mut f: impl FnMut(Self::Key<'s>, Acc)) {
        self.0.iter().for_each(|e| f(e.0, e.1));
    }
}

/// String keys shared with the rows they came from (`Arc<str>`; today's `StrKey`).
#[derive(Default)]
pub struct ArcStrTable(HashTable<(Arc<str>, Acc)>);

impl KeyTable for ArcStrTable {
    type Key<'a> = &'a Arc<str>;
    #[inline]
    fn upsert(&mut self, key: &Arc<str>, amount: f64) -> Acc {
        let h = hash_bytes(key.as_bytes());
        match self
            .0
            .entry(h, |e| *e.0 == **key, |e| hash_bytes(e.0.as_bytes()))
        {
            Entry::Occupied(o) => o.into_mut().1.add(amount),
            Entry::Vacant(v) => v
                .insert((key.clone(), Acc::default()))
                .into_mut()
                .1
                .add(amount),
        }
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn clear(&mut self) {
        self.0.clear();
    }
    fn for_each<'s>(&'s self, mut f: impl FnMut(Self::Key<'s>, Acc)) {
        self.0.iter().for_each(|e| f(&e.0, e.1));
    }
}

/// String keys copied into one text arena the table owns: no allocation per key.
#[derive(Default)]
pub struct ArenaStrTable {
    /// `(start, len, hash, acc)`; the key is `arena[start..start + len]`.
    entries: HashTable<(u32, u32, u64, Acc)>,
    arena: String,
}

impl KeyTable for ArenaStrTable {
    type Key<'a> = &'a str;
    #[inline]
    fn upsert(&mut self, key: &str, amount: f64) -> Acc {
        let h = hash_bytes(key.as_bytes());
        let arena = &mut self.arena;
        match self.entries.entry(
            h,
            |e| e.2 == h && &arena[e.0 as usize..(e.0 + e.1) as usize] == key,
            |e| e.2,
        ) {
            Entry::Occupied(o) => o.into_mut().3.add(amount),
            Entry::Vacant(v) => {
                let start = arena.len() as u32;
                arena.push_str(key);
                v.insert((start, key.len() as u32, h, Acc::default()))
                    .into_mut()
                    .3
                    .add(amount)
            }
        }
    }
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn clear(&mut self) {
        self.entries.clear();
        self.arena.clear();
    }
    fn for_each<'s>(&'s self, mut f: impl FnMut(Self::Key<'s>, Acc)) {
        for e in self.entries.iter() {
            // Entries start and end on the key boundaries pushed.
            f(&self.arena[e.0 as usize..(e.0 + e.1) as usize], e.3);
        }
    }
}

/// Tumbling windows: one table per window end, fired in end order, tables reused.
pub struct Windows<T> {
    pending: BTreeMap<i64, T>,
    spare: Vec<T>,
}

impl<T: KeyTable> Default for Windows<T> {
    fn default() -> Self {
        Windows {
            pending: BTreeMap::new(),
            spare: Vec::new(),
        }
    }
}

impl<T: KeyTable> Windows<T> {
    /// The table of the window ending at `end` (exclusive), created if new.
    #[inline]
    pub fn table(&mut self, end: i64) -> &mut T {
        let spare = &mut self.spare;
        self.pending
            .entry(end)
            .or_insert_with(|| spare.pop().unwrap_or_default())
    }

    /// Calls `f(end, table)` for every window with `end - 1 <= watermark`, in end order, then
    /// clears it for reuse.
    pub fn fire(&mut self, watermark: i64, mut f: impl FnMut(i64, &T)) {
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let end = *entry.key();
            let mut table = entry.remove();
            f(end, &table);
            table.clear();
            self.spare.push(table);
        }
    }
}

/// The end of the tumbling window holding `t`.
#[inline]
pub fn window_end(t: i64, size: i64) -> i64 {
    t - t.rem_euclid(size) + size
}

/// What the sinks saw: rows and an order-independent checksum per output, equal across
/// paths when they compute the same thing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    /// Running rows.
    pub running_rows: u64,
    /// Sum of the running rows' hashes.
    pub running_sum: u64,
    /// Window rows.
    pub window_rows: u64,
    /// Sum of the window rows' hashes.
    pub window_sum: u64,
}

impl Digest {
    /// Adds one running row.
    #[inline]
    pub fn running(&mut self, event_time: i64, key: u64, n: i64, total: f64) {
        self.running_rows += 1;
        self.running_sum =
            self.running_sum
                .wrapping_add(mix(event_time as u64, key, n as u64, total.to_bits()));
    }

    /// Adds one window row (its start is `end - size`, so `end` stands for both).
    #[inline]
    pub fn window(&mut self, end: i64, key: u64, n: i64, total: f64) {
        self.window_rows += 1;
        self.window_sum =
            self.window_sum
                .wrapping_add(mix(end as u64, key, n as u64, total.to_bits()));
    }
}

#[inline]
fn mix(a: u64, b: u64, c: u64, d: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(a);
    h.write_u64(b);
    h.write_u64(c);
    h.write_u64(d);
    h.finish()
}

/// The digest's key hash of an i64 key.
#[inline]
pub fn key_i64(x: i64) -> u64 {
    x as u64
}

/// The digest's key hash of a string key.
#[inline]
pub fn key_str(s: &[u8]) -> u64 {
    hash_bytes(s)
}

/// The columns of fired window rows, built as columns (columnar paths).
#[derive(Default)]
pub struct WindowColumns {
    /// Event time: the window's end - 1.
    pub event_time: Vec<i64>,
    /// `window_start`.
    pub start: Vec<i64>,
    /// `window_end`.
    pub end: Vec<i64>,
    /// `n`.
    pub n: Vec<i64>,
    /// `total`.
    pub total: Vec<f64>,
}

impl WindowColumns {
    /// Room for `more` rows.
    pub fn reserve(&mut self, more: usize) {
        self.event_time.reserve(more);
        self.start.reserve(more);
        self.end.reserve(more);
        self.n.reserve(more);
        self.total.reserve(more);
    }

    /// One row of the window ending at `end`.
    #[inline]
    pub fn push(&mut self, end: i64, size: i64, acc: Acc) {
        self.event_time.push(end - 1);
        self.start.push(end - size);
        self.end.push(end);
        self.n.push(acc.n);
        self.total.push(acc.total);
    }
}

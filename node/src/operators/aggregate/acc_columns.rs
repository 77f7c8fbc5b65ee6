//! Accumulators stored by slot, one typed column per aggregate: a `count()` is 8 bytes per
//! key, a `sum` 8 bytes and a bit ("any value seen"), an `avg` 16 bytes; `min` / `max` keep a
//! [`Value`] (24 bytes). An [`Acc`] is 24 bytes whatever its function, so a count + sum held
//! as two `Acc`s costs 48 bytes per key where these columns cost 16 and a bit.
//!
//! The columns hold exactly what an [`Acc`] holds: a slot's accumulators are read as
//! [`Acc`]s ([`SlotRef::to_vec`]), updated through [`Acc::update`] and written through
//! [`Acc::write`], so the aggregate semantics live in one place ([`super::accumulator`]).

use super::accumulator::{add_f64, add_i64, Acc};
use super::flags::Flags;
use quiver_protocol::batch::{Column as Values, ColumnBuilder, ColumnData, ValueRef, WrongType};
use quiver_protocol::Value;
use std::cmp::Ordering;

/// The accumulators of one aggregate, by slot.
#[derive(Debug, Clone)]
enum Column {
    Count(Vec<i64>),
    SumI64(Vec<i64>, Flags),
    SumF64(Vec<f64>, Flags),
    Avg(Vec<(f64, i64)>),
    Extreme(Vec<Value>),
}

impl Column {
    /// An empty column of `acc`'s function.
    fn of(acc: &Acc) -> Column {
        match acc {
            Acc::Count(_) => Column::Count(Vec::new()),
            Acc::SumI64(..) => Column::SumI64(Vec::new(), Flags::default()),
            Acc::SumF64(..) => Column::SumF64(Vec::new(), Flags::default()),
            Acc::Avg(..) => Column::Avg(Vec::new()),
            Acc::Extreme(_) => Column::Extreme(Vec::new()),
        }
    }

    /// Whether `acc` is of this column's function.
    fn fits(&self, acc: &Acc) -> bool {
        matches!(
            (self, acc),
            (Column::Count(_), Acc::Count(_))
                | (Column::SumI64(..), Acc::SumI64(..))
                | (Column::SumF64(..), Acc::SumF64(..))
                | (Column::Avg(_), Acc::Avg(..))
                | (Column::Extreme(_), Acc::Extreme(_))
        )
    }

    /// The function's initial accumulator (as [`super::accumulator::AggregatePlan::new`]
    /// makes it).
    fn initial(&self) -> Acc {
        match self {
            Column::Count(_) => Acc::Count(0),
            Column::SumI64(..) => Acc::SumI64(0, false),
            Column::SumF64(..) => Acc::SumF64(0.0, false),
            Column::Avg(_) => Acc::Avg(0.0, 0),
            Column::Extreme(_) => Acc::Extreme(Value::Null),
        }
    }

    /// Appends a slot holding the function's initial accumulator.
    fn push(&mut self) {
        match self {
            Column::Count(v) => push_wide(v, 0),
            Column::SumI64(v, seen) => {
                push_wide(v, 0);
                seen.grow(v.len());
            }
            Column::SumF64(v, seen) => {
                push_wide(v, 0.0);
                seen.grow(v.len());
            }
            Column::Avg(v) => push_wide(v, (0.0, 0)),
            Column::Extreme(v) => push_wide(v, Value::Null),
        }
    }

    /// Slot `slot`'s accumulator, moved out (an extreme leaves a null behind).
    #[inline]
    fn take(&mut self, slot: usize) -> Acc {
        match self {
            Column::Extreme(v) => Acc::Extreme(std::mem::take(&mut v[slot])),
            other => other.get(slot),
        }
    }

    /// Slot `slot`'s accumulator.
    #[inline]
    fn get(&self, slot: usize) -> Acc {
        match self {
            Column::Count(v) => Acc::Count(v[slot]),
            Column::SumI64(v, seen) => Acc::SumI64(v[slot], seen.get(slot)),
            Column::SumF64(v, seen) => Acc::SumF64(v[slot], seen.get(slot)),
            Column::Avg(v) => Acc::Avg(v[slot].0, v[slot].1),
            Column::Extreme(v) => Acc::Extreme(v[slot].clone()),
        }
    }

    /// Stores `acc` in slot `slot`; an accumulator of another function is not stored (callers
    /// check [`Column::fits`] first).
    #[inline]
    fn put(&mut self, slot: usize, acc: Acc) {
        match (self, acc) {
            (Column::Count(v), Acc::Count(n)) => v[slot] = n,
            (Column::SumI64(v, seen), Acc::SumI64(s, any)) => {
                v[slot] = s;
                seen.set(slot, any);
            }
            (Column::SumF64(v, seen), Acc::SumF64(s, any)) => {
                v[slot] = s;
                seen.set(slot, any);
            }
            (Column::Avg(v), Acc::Avg(s, n)) => v[slot] = (s, n),
            (Column::Extreme(v), Acc::Extreme(x)) => v[slot] = x,
            _ => {}
        }
    }

    /// Adds `value` to slot `slot` (see [`Acc::update`]): counts and sums in place, the
    /// others through their [`Acc`].
    #[inline]
    fn update(&mut self, slot: usize, value: Option<ValueRef<'_>>, keep: Ordering) {
        match self {
            Column::Count(v) => v[slot] += 1,
            Column::SumI64(v, seen) => {
                if add_i64(&mut v[slot], value) {
                    seen.set(slot, true);
                }
            }
            Column::SumF64(v, seen) => {
                if add_f64(&mut v[slot], value) {
                    seen.set(slot, true);
                }
            }
            other => {
                let mut acc = other.take(slot);
                acc.update(value, keep);
                other.put(slot, acc);
            }
        }
    }

    /// Adds each hit's record to its slot, in hit order, as [`Column::update`] does with row
    /// `hit.row` of `arg` (`None` for `count()`); with `out`, appends each hit's slot value
    /// after its update. Counts, and sums over a column without nulls, run as one tight loop
    /// over the hits (no [`ValueRef`] or [`Acc`] per record).
    fn add_rows(
        &mut self,
        hits: &[Hit],
        arg: Option<&Values>,
        keep: Ordering,
        out: Option<&mut ColumnBuilder>,
    ) -> Result<(), WrongType> {
        let dense = arg.filter(|c| c.nulls.is_none()).map(|c| &c.data);
        match (self, dense) {
            (Column::Count(v), _) => {
                add_each(v, hits, |n, _| *n += 1, out, ColumnBuilder::extend_i64)
            }
            (Column::SumI64(v, seen), Some(ColumnData::I64(x))) => {
                seen.set_all(hits);
                let add = |s: &mut i64, row| *s = s.wrapping_add(x[row]);
                add_each(v, hits, add, out, ColumnBuilder::extend_i64)
            }
            (Column::SumF64(v, seen), Some(ColumnData::F64(x))) => {
                seen.set_all(hits);
                add_each(
                    v,
                    hits,
                    |s, row| *s += x[row],
                    out,
                    ColumnBuilder::extend_f64,
                )
            }
            (column, _) => {
                let mut out = out;
                for hit in hits {
                    let slot = hit.slot as usize;
                    column.update(slot, arg.map(|c| c.get(hit.row as usize)), keep);
                    if let Some(out) = out.as_deref_mut() {
                        column.write(slot, out)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Reads slot `slot`'s accumulator (if there is one) and returns a value folded from it
    /// (see [`AccColumns::touch`]).
    #[inline]
    fn touch(&self, slot: usize) -> u64 {
        match self {
            Column::Count(v) | Column::SumI64(v, _) => v.get(slot).map_or(0, |&x| x as u64),
            Column::SumF64(v, _) => v.get(slot).map_or(0, |x| x.to_bits()),
            Column::Avg(v) => v.get(slot).map_or(0, |x| x.1 as u64),
            Column::Extreme(v) => u64::from(v.get(slot).is_some_and(|x| *x == Value::Null)),
        }
    }

    /// Appends every slot's value to an output column, in slot order.
    fn write_all(&self, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        match self {
            Column::Count(v) => column.extend_i64(v),
            Column::SumI64(v, seen) if seen.all(v.len()) => column.extend_i64(v),
            Column::SumF64(v, seen) if seen.all(v.len()) => column.extend_f64(v),
            _ => (0..self.len()).try_for_each(|slot| self.write(slot, column)),
        }
    }

    /// Appends slot `slot`'s value to an output column.
    #[inline]
    fn write(&self, slot: usize, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        match self {
            Column::Count(v) => Acc::Count(v[slot]).write(column),
            Column::SumI64(v, seen) => Acc::SumI64(v[slot], seen.get(slot)).write(column),
            Column::SumF64(v, seen) => Acc::SumF64(v[slot], seen.get(slot)).write(column),
            Column::Avg(v) => Acc::Avg(v[slot].0, v[slot].1).write(column),
            // Borrowed: no copy of a string extreme.
            Column::Extreme(v) => column.push((&v[slot]).into()),
        }
    }

    /// Moves the last slot into `slot` and drops the last.
    fn swap_remove(&mut self, slot: usize) {
        let last = self.len().saturating_sub(1);
        match self {
            Column::Count(v) => drop(v.swap_remove(slot)),
            Column::SumI64(v, seen) => {
                v.swap_remove(slot);
                seen.swap_remove(slot, last);
            }
            Column::SumF64(v, seen) => {
                v.swap_remove(slot);
                seen.swap_remove(slot, last);
            }
            Column::Avg(v) => drop(v.swap_remove(slot)),
            Column::Extreme(v) => drop(v.swap_remove(slot)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Column::Count(v) | Column::SumI64(v, _) => v.len(),
            Column::SumF64(v, _) => v.len(),
            Column::Avg(v) => v.len(),
            Column::Extreme(v) => v.len(),
        }
    }

    fn clear(&mut self) {
        match self {
            Column::Count(v) => v.clear(),
            Column::SumI64(v, seen) => {
                v.clear();
                seen.clear();
            }
            Column::SumF64(v, seen) => {
                v.clear();
                seen.clear();
            }
            Column::Avg(v) => v.clear(),
            Column::Extreme(v) => v.clear(),
        }
    }
}

/// Adds each hit's row (`add(value, row)`) to its slot's value in `values`, in hit order;
/// with `out`, appends (`extend`) each hit's value after its update.
#[inline]
fn add_each<T: Copy>(
    values: &mut [T],
    hits: &[Hit],
    add: impl Fn(&mut T, usize),
    out: Option<&mut ColumnBuilder>,
    extend: fn(&mut ColumnBuilder, &[T]) -> Result<(), WrongType>,
) -> Result<(), WrongType> {
    let mut after = |hit: &Hit| {
        let value = &mut values[hit.slot as usize];
        add(value, hit.row as usize);
        *value
    };
    match out {
        None => {
            hits.iter().for_each(|hit| {
                after(hit);
            });
            Ok(())
        }
        Some(out) => extend(out, &hits.iter().map(after).collect::<Vec<T>>()),
    }
}

/// A record of a batch that a table's slot takes: the slot of its key and its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The slot.
    pub(crate) slot: u32,
    /// The record's row in its batch.
    pub(crate) row: u32,
}

/// The length from which [`push_wide`] grows a full column 4× rather than 2×.
pub(crate) const WIDE: usize = 1 << 16;

/// Pushes `value` onto a column of a table, growing it 4× when it is full and holds at least
/// [`WIDE`] values (2× below). Growing moves the column into memory the process has never
/// touched, which the kernel zeroes page by page: with 2× a column of n values has copied about
/// n before, with 4× about n / 3 (10M-key W1: see BENCHMARKS.md). The room reserved beyond the
/// values is address space only, and costs no memory until values fill it.
#[inline]
pub(crate) fn push_wide<T>(column: &mut Vec<T>, value: T) {
    if column.len() == column.capacity() {
        grow_wide(column);
    }
    column.push(value);
}

/// Makes room in the full `column` (see [`push_wide`]).
#[cold]
#[inline(never)]
fn grow_wide<T>(column: &mut Vec<T>) {
    let capacity = column.capacity();
    // `reserve(1)` of a full vector doubles it (or starts it).
    column.reserve(if capacity >= WIDE { 3 * capacity } else { 1 });
}

/// The accumulators of every slot of a table: one [`Column`] per aggregate, in aggregate
/// order.
#[derive(Debug, Clone)]
pub(crate) struct AccColumns {
    columns: Vec<Column>,
}

impl AccColumns {
    /// No slot yet; a new slot holds `initial` (one accumulator per aggregate, as
    /// [`super::accumulator::AggregatePlan::initial`] makes them).
    pub(crate) fn new(initial: &[Acc]) -> AccColumns {
        AccColumns {
            columns: initial.iter().map(Column::of).collect(),
        }
    }

    /// `None` when `accs` are accumulators of this stage's functions, else what is wrong.
    pub(crate) fn mismatch(&self, accs: &[Acc]) -> Option<String> {
        if accs.len() != self.columns.len() {
            return Some(format!(
                "a key has {} accumulators, the stage computes {}",
                accs.len(),
                self.columns.len()
            ));
        }
        let wrong = self
            .columns
            .iter()
            .zip(accs)
            .position(|(c, a)| !c.fits(a))?;
        Some(format!(
            "a key's accumulator {wrong} is {:?}, not of the stage's aggregate function",
            accs[wrong]
        ))
    }

    /// Appends a slot holding the initial accumulators.
    pub(crate) fn push(&mut self) {
        self.columns.iter_mut().for_each(Column::push);
    }

    /// Moves the last slot into `slot` and drops the last.
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        self.columns.iter_mut().for_each(|c| c.swap_remove(slot));
    }

    /// Removes every slot, keeping the memory.
    pub(crate) fn clear(&mut self) {
        self.columns.iter_mut().for_each(Column::clear);
    }

    /// Adds each hit's record to aggregate `i` of its slot (see [`Column::add_rows`]); `arg`
    /// is the aggregate's argument column, `keep` its plan's ordering; with `out`, appends
    /// each hit's value after its update. An `i` beyond the aggregates does nothing.
    pub(crate) fn add_rows(
        &mut self,
        i: usize,
        hits: &[Hit],
        (arg, keep): (Option<&Values>, Ordering),
        out: Option<&mut ColumnBuilder>,
    ) -> Result<(), WrongType> {
        self.columns
            .get_mut(i)
            .map_or(Ok(()), |c| c.add_rows(hits, arg, keep, out))
    }

    /// Reads slot `slot`'s accumulators and returns a value folded from them: see
    /// [`super::table::AccTable::touch`].
    #[inline]
    pub(crate) fn touch(&self, slot: usize) -> u64 {
        self.columns.iter().fold(0, |acc, c| acc ^ c.touch(slot))
    }

    /// Appends every slot's value of each aggregate to its output column (one per
    /// aggregate), in slot order.
    pub(crate) fn write_all(&self, columns: &mut [ColumnBuilder]) -> Result<(), WrongType> {
        self.columns
            .iter()
            .zip(columns)
            .try_for_each(|(c, out)| c.write_all(out))
    }

    /// Slot `slot` (`<` the number of slots), to read.
    pub(crate) fn slot(&self, slot: usize) -> SlotRef<'_> {
        SlotRef {
            columns: self,
            slot,
        }
    }

    /// Slot `slot` (`<` the number of slots), to update.
    pub(crate) fn slot_mut(&mut self, slot: usize) -> SlotMut<'_> {
        SlotMut {
            columns: self,
            slot,
        }
    }
}

/// Accumulators a record updates: a key's slice of [`Acc`]s, or its slot of [`AccColumns`].
pub(crate) trait Update {
    /// Adds `value` to aggregate `i` (see [`Acc::update`]).
    fn update(&mut self, i: usize, value: Option<ValueRef<'_>>, keep: Ordering);
}

/// Accumulators whose values are written out: a slice of [`Acc`]s or a slot.
pub(crate) trait Write {
    /// Appends aggregate `i`'s value to `column` (see [`Acc::write`]).
    fn write(&self, i: usize, column: &mut ColumnBuilder) -> Result<(), WrongType>;
}

impl Update for [Acc] {
    #[inline]
    fn update(&mut self, i: usize, value: Option<ValueRef<'_>>, keep: Ordering) {
        if let Some(acc) = self.get_mut(i) {
            acc.update(value, keep);
        }
    }
}

impl Write for [Acc] {
    #[inline]
    fn write(&self, i: usize, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        self.get(i).map_or(Ok(()), |acc| acc.write(column))
    }
}

/// One slot of [`AccColumns`], read-only.
#[derive(Clone, Copy)]
pub(crate) struct SlotRef<'a> {
    columns: &'a AccColumns,
    slot: usize,
}

impl SlotRef<'_> {
    /// The slot's accumulators, in aggregate order.
    pub(crate) fn to_vec(self) -> Vec<Acc> {
        self.columns
            .columns
            .iter()
            .map(|c| c.get(self.slot))
            .collect()
    }
}

impl Write for SlotRef<'_> {
    #[inline]
    fn write(&self, i: usize, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        self.columns
            .columns
            .get(i)
            .map_or(Ok(()), |c| c.write(self.slot, column))
    }
}

/// One slot of [`AccColumns`], to update.
pub(crate) struct SlotMut<'a> {
    columns: &'a mut AccColumns,
    slot: usize,
}

impl SlotMut<'_> {
    /// Stores `accs` (of the stage's functions: see [`AccColumns::mismatch`]).
    pub(crate) fn set(&mut self, accs: &[Acc]) {
        for (column, acc) in self.columns.columns.iter_mut().zip(accs) {
            column.put(self.slot, acc.clone());
        }
    }

    /// Back to the initial accumulators.
    pub(crate) fn reset(&mut self) {
        for column in &mut self.columns.columns {
            column.put(self.slot, column.initial());
        }
    }

    /// The slot, read-only.
    pub(crate) fn as_ref(&self) -> SlotRef<'_> {
        self.columns.slot(self.slot)
    }
}

impl Update for SlotMut<'_> {
    #[inline]
    fn update(&mut self, i: usize, value: Option<ValueRef<'_>>, keep: Ordering) {
        if let Some(column) = self.columns.columns.get_mut(i) {
            column.update(self.slot, value, keep);
        }
    }
}

impl Write for SlotMut<'_> {
    #[inline]
    fn write(&self, i: usize, column: &mut ColumnBuilder) -> Result<(), WrongType> {
        self.as_ref().write(i, column)
    }
}

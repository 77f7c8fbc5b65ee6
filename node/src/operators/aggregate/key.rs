//! Compact grouping keys: a single i64 or string column gets its own key type, anything else
//! (several columns, other types, no column) the general [`ValuesKey`].
//!
//! Keys are read straight from a batch's key columns: [`GroupKey::columns`] takes the typed
//! columns once per batch, and [`GroupKey::get`] names a row's key as a [`GroupKey::Ref`]
//! borrowed from them, which hashes and compares as the key it names. So looking a key up
//! copies and allocates nothing; only a key seen for the first time is copied into the state
//! ([`GroupKey::own`]).

use crate::state::pieces::encode;
use crate::state::LayerKey;
use hashbrown::Equivalent;
use quiver_protocol::batch::{
    Bitmap, Column, ColumnBuilder, ColumnData, StrColumn, ValueRef, WrongType,
};
use quiver_protocol::keygroup::{canonical_f64, key_hash_code};
use quiver_protocol::Value;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A key of an aggregate stage.
pub(crate) trait GroupKey:
    Hash + Eq + Clone + Serialize + DeserializeOwned + Send + 'static
{
    /// The key columns of one batch, typed.
    type Columns<'a>;

    /// A row's key in [`GroupKey::Columns`]: hashes as the owned key does, and is equivalent
    /// to it.
    type Ref<'a>: Copy + Hash + Equivalent<Self>;

    /// How a table keeps the keys of its slots.
    type Keys: KeyColumn<Self>;

    /// The key columns `columns` (in key order) typed; `None` when one is not of the key's
    /// type (the caller checked the types against the input schema).
    fn columns<'a>(columns: &[&'a Column]) -> Option<Self::Columns<'a>>;

    /// Row `row`'s key.
    fn get<'a>(columns: &'a Self::Columns<'_>, row: usize) -> Self::Ref<'a>;

    /// The key, owned: what the state keeps.
    fn own(key: Self::Ref<'_>) -> Self;

    /// The key's values, one per key column.
    fn values(&self) -> impl Iterator<Item = ValueRef<'_>>;

    /// The fixed key hash code (`quiver_protocol::keygroup`) that picks the key group.
    fn hash_code(&self) -> i32 {
        key_hash_code(self.values())
    }
}

/// A key as the keyed-state layer stores it: its bincode.
impl<K: GroupKey> LayerKey for K {
    fn encode_key(&self, out: &mut Vec<u8>) -> Result<(), String> {
        encode(self, out)
    }
}

/// The keys of a table's slots `0..len`, as a [`GroupKey`] stores them: an i64 key in 8
/// bytes ([`I64Keys`]), other keys as themselves (`Vec<K>`).
pub(crate) trait KeyColumn<K: GroupKey>: Default + Clone + std::fmt::Debug + Send {
    /// Appends a slot holding `key`.
    fn push(&mut self, key: K);

    /// The key of slot `slot` (`< len`).
    fn key(&self, slot: usize) -> K;

    /// Whether slot `slot` (`< len`) holds the key `key` names.
    fn holds(&self, slot: usize, key: K::Ref<'_>) -> bool;

    /// Whether slot `slot` (`< len`) holds `key`.
    fn holds_key(&self, slot: usize, key: &K) -> bool;

    /// Removes the key of slot `slot` (`< len`), moving the last slot's key into it.
    fn swap_remove(&mut self, slot: usize) -> K;

    /// Number of slots.
    fn len(&self) -> usize;

    /// Removes every slot, keeping the memory.
    fn clear(&mut self);

    /// Reads slot `slot`'s key (if `< len`) and returns a value folded from it: see
    /// [`super::table::AccTable::touch`]. Keys held elsewhere than in the column are not read.
    #[inline]
    fn touch(&self, _slot: usize) -> u64 {
        0
    }

    /// Appends every slot's key to the key columns `columns` (one per key column), in slot
    /// order.
    fn write_all(&self, columns: &mut [ColumnBuilder]) -> Result<(), WrongType> {
        write_each(self, columns)
    }
}

/// Appends the keys of `keys` to `columns` a slot at a time (see [`KeyColumn::write_all`]).
fn write_each<K: GroupKey>(
    keys: &impl KeyColumn<K>,
    columns: &mut [ColumnBuilder],
) -> Result<(), WrongType> {
    for slot in 0..keys.len() {
        for (column, value) in columns.iter_mut().zip(keys.key(slot).values()) {
            column.push(value)?;
        }
    }
    Ok(())
}

impl<K: GroupKey + std::fmt::Debug> KeyColumn<K> for Vec<K> {
    fn push(&mut self, key: K) {
        Vec::push(self, key);
    }

    fn key(&self, slot: usize) -> K {
        self[slot].clone()
    }

    #[inline]
    fn holds(&self, slot: usize, key: K::Ref<'_>) -> bool {
        key.equivalent(&self[slot])
    }

    fn holds_key(&self, slot: usize, key: &K) -> bool {
        self[slot] == *key
    }

    fn swap_remove(&mut self, slot: usize) -> K {
        Vec::swap_remove(self, slot)
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }

    fn clear(&mut self) {
        Vec::clear(self);
    }
}

/// The [`I64Key`]s of a table: the numbers (0 for the null key), and the slot of the null key
/// when the table holds it. A probe reads one number; nothing per slot marks the null.
#[derive(Debug, Clone, Default)]
pub(crate) struct I64Keys {
    values: Vec<i64>,
    /// The slot of the null key.
    null: Option<usize>,
}

impl KeyColumn<I64Key> for I64Keys {
    fn push(&mut self, key: I64Key) {
        if key.0.is_none() {
            self.null = Some(self.values.len());
        }
        super::acc_columns::push_wide(&mut self.values, key.0.unwrap_or(0));
    }

    #[inline]
    fn key(&self, slot: usize) -> I64Key {
        I64Key((self.null != Some(slot)).then(|| self.values[slot]))
    }

    #[inline]
    fn holds(&self, slot: usize, key: I64Key) -> bool {
        match key.0 {
            Some(v) => self.values[slot] == v && self.null != Some(slot),
            None => self.null == Some(slot),
        }
    }

    fn holds_key(&self, slot: usize, key: &I64Key) -> bool {
        self.holds(slot, *key)
    }

    fn swap_remove(&mut self, slot: usize) -> I64Key {
        let key = self.key(slot);
        let last = self.values.len() - 1;
        self.values.swap_remove(slot);
        if self.null == Some(slot) {
            self.null = None;
        } else if self.null == Some(last) {
            self.null = Some(slot);
        }
        key
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn clear(&mut self) {
        self.values.clear();
        self.null = None;
    }

    #[inline]
    fn touch(&self, slot: usize) -> u64 {
        self.values.get(slot).map_or(0, |&v| v as u64)
    }

    fn write_all(&self, columns: &mut [ColumnBuilder]) -> Result<(), WrongType> {
        match columns {
            [column] if self.null.is_none() => column.extend_i64(&self.values),
            _ => write_each(self, columns),
        }
    }
}

/// A typed column with its validity bitmap (`None`: no null).
pub(crate) struct Typed<'a, T: ?Sized> {
    values: &'a T,
    nulls: Option<&'a Bitmap>,
}

impl<T: ?Sized> Typed<'_, T> {
    #[inline]
    fn is_valid(&self, row: usize) -> bool {
        self.nulls.is_none_or(|b| b.is_valid(row))
    }
}

/// A single i64 key column (null allowed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct I64Key(pub(crate) Option<i64>);

impl GroupKey for I64Key {
    type Columns<'a> = Typed<'a, [i64]>;
    type Ref<'a> = I64Key;
    type Keys = I64Keys;

    fn columns<'a>(columns: &[&'a Column]) -> Option<Typed<'a, [i64]>> {
        let column = columns.first()?;
        Some(Typed {
            values: column.as_i64()?,
            nulls: column.nulls.as_ref(),
        })
    }

    #[inline]
    fn get(columns: &Typed<'_, [i64]>, row: usize) -> I64Key {
        I64Key(columns.is_valid(row).then(|| columns.values[row]))
    }

    #[inline]
    fn own(key: I64Key) -> I64Key {
        key
    }

    fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        std::iter::once(self.0.map_or(ValueRef::Null, ValueRef::I64))
    }
}

/// A single string key column (null allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StrKey(pub(crate) Option<Arc<str>>);

/// A [`StrKey`] borrowed from a string column.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StrRef<'a>(pub(crate) Option<&'a str>);

impl Hash for StrKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.as_deref().hash(state);
    }
}

impl Hash for StrRef<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Equivalent<StrKey> for StrRef<'_> {
    #[inline]
    fn equivalent(&self, key: &StrKey) -> bool {
        self.0 == key.0.as_deref()
    }
}

impl GroupKey for StrKey {
    type Columns<'a> = Typed<'a, StrColumn>;
    type Ref<'a> = StrRef<'a>;
    type Keys = Vec<StrKey>;

    fn columns<'a>(columns: &[&'a Column]) -> Option<Typed<'a, StrColumn>> {
        let column = columns.first()?;
        Some(Typed {
            values: column.as_str()?,
            nulls: column.nulls.as_ref(),
        })
    }

    #[inline]
    fn get<'a>(columns: &'a Typed<'_, StrColumn>, row: usize) -> StrRef<'a> {
        StrRef(columns.is_valid(row).then(|| columns.values.get(row)))
    }

    fn own(key: StrRef<'_>) -> StrKey {
        StrKey(key.0.map(Arc::from))
    }

    fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        std::iter::once(self.0.as_deref().map_or(ValueRef::Null, ValueRef::Str))
    }
}

/// Any number of key columns of any type. Floats are kept as their [`canonical_f64`] (`-0.0`
/// as `0.0`, every NaN as one NaN), so one number is one key, hashed, compared and written
/// alike; otherwise equality and hashing are exact: floats compare by their bits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ValuesKey(pub(crate) Vec<Value>);

/// A [`ValuesKey`] in the key columns of a batch: row `row` of each.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValuesRef<'a> {
    columns: &'a [&'a Column],
    row: usize,
}

impl ValuesRef<'_> {
    fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        self.columns.iter().map(|c| c.get(self.row))
    }
}

impl GroupKey for ValuesKey {
    type Columns<'a> = Vec<&'a Column>;
    type Ref<'a> = ValuesRef<'a>;
    type Keys = Vec<ValuesKey>;

    fn columns<'a>(columns: &[&'a Column]) -> Option<Vec<&'a Column>> {
        Some(columns.to_vec())
    }

    #[inline]
    fn get<'a>(columns: &'a Vec<&Column>, row: usize) -> ValuesRef<'a> {
        ValuesRef { columns, row }
    }

    fn own(key: ValuesRef<'_>) -> ValuesKey {
        ValuesKey(
            key.values()
                .map(|v| match v {
                    ValueRef::F64(x) => Value::F64(canonical_f64(x)),
                    other => Value::from(other),
                })
                .collect(),
        )
    }

    fn values(&self) -> impl Iterator<Item = ValueRef<'_>> {
        self.0.iter().map(ValueRef::from)
    }
}

impl PartialEq for ValuesKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.values().zip(other.values()).all(|(a, b)| same(a, b))
    }
}

impl Eq for ValuesKey {}

impl Hash for ValuesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.values().for_each(|v| hash_value(v, state));
    }
}

impl Hash for ValuesRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.values().for_each(|v| hash_value(v, state));
    }
}

impl Equivalent<ValuesKey> for ValuesRef<'_> {
    fn equivalent(&self, key: &ValuesKey) -> bool {
        self.columns.len() == key.0.len()
            && self.values().zip(key.values()).all(|(a, b)| same(a, b))
    }
}

/// The bits a float is compared and hashed by: those of its [`canonical_f64`] (keys restored
/// from state read before keys were canonical may still hold `-0.0`).
fn bits(x: f64) -> u64 {
    canonical_f64(x).to_bits()
}

/// Whether two float slices hold the same numbers by [`bits`].
fn same_floats(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(p, q)| bits(*p) == bits(*q))
}

/// Exact equality: floats by [`bits`], so that it agrees with [`hash_value`].
fn same(a: ValueRef<'_>, b: ValueRef<'_>) -> bool {
    match (a, b) {
        (ValueRef::F64(x), ValueRef::F64(y)) => bits(x) == bits(y),
        (ValueRef::Dense(x), ValueRef::Dense(y)) => same_floats(x, y),
        (
            ValueRef::Sparse {
                dim,
                indices,
                values,
            },
            ValueRef::Sparse {
                dim: dim_b,
                indices: indices_b,
                values: values_b,
            },
        ) => dim == dim_b && indices == indices_b && same_floats(values, values_b),
        _ => a == b,
    }
}

fn hash_value<H: Hasher>(v: ValueRef<'_>, state: &mut H) {
    match v {
        ValueRef::Null => state.write_u8(0),
        ValueRef::Bool(b) => state.write_u8(1 + u8::from(b)),
        ValueRef::I64(x) => {
            state.write_u8(3);
            state.write_i64(x);
        }
        ValueRef::F64(x) => {
            state.write_u8(4);
            state.write_u64(bits(x));
        }
        ValueRef::Str(s) => {
            state.write_u8(5);
            s.hash(state);
        }
        ValueRef::Dense(x) => {
            state.write_u8(6);
            x.iter().for_each(|p| state.write_u64(bits(*p)));
        }
        ValueRef::Sparse {
            dim,
            indices,
            values,
        } => {
            state.write_u8(7);
            state.write_u32(dim);
            indices.hash(state);
            values.iter().for_each(|p| state.write_u64(bits(*p)));
        }
    }
}

/// Key columns as the running aggregate emits them, sharing the input's buffers: a float
/// column is rewritten only when it holds a value other than its [`canonical_f64`], as a
/// [`ValuesKey`] keeps it.
pub(crate) fn canonical_column(column: &Column) -> Column {
    match &column.data {
        ColumnData::F64(v) if v.iter().any(|&x| bits(x) != x.to_bits()) => Column {
            data: ColumnData::F64(
                v.iter()
                    .map(|&x| canonical_f64(x))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            nulls: column.nulls.clone(),
        },
        _ => column.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::batch::{ColumnBuilder, ColumnType};
    use rustc_hash::FxBuildHasher;
    use std::hash::BuildHasher;

    /// A key read from its columns hashes and compares as the key it names, and owning it
    /// gives that key.
    fn check<K: GroupKey + std::fmt::Debug>(columns: &[&Column], rows: usize) {
        let typed = K::columns(columns).expect("columns of the key's type");
        for row in 0..rows {
            let key = K::get(&typed, row);
            let owned = K::own(key);
            assert_eq!(
                FxBuildHasher.hash_one(key),
                FxBuildHasher.hash_one(&owned),
                "row {row}: {owned:?}"
            );
            assert!(key.equivalent(&owned), "row {row}: {owned:?}");
            let other = K::get(&typed, (row + 1) % rows);
            assert_eq!(other.equivalent(&owned), K::own(other) == owned);
        }
    }

    /// The null key and the number 0 (both stored as 0) are told apart, through removals
    /// that move either, and written out as a null and a 0.
    #[test]
    fn i64_keys_tell_the_null_key_from_zero() {
        let (null, zero, five) = (I64Key(None), I64Key(Some(0)), I64Key(Some(5)));
        let mut keys = I64Keys::default();
        [null, zero, five].into_iter().for_each(|k| keys.push(k));
        assert!(keys.holds(0, null) && !keys.holds(0, zero));
        assert!(keys.holds(1, zero) && !keys.holds(1, null));
        // 5 moves into slot 0: no slot holds the null key.
        assert_eq!(keys.swap_remove(0), null);
        assert_eq!((keys.key(0), keys.key(1)), (five, zero));
        assert!(!keys.holds(0, null) && !keys.holds(1, null) && keys.holds(1, zero));
        // The null key moves from the last slot (2) into slot 0.
        keys.push(null);
        assert_eq!(keys.swap_remove(0), five);
        assert!(keys.holds(0, null) && !keys.holds(0, zero) && keys.holds(1, zero));
        let mut written = [ColumnBuilder::new(ColumnType::I64, 0)];
        keys.write_all(&mut written).expect("i64");
        let [written] = written;
        assert_eq!(
            written.build(),
            column(ColumnType::I64, &[ValueRef::Null, ValueRef::I64(0)])
        );
    }

    fn column(ty: ColumnType, values: &[ValueRef<'_>]) -> Column {
        let mut b = ColumnBuilder::new(ty, values.len());
        values.iter().for_each(|&v| b.push(v).expect("type"));
        b.finish()
    }

    #[test]
    fn keys_read_from_columns_hash_and_compare_as_their_owned_keys() {
        let ints = column(
            ColumnType::I64,
            &[ValueRef::I64(3), ValueRef::Null, ValueRef::I64(-9)],
        );
        let strs = column(
            ColumnType::Str,
            &[ValueRef::Str("a"), ValueRef::Null, ValueRef::Str("")],
        );
        let floats = column(
            ColumnType::F64,
            &[
                ValueRef::F64(-0.0),
                ValueRef::F64(f64::NAN),
                ValueRef::F64(0.0),
            ],
        );
        check::<I64Key>(&[&ints], 3);
        check::<StrKey>(&[&strs], 3);
        check::<ValuesKey>(&[&ints, &strs, &floats], 3);
        check::<ValuesKey>(&[&floats], 3);
        check::<ValuesKey>(&[], 1);
        assert!(I64Key::columns(&[&strs]).is_none());
    }

    #[test]
    fn float_keys_are_written_canonical_and_shared_when_they_already_are() {
        let shared = column(ColumnType::F64, &[ValueRef::F64(1.5), ValueRef::Null]);
        assert_eq!(canonical_column(&shared), shared);
        let zero = column(ColumnType::F64, &[ValueRef::F64(-0.0), ValueRef::Null]);
        let written = canonical_column(&zero);
        assert_eq!(written.as_f64().map(|v| v[0].to_bits()), Some(0));
        assert!(!written.is_valid(1));
    }

    /// A column grows 2× below `WIDE` values and 4× from there, and keeps every value.
    #[test]
    fn push_wide_grows_large_columns_four_times() {
        use super::super::acc_columns::{push_wide, WIDE};
        let mut column: Vec<u32> = Vec::new();
        for v in 0..=WIDE as u32 {
            push_wide(&mut column, v);
        }
        assert_eq!(column.len(), WIDE + 1);
        assert!(column.capacity() >= 4 * WIDE, "{}", column.capacity());
        assert!(column.iter().enumerate().all(|(i, &v)| i == v as usize));
        let mut small: Vec<u32> = Vec::new();
        (0..=WIDE as u32 / 2).for_each(|v| push_wide(&mut small, v));
        assert_eq!(small.capacity(), WIDE);
    }
}

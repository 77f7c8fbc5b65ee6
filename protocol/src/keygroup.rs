//! The fixed key hash: Flink-compatible key groups.
//!
//! A key (the values of a stage's key columns) gets a 32-bit hash code the way Java computes
//! it (`Long.hashCode`, `String.hashCode`, `31 * h + x` over several columns; floats by their
//! [`canonical_f64`], so `-0.0` goes where `0.0` goes), then Flink's
//! `MathUtils.murmurHash` spreads it and `% max_parallelism` gives the key group. Contiguous
//! key-group ranges map to partitions exactly as Flink's `KeyGroupRangeAssignment` does, so
//! integer key 42 with max parallelism 128 lands in key group 29, partition 0 of 4.

use crate::batch::{Column, ColumnData, ValueRef};
use crate::ids::{KeyGroup, PartitionId};

/// The one representative of an f64 as a key: `0.0` for both zeros, Java's canonical NaN
/// (`0x7ff8000000000000`, Rust's `f64::NAN`) for every NaN, else `x`. Keys hash, compare and
/// print by it, so values equal as numbers are one key.
pub fn canonical_f64(x: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else if x.is_nan() {
        f64::NAN
    } else {
        x
    }
}

/// Java's hash code of one value (`Long.hashCode`, `Double.hashCode`, `String.hashCode`,
/// `Boolean.hashCode`); null is 0, vectors hash their elements like `Arrays.hashCode`. Floats
/// hash by [`canonical_f64`]: like Java for every NaN, but `-0.0` hashes as `0.0` (Java
/// tells them apart), so both zeros land in one key group. Takes a [`crate::Value`] or a
/// [`ValueRef`] read from a column.
pub fn java_hash_code<'a>(value: impl Into<ValueRef<'a>>) -> i32 {
    match value.into() {
        ValueRef::Null => 0,
        ValueRef::Bool(b) => {
            if b {
                1231
            } else {
                1237
            }
        }
        ValueRef::I64(x) => long_hash(x),
        ValueRef::F64(x) => double_hash(x),
        ValueRef::Str(s) => s
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u))),
        ValueRef::Dense(v) => v.iter().fold(1i32, |h, x| {
            h.wrapping_mul(31).wrapping_add(double_hash(*x))
        }),
        ValueRef::Sparse {
            indices, values, ..
        } => indices.iter().zip(values).fold(1i32, |h, (i, x)| {
            h.wrapping_mul(31)
                .wrapping_add(*i as i32)
                .wrapping_mul(31)
                .wrapping_add(double_hash(*x))
        }),
    }
}

/// Java's `Long.hashCode`.
#[inline]
fn long_hash(x: i64) -> i32 {
    (x ^ ((x as u64) >> 32) as i64) as i32
}

/// Java's `Double.hashCode` of the [`canonical_f64`].
#[inline]
fn double_hash(x: f64) -> i32 {
    long_hash(canonical_f64(x).to_bits() as i64)
}

/// The [`key_hash_code`] of every row of `rows` rows whose key is in `columns`, a column at
/// a time: i64 and f64 columns in tight loops, other types a value at a time.
pub fn key_hash_codes(columns: &[&Column], rows: usize) -> Vec<i32> {
    let Some((first, rest)) = columns.split_first() else {
        return vec![0; rows];
    };
    let mut codes = vec![0i32; rows];
    add_codes(&mut codes, first, |_, code| code);
    if !rest.is_empty() {
        // Arrays.hashCode: h = 1, then 31 * h + code per column.
        codes.iter_mut().for_each(|h| *h = h.wrapping_add(31));
        for column in rest {
            add_codes(&mut codes, column, |h, code| {
                h.wrapping_mul(31).wrapping_add(code)
            });
        }
    }
    codes
}

/// Folds the hash code of every row of `column` into `codes` with `fold(code so far, code)`.
#[inline]
fn add_codes(codes: &mut [i32], column: &Column, fold: impl Fn(i32, i32) -> i32) {
    match (&column.data, &column.nulls) {
        (ColumnData::I64(v), None) => {
            for (h, &x) in codes.iter_mut().zip(v.iter()) {
                *h = fold(*h, long_hash(x));
            }
        }
        (ColumnData::F64(v), None) => {
            for (h, &x) in codes.iter_mut().zip(v.iter()) {
                *h = fold(*h, double_hash(x));
            }
        }
        _ => {
            for (i, h) in codes.iter_mut().enumerate() {
                *h = fold(*h, java_hash_code(column.get(i)));
            }
        }
    }
}

/// The hash code of a key made of several columns: the single column's own code, or
/// `31 * h + code` over the columns (Java's `Arrays.hashCode`) for more than one.
pub fn key_hash_code<'a, V: Into<ValueRef<'a>>>(mut columns: impl Iterator<Item = V>) -> i32 {
    let first = match columns.next() {
        Some(v) => java_hash_code(v),
        None => return 0,
    };
    match columns.next() {
        None => first,
        Some(second) => {
            let start = 31i32
                .wrapping_add(first)
                .wrapping_mul(31)
                .wrapping_add(java_hash_code(second));
            columns.fold(start, |h, v| {
                h.wrapping_mul(31).wrapping_add(java_hash_code(v))
            })
        }
    }
}

/// Flink's `MathUtils.murmurHash`: a non-negative 32-bit spread of a hash code.
#[inline]
pub fn murmur_hash(code: i32) -> i32 {
    let mut h = code.wrapping_mul(0xcc9e2d51u32 as i32);
    h = h.rotate_left(15);
    h = h.wrapping_mul(0x1b873593);
    h = h.rotate_left(13);
    h = h.wrapping_mul(5).wrapping_add(0xe6546b64u32 as i32);
    h ^= 4;
    let mut u = h as u32;
    u ^= u >> 16;
    u = u.wrapping_mul(0x85ebca6b);
    u ^= u >> 13;
    u = u.wrapping_mul(0xc2b2ae35);
    u ^= u >> 16;
    let h = u as i32;
    if h >= 0 {
        h
    } else if h != i32::MIN {
        -h
    } else {
        0
    }
}

/// The key group of a key hash code.
#[inline]
pub fn key_group(hash_code: i32, max_parallelism: u32) -> KeyGroup {
    KeyGroup(murmur_hash(hash_code) as u32 % max_parallelism)
}

/// The partition that owns a key group (Flink's `computeOperatorIndexForKeyGroup`).
#[inline]
pub fn partition_of(group: KeyGroup, max_parallelism: u32, parallelism: u32) -> PartitionId {
    PartitionId((u64::from(group.0) * u64::from(parallelism) / u64::from(max_parallelism)) as u32)
}

/// The partition of a key's hash code among `parallelism` partitions, as
/// `partition_of(key_group(code, max_parallelism), max_parallelism, parallelism)` computes it,
/// without a division per key: the remainder by `max_parallelism` is a multiplication by its
/// precomputed inverse (exact for every 32-bit value: Lemire, Kaser and Kurz, "Faster
/// remainder by direct computation", 2019), and the partition of each key group is looked up.
/// Routing a batch's records by key did two integer divisions per record (3–4% of W1's CPU).
#[derive(Debug, Clone)]
pub struct KeyGroupRouter {
    max_parallelism: u64,
    /// `⌈2⁶⁴ / max_parallelism⌉` (wrapping to 0 for 1, where every remainder is 0 anyway).
    inverse: u64,
    /// The partition owning each key group.
    owners: Vec<u32>,
}

impl KeyGroupRouter {
    /// Routes over `parallelism` partitions of `max_parallelism` key groups (both at least 1,
    /// a 0 is taken as 1; a job's `max_parallelism` is at most 32,768, and the router keeps a
    /// partition number per key group).
    pub fn new(max_parallelism: u32, parallelism: u32) -> KeyGroupRouter {
        let (groups, parallelism) = (max_parallelism.max(1), parallelism.max(1));
        KeyGroupRouter {
            max_parallelism: u64::from(groups),
            inverse: (u64::MAX / u64::from(groups)).wrapping_add(1),
            owners: (0..groups)
                .map(|g| partition_of(KeyGroup(g), groups, parallelism).0)
                .collect(),
        }
    }

    /// The partition of a key whose [`key_hash_code`] is `code`.
    #[inline]
    pub fn partition(&self, code: i32) -> u32 {
        let spread = u64::from(murmur_hash(code) as u32);
        let fraction = self.inverse.wrapping_mul(spread);
        let group = ((u128::from(fraction) * u128::from(self.max_parallelism)) >> 64) as usize;
        self.owners.get(group).copied().unwrap_or(0)
    }
}

/// The key groups a partition owns: a contiguous range (Flink's
/// `computeKeyGroupRangeForOperatorIndex`).
pub fn key_groups_of(
    partition: PartitionId,
    max_parallelism: u32,
    parallelism: u32,
) -> std::ops::Range<u32> {
    let (p, mp, par) = (
        u64::from(partition.0),
        u64::from(max_parallelism),
        u64::from(parallelism),
    );
    let start = (p * mp).div_ceil(par);
    let end = ((p + 1) * mp).div_ceil(par);
    start as u32..end as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_router_sends_each_code_where_its_key_group_belongs(
            code in any::<i32>(),
            max_parallelism in prop_oneof![Just(1u32), Just(2), Just(3), Just(128), Just(32_768), 1u32..=32_768],
            parallelism in 1u32..64,
        ) {
            let parallelism = parallelism.min(max_parallelism);
            let expected = partition_of(key_group(code, max_parallelism), max_parallelism, parallelism);
            prop_assert_eq!(KeyGroupRouter::new(max_parallelism, parallelism).partition(code), expected.0);
        }
    }

    #[test]
    fn a_router_agrees_at_the_extremes_of_the_spread_hash() {
        // Fixed codes (0, ±1, the ends of i32) beside the property's random ones, at small,
        // prime and the largest max parallelism.
        for max_parallelism in [1, 2, 3, 7, 128, 1 << 15] {
            let router = KeyGroupRouter::new(max_parallelism, max_parallelism.min(7));
            for code in [0, 1, -1, i32::MIN, i32::MAX, 42, 2] {
                let group = key_group(code, max_parallelism);
                assert_eq!(
                    router.partition(code),
                    partition_of(group, max_parallelism, max_parallelism.min(7)).0,
                    "code {code}, max parallelism {max_parallelism}"
                );
            }
        }
    }

    #[test]
    fn matches_flink_reference_values() {
        assert_eq!(murmur_hash(2), 1085422463);
        let g = key_group(java_hash_code(&Value::I64(42)), 128);
        assert_eq!(g, KeyGroup(29));
        assert_eq!(partition_of(g, 128, 4), PartitionId(0));
    }

    #[test]
    fn f64_values_equal_as_keys_hash_alike() {
        // Java's Double.hashCode(0.0) is 0 and of its canonical NaN 0x7ff80000.
        let code = |x: f64| java_hash_code(&Value::F64(x));
        assert_eq!(code(0.0), 0);
        assert_eq!(code(-0.0), 0);
        assert_eq!(code(f64::NAN), 0x7ff8_0000);
        assert_eq!(code(-f64::NAN), 0x7ff8_0000);
        assert_eq!(code(f64::from_bits(0x7ff0_0000_0000_0001)), 0x7ff8_0000);
        assert_eq!(
            java_hash_code(&Value::Dense(vec![-0.0, 1.0].into())),
            java_hash_code(&Value::Dense(vec![0.0, 1.0].into()))
        );
    }

    #[test]
    fn java_string_hash_code() {
        // "hello".hashCode() in Java
        assert_eq!(java_hash_code(&Value::from("hello")), 99162322);
    }

    #[test]
    fn a_non_ascii_string_hashes_over_utf16_units() {
        // Java's "héllo".hashCode() and "😀".hashCode() (a surrogate pair: 0xD83D, 0xDE00),
        // worked out independently as the fold over UTF-16 units.
        assert_eq!(java_hash_code(&Value::from("héllo")), 103094734);
        assert_eq!(java_hash_code(&Value::from("😀")), 1772899);
    }

    /// A column of `values` (a value of another type than `ty` is a test bug).
    fn column(ty: crate::batch::ColumnType, values: &[Value]) -> Column {
        let mut b = crate::batch::ColumnBuilder::new(ty, values.len());
        values.iter().for_each(|v| b.push(v.into()).expect("type"));
        b.finish()
    }

    fn value_of(kind: u8, x: i64) -> Value {
        match kind % 5 {
            0 => Value::Null,
            1 => Value::I64(x),
            2 => Value::F64([-0.0, 0.0, f64::NAN, x as f64 / 3.0][x.rem_euclid(4) as usize]),
            3 => Value::from(format!("k{x}").as_str()),
            _ => Value::Bool(x % 2 == 0),
        }
    }

    proptest! {
        #[test]
        fn hash_codes_of_columns_are_the_key_hash_codes_of_their_rows(
            keys in proptest::collection::vec(
                proptest::collection::vec((any::<u8>(), any::<i64>()), 1..3),
                0..40,
            ),
            types in proptest::collection::vec(0u8..4, 1..3),
        ) {
            use crate::batch::ColumnType;
            let types: Vec<ColumnType> = types
                .iter()
                .map(|t| [ColumnType::I64, ColumnType::F64, ColumnType::Str, ColumnType::Bool][*t as usize])
                .collect();
            // Row r's value in column c: null or a value of the column's type.
            let rows: Vec<Vec<Value>> = keys
                .iter()
                .map(|row| {
                    types
                        .iter()
                        .enumerate()
                        .map(|(c, ty)| {
                            let (kind, x) = row[c % row.len()];
                            let wanted = match ty {
                                ColumnType::I64 => 1,
                                ColumnType::F64 => 2,
                                ColumnType::Str => 3,
                                _ => 4,
                            };
                            value_of(if kind % 4 == 0 { 0 } else { wanted }, x)
                        })
                        .collect()
                })
                .collect();
            let columns: Vec<Column> = types
                .iter()
                .enumerate()
                .map(|(c, ty)| column(*ty, &rows.iter().map(|r| r[c].clone()).collect::<Vec<_>>()))
                .collect();
            let refs: Vec<&Column> = columns.iter().collect();
            let expected: Vec<i32> = rows.iter().map(|r| key_hash_code(r.iter())).collect();
            prop_assert_eq!(key_hash_codes(&refs, rows.len()), expected);
        }

        #[test]
        fn key_group_ranges_agree_with_partition_of(mp in 1u32..512, par_seed in 1u32..512) {
            let par = 1 + par_seed % mp;
            for g in 0..mp {
                let p = partition_of(KeyGroup(g), mp, par);
                prop_assert!(key_groups_of(p, mp, par).contains(&g));
            }
        }
    }
}

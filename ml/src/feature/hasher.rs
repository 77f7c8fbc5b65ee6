//! FeatureHasher, bit-compatible with Flink ML: each numeric column adds its value at
//! index `h("col")`, each string / bool (or listed categorical) column adds 1.0 at
//! `h("col=value")`, where `h(s) = floorMod(abs(murmur3_32(seed 0, UTF-16LE(s))), n)`.

use crate::api::{Column, Frame, MlError, Transformer};
use crate::finite::{check, Position};
use crate::params::ParamError;
use crate::persist::Persist;
use crate::vector::{SparseVector, Vector};
use serde::{Deserialize, Serialize};

/// Parameters of [`FeatureHasher`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureHasherParams {
    /// Columns to hash.
    pub input_cols: Vec<String>,
    /// Numeric columns to treat as categorical (string and bool columns always are).
    pub categorical_cols: Vec<String>,
    /// Output dimension (default 2^18 = 262144, as Flink ML).
    pub num_features: u32,
    /// The output sparse vector column (default `"features"`, what learners read).
    pub output_col: String,
}

impl Default for FeatureHasherParams {
    fn default() -> Self {
        Self {
            input_cols: Vec::new(),
            categorical_cols: Vec::new(),
            num_features: 1 << 18,
            output_col: "features".to_string(),
        }
    }
}

/// One input value of a row being hashed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HashValue<'a> {
    /// A numeric feature: its value is added at `h("col")`. It must be finite (a missing
    /// value is [`HashValue::Null`]).
    Num(f64),
    /// A categorical feature: 1.0 is added at `h("col=value")`.
    Str(&'a str),
    /// An integer feature: numeric (its value at `h("col")`) unless the column is listed
    /// in `categorical_cols`, then 1.0 at `h("col=3")`.
    Int(i64),
    /// A boolean feature, categorical: `h("col=true")` / `h("col=false")`.
    Bool(bool),
    /// A missing value: skipped.
    Null,
}

/// Hashes named columns into a sparse vector (a stateless transformer).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct FeatureHasher {
    /// Parameters.
    pub params: FeatureHasherParams,
    /// The hash state after `"col="` for each of `params.input_cols`, in order: a row whose
    /// i-th column has that name continues from it (others hash their name anew).
    prefixes: Vec<(String, Murmur3Utf16)>,
}

/// What a [`FeatureHasher`] persists: its params (the prefix states are rebuilt on load).
#[derive(Clone, Serialize, Deserialize)]
struct Stored {
    params: FeatureHasherParams,
}

impl From<Stored> for FeatureHasher {
    fn from(stored: Stored) -> Self {
        Self::with_prefixes(stored.params)
    }
}

impl From<FeatureHasher> for Stored {
    fn from(hasher: FeatureHasher) -> Self {
        Stored {
            params: hasher.params,
        }
    }
}

impl PartialEq for FeatureHasher {
    fn eq(&self, other: &Self) -> bool {
        self.params == other.params
    }
}

/// Murmur3 (32-bit, x86) of a string's UTF-16LE bytes with seed 0: Guava's
/// `murmur3_32(0).hashUnencodedChars`, which Flink ML uses.
pub fn murmur3_32_utf16(units: impl Iterator<Item = u16>) -> u32 {
    let mut state = Murmur3Utf16::default();
    units.for_each(|u| state.push_unit(u));
    state.finish()
}

/// Murmur3 (32-bit, seed 0) over UTF-16 code units fed piece by piece: a copy taken after
/// `"col="` continues with any value. ASCII text is fed a byte per unit, without encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Murmur3Utf16 {
    h: u32,
    /// Units fed so far.
    len: u32,
    /// The first unit of an incomplete 4-byte block (`len` odd).
    pending: u16,
}

impl Murmur3Utf16 {
    #[inline]
    fn block(&mut self, k: u32) {
        self.h ^= mix_k1(k);
        self.h = self
            .h
            .rotate_left(13)
            .wrapping_mul(5)
            .wrapping_add(0xe654_6b64);
    }

    #[inline]
    fn push_unit(&mut self, u: u16) {
        if self.len % 2 == 1 {
            self.block(u32::from(self.pending) | (u32::from(u) << 16));
        } else {
            self.pending = u;
        }
        self.len = self.len.wrapping_add(1);
    }

    /// Feeds the UTF-16 units of `s`. Takes and returns the state by value, so that it stays
    /// in registers (through memory, its pieces written apart and read back whole stall).
    #[inline]
    #[must_use]
    fn with_str(mut self, s: &str) -> Self {
        self.push_str(s);
        self
    }

    #[inline(always)]
    fn push_str(&mut self, s: &str) {
        if !s.is_ascii() {
            s.encode_utf16().for_each(|u| self.push_unit(u));
            return;
        }
        // UTF-16 of ASCII: one unit per byte.
        let mut bytes = s.as_bytes();
        if self.len % 2 == 1 {
            let Some((&first, rest)) = bytes.split_first() else {
                return;
            };
            self.push_unit(u16::from(first));
            bytes = rest;
        }
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            self.block(u32::from(pair[0]) | (u32::from(pair[1]) << 16));
        }
        if let [last] = pairs.remainder() {
            self.pending = u16::from(*last);
        }
        self.len = self.len.wrapping_add(bytes.len() as u32);
    }

    #[inline]
    fn finish(self) -> u32 {
        let mut h = self.h;
        if self.len % 2 == 1 {
            h ^= mix_k1(u32::from(self.pending));
        }
        h ^= self.len.wrapping_mul(2);
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

#[inline]
fn mix_k1(k: u32) -> u32 {
    k.wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593)
}

/// The hash state after `"col="`.
#[inline]
fn prefix_state(col: &str) -> Murmur3Utf16 {
    let mut state = Murmur3Utf16::default().with_str(col);
    state.push_unit(u16::from(b'='));
    state
}

/// `floorMod(abs(h), n)` with Java's `Math.abs` on an `int`.
#[inline]
fn bucket(hash: u32, n: u32) -> u32 {
    let abs = (hash as i32).wrapping_abs();
    if n.is_power_of_two() {
        // The Euclidean remainder by 2^k is the low k bits, negative `abs` (i32::MIN) too.
        return abs as u32 & (n - 1);
    }
    abs.rem_euclid(n as i32) as u32
}

/// Java's `String.valueOf(double)` for the plain cases (`1.0`, `-2.5`).
fn java_double(x: f64) -> String {
    format!("{x:?}")
}

impl FeatureHasher {
    /// A hasher with the given params (`num_features` ≥ 1 and < 2^31).
    pub fn new(params: FeatureHasherParams) -> Result<Self, ParamError> {
        if params.num_features == 0 || params.num_features > i32::MAX as u32 {
            return Err(ParamError::new(
                "num_features",
                params.num_features,
                "[1, 2147483647]",
            ));
        }
        Ok(Self::with_prefixes(params))
    }

    fn with_prefixes(params: FeatureHasherParams) -> Self {
        let prefixes = params
            .input_cols
            .iter()
            .map(|c| (c.clone(), prefix_state(c)))
            .collect();
        Self { params, prefixes }
    }

    /// The hash state after `"col="` for the column at `position` of a row.
    #[inline]
    fn prefix(&self, position: usize, col: &str) -> Murmur3Utf16 {
        match self.prefixes.get(position) {
            Some((name, state)) if name == col => *state,
            _ => prefix_state(col),
        }
    }

    fn is_categorical(&self, col: &str) -> bool {
        self.params.categorical_cols.iter().any(|c| c == col)
    }

    /// The index of numeric column `col`.
    pub fn numeric_index(&self, col: &str) -> u32 {
        bucket(
            Murmur3Utf16::default().with_str(col).finish(),
            self.params.num_features,
        )
    }

    /// The index of categorical `col=value`.
    pub fn categorical_index(&self, col: &str, value: &str) -> u32 {
        self.value_index(prefix_state(col), value)
    }

    /// The index of categorical `col=value` from the hash state after `"col="`.
    #[inline]
    fn value_index(&self, prefix: Murmur3Utf16, value: &str) -> u32 {
        bucket(prefix.with_str(value).finish(), self.params.num_features)
    }

    /// Hashes one row of `(column, value)` pairs into `out`, reusing its buffers (no
    /// allocation once they are large enough). Values at one index are added. Listed
    /// categorical numeric columns format their value as text (an allocation). A NaN or
    /// infinite [`HashValue::Num`] is an error naming its column, and `out` is left as is.
    pub fn hash_into(
        &self,
        row: &[(&str, HashValue<'_>)],
        out: &mut SparseVector,
    ) -> Result<(), MlError> {
        for &(col, value) in row {
            if let HashValue::Num(x) = value {
                check(x, || Position::Column(col.to_string()))?;
            }
        }
        out.clear(self.params.num_features);
        for (position, &(col, value)) in row.iter().enumerate() {
            let categorical =
                |value: &str| (self.value_index(self.prefix(position, col), value), 1.0);
            let (index, v) = match value {
                HashValue::Null => continue,
                HashValue::Num(x) if !self.is_categorical(col) => (self.numeric_index(col), x),
                HashValue::Num(x) => categorical(&java_double(x)),
                HashValue::Int(x) if !self.is_categorical(col) => {
                    (self.numeric_index(col), x as f64)
                }
                HashValue::Int(x) => categorical(&x.to_string()),
                HashValue::Str(s) => categorical(s),
                HashValue::Bool(b) => categorical(if b { "true" } else { "false" }),
            };
            out.indices.push(index);
            out.values.push(v);
        }
        sort_and_merge(out);
        Ok(())
    }
}

/// Sorts entries by index and adds the values of repeated indices, in place.
fn sort_and_merge(v: &mut SparseVector) {
    let n = v.indices.len();
    // Insertion sort (stable): rows have few entries, and it needs no allocation. The entry
    // being placed stays in registers while larger ones shift up (swapping neighbours
    // instead stalls on overlapping stores and loads).
    for i in 1..n {
        let (index, value) = (v.indices[i], v.values[i]);
        let mut j = i;
        while j > 0 && v.indices[j - 1] > index {
            v.indices[j] = v.indices[j - 1];
            v.values[j] = v.values[j - 1];
            j -= 1;
        }
        v.indices[j] = index;
        v.values[j] = value;
    }
    let mut w = 0;
    for r in 0..n {
        if w > 0 && v.indices[w - 1] == v.indices[r] {
            v.values[w - 1] += v.values[r];
        } else {
            v.indices[w] = v.indices[r];
            v.values[w] = v.values[r];
            w += 1;
        }
    }
    v.indices.truncate(w);
    v.values.truncate(w);
}

impl Transformer for FeatureHasher {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let cols = self
            .params
            .input_cols
            .iter()
            .map(|name| frame.column(name).map(|c| (name.as_str(), c)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(frame.num_rows());
        let mut row: Vec<(&str, HashValue<'_>)> = Vec::with_capacity(cols.len());
        for r in 0..frame.num_rows() {
            row.clear();
            for &(name, col) in &cols {
                let value = match col {
                    Column::F64(v) if v[r].is_nan() => HashValue::Null,
                    Column::F64(v) => HashValue::Num(check(v[r], || Position::cell(name, r))?),
                    Column::I64(v) => HashValue::Int(v[r]),
                    Column::Bool(v) => HashValue::Bool(v[r]),
                    Column::Str(v) => HashValue::Str(&v[r]),
                    Column::Vector(_) => {
                        return Err(MlError::ColumnType {
                            name: name.to_string(),
                            expected: "f64, i64, bool or string",
                            found: "vector",
                        })
                    }
                };
                row.push((name, value));
            }
            let mut sv = SparseVector::zeros(self.params.num_features);
            self.hash_into(&row, &mut sv)?;
            out.push(Vector::Sparse(sv));
        }
        let mut result = frame.clone();
        result.set(self.params.output_col.clone(), Column::Vector(out))?;
        Ok(result)
    }
}

impl Persist for FeatureHasher {
    const KIND: &'static str = "feature_hasher";
    const VERSION: u32 = 1;
}

#[cfg(test)]
mod tests;

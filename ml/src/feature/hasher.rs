//! FeatureHasher, bit-compatible with Flink ML: each numeric column adds its value at
//! index `h("col")`, each string / bool (or listed categorical) column adds 1.0 at
//! `h("col=value")`, where `h(s) = floorMod(abs(murmur3_32(seed 0, UTF-16LE(s))), n)`.

use crate::api::{Column, Frame, MlError, Transformer};
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
    /// The output sparse vector column (default `"output"`).
    pub output_col: String,
}

impl Default for FeatureHasherParams {
    fn default() -> Self {
        Self {
            input_cols: Vec::new(),
            categorical_cols: Vec::new(),
            num_features: 1 << 18,
            output_col: "output".to_string(),
        }
    }
}

/// One input value of a row being hashed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HashValue<'a> {
    /// A numeric feature: its value is added at `h("col")`.
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureHasher {
    /// Parameters.
    pub params: FeatureHasherParams,
}

/// Murmur3 (32-bit, x86) of a string's UTF-16LE bytes with seed 0: Guava's
/// `murmur3_32(0).hashUnencodedChars`, which Flink ML uses.
pub fn murmur3_32_utf16(units: impl Iterator<Item = u16>) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    fn mix_k1(k: u32) -> u32 {
        k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }
    let mut h: u32 = 0;
    let mut len: u32 = 0;
    let mut pending: Option<u16> = None;
    for u in units {
        len += 1;
        match pending.take() {
            None => pending = Some(u),
            Some(lo) => {
                let k = u32::from(lo) | (u32::from(u) << 16);
                h ^= mix_k1(k);
                h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
            }
        }
    }
    if let Some(lo) = pending {
        h ^= mix_k1(u32::from(lo));
    }
    h ^= len.wrapping_mul(2);
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// `floorMod(abs(h), n)` with Java's `Math.abs` on an `int`.
#[inline]
fn bucket(hash: u32, n: u32) -> u32 {
    let abs = (hash as i32).wrapping_abs();
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
        Ok(Self { params })
    }

    fn is_categorical(&self, col: &str) -> bool {
        self.params.categorical_cols.iter().any(|c| c == col)
    }

    /// The index of numeric column `col`.
    pub fn numeric_index(&self, col: &str) -> u32 {
        bucket(
            murmur3_32_utf16(col.encode_utf16()),
            self.params.num_features,
        )
    }

    /// The index of categorical `col=value`.
    pub fn categorical_index(&self, col: &str, value: &str) -> u32 {
        let units = col
            .encode_utf16()
            .chain("=".encode_utf16())
            .chain(value.encode_utf16());
        bucket(murmur3_32_utf16(units), self.params.num_features)
    }

    /// Hashes one row of `(column, value)` pairs into `out`, reusing its buffers (no
    /// allocation once they are large enough). Values at one index are added. Listed
    /// categorical numeric columns format their value as text (an allocation).
    pub fn hash_into(&self, row: &[(&str, HashValue<'_>)], out: &mut SparseVector) {
        out.clear(self.params.num_features);
        for &(col, value) in row {
            let (index, v) = match value {
                HashValue::Null => continue,
                HashValue::Num(x) if !self.is_categorical(col) => (self.numeric_index(col), x),
                HashValue::Num(x) => (self.categorical_index(col, &java_double(x)), 1.0),
                HashValue::Int(x) if !self.is_categorical(col) => {
                    (self.numeric_index(col), x as f64)
                }
                HashValue::Int(x) => (self.categorical_index(col, &x.to_string()), 1.0),
                HashValue::Str(s) => (self.categorical_index(col, s), 1.0),
                HashValue::Bool(b) => (
                    self.categorical_index(col, if b { "true" } else { "false" }),
                    1.0,
                ),
            };
            out.indices.push(index);
            out.values.push(v);
        }
        sort_and_merge(out);
    }
}

/// Sorts entries by index and adds the values of repeated indices, in place.
fn sort_and_merge(v: &mut SparseVector) {
    let n = v.indices.len();
    // Insertion sort: rows have few entries, and it needs no allocation.
    for i in 1..n {
        let mut j = i;
        while j > 0 && v.indices[j - 1] > v.indices[j] {
            v.indices.swap(j - 1, j);
            v.values.swap(j - 1, j);
            j -= 1;
        }
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
                    Column::F64(v) => HashValue::Num(v[r]),
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
            self.hash_into(&row, &mut sv);
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

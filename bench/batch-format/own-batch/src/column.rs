//! Typed columns over shared buffers.

use std::ops::Deref;
use std::sync::Arc;

/// A shared, immutable buffer of values: cloning it clones an `Arc`. Built from a `Vec`
/// without copying it.
#[derive(Debug, PartialEq)]
pub struct Values<T>(Arc<Vec<T>>);

impl<T> Clone for Values<T> {
    fn clone(&self) -> Self {
        Values(Arc::clone(&self.0))
    }
}

impl<T> From<Vec<T>> for Values<T> {
    fn from(v: Vec<T>) -> Self {
        Values(Arc::new(v))
    }
}

impl<T> Deref for Values<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values(Arc::new(Vec::new()))
    }
}

/// A validity bitmap: bit `i` (of word `i / 64`) set when row `i` holds a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bitmap(pub Values<u64>);

impl Bitmap {
    /// Whether row `i` holds a value.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// A bitmap of `len` rows from a validity per row.
    pub fn from_bools(valid: impl IntoIterator<Item = bool>) -> Bitmap {
        let mut words: Vec<u64> = Vec::new();
        for (i, v) in valid.into_iter().enumerate() {
            if i % 64 == 0 {
                words.push(0);
            }
            if v {
                if let Some(w) = words.last_mut() {
                    *w |= 1 << (i % 64);
                }
            }
        }
        Bitmap(words.into())
    }

    /// The bitmap of the rows `rows` (in that order).
    pub fn gather(&self, rows: impl Iterator<Item = usize>) -> Bitmap {
        Bitmap::from_bools(rows.map(|i| self.is_valid(i)))
    }
}

/// A string column: row `i` is `text[offsets[i]..offsets[i + 1]]`. The text is one `String`
/// and every offset a character boundary (checked on construction and on decode), so reading
/// a row is a slice, not a UTF-8 check. One allocation per buffer, none per value.
#[derive(Debug, Clone, PartialEq)]
pub struct StrColumn {
    offsets: Values<u32>,
    text: Arc<String>,
}

impl StrColumn {
    /// The column's rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i`'s string.
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        &self.text[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Every row's string, in order (no per-row offset lookups).
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.offsets.windows(2).map(|w| {
            self.text
                .get(w[0] as usize..w[1] as usize)
                .unwrap_or_default()
        })
    }

    /// Row `i`'s bytes.
    #[inline]
    pub fn get_bytes(&self, i: usize) -> &[u8] {
        self.get(i).as_bytes()
    }

    /// The offsets (`len + 1`, starting at 0) and the text.
    pub fn parts(&self) -> (&[u32], &str) {
        (&self.offsets, &self.text)
    }

    /// A column from its parts; `None` unless the offsets start at 0, never decrease, end at
    /// `bytes.len()`, the bytes are UTF-8 and every offset is a character boundary.
    pub fn try_new(offsets: Vec<u32>, bytes: Vec<u8>) -> Option<StrColumn> {
        let text = String::from_utf8(bytes).ok()?;
        if offsets.first() != Some(&0) || offsets.last().map(|&o| o as usize) != Some(text.len()) {
            return None;
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return None;
        }
        if offsets.iter().any(|&o| !text.is_char_boundary(o as usize)) {
            return None;
        }
        Some(StrColumn {
            offsets: offsets.into(),
            text: Arc::new(text),
        })
    }

    /// The rows `rows` (in that order), copied into a new column.
    pub fn gather(&self, rows: &[u32]) -> StrColumn {
        let bytes: usize = rows
            .iter()
            .map(|&i| (self.offsets[i as usize + 1] - self.offsets[i as usize]) as usize)
            .sum();
        let mut b = StrBuilder::with_capacity(rows.len(), bytes);
        for &i in rows {
            b.push(self.get(i as usize));
        }
        b.finish()
    }
}

/// Builds a [`StrColumn`] by appending.
#[derive(Debug)]
pub struct StrBuilder {
    offsets: Vec<u32>,
    text: String,
}

impl StrBuilder {
    /// A builder with room for `rows` strings of `bytes` bytes in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> StrBuilder {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        StrBuilder {
            offsets,
            text: String::with_capacity(bytes),
        }
    }

    /// Appends a string.
    #[inline]
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.offsets.push(self.text.len() as u32);
    }

    /// The finished column.
    pub fn finish(self) -> StrColumn {
        StrColumn {
            offsets: self.offsets.into(),
            text: Arc::new(self.text),
        }
    }
}

/// Sparse vectors in CSR layout: row `i` has the entries `offsets[i]..offsets[i + 1]` of
/// `indices` and `values`; every index is below `dim` and increasing within a row.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseColumn {
    /// Dimension of every row's vector.
    pub dim: u32,
    /// `len + 1` offsets into `indices` / `values`.
    pub offsets: Values<u32>,
    /// Positions of the non-zero entries.
    pub indices: Values<u32>,
    /// Values at `indices`.
    pub values: Values<f64>,
}

/// One typed column; `nulls` (in [`Column`]) marks missing values.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// 64-bit integers.
    I64(Values<i64>),
    /// 64-bit floats.
    F64(Values<f64>),
    /// Booleans, one byte each (0 or 1).
    Bool(Values<bool>),
    /// Strings.
    Str(StrColumn),
    /// Dense vectors of `dim` floats: row `i` is `values[i * dim..(i + 1) * dim]`.
    Dense {
        /// Floats per row.
        dim: u32,
        /// `len * dim` floats.
        values: Values<f64>,
    },
    /// Sparse vectors.
    Sparse(SparseColumn),
}

/// The type of a column (what a schema and the wire name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `i64`
    I64,
    /// `f64`
    F64,
    /// `bool`
    Bool,
    /// `string`
    Str,
    /// `vector`
    Dense,
    /// `sparse_vector`
    Sparse,
}

/// A column: its values and, when some are missing, a validity bitmap.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The values (a null row holds the type's default: 0, empty, ...).
    pub data: ColumnData,
    /// `None`: every row holds a value.
    pub nulls: Option<Bitmap>,
}

impl Column {
    /// An i64 column without nulls.
    pub fn i64(v: Vec<i64>) -> Column {
        Column {
            data: ColumnData::I64(v.into()),
            nulls: None,
        }
    }

    /// An f64 column without nulls.
    pub fn f64(v: Vec<f64>) -> Column {
        Column {
            data: ColumnData::F64(v.into()),
            nulls: None,
        }
    }

    /// A string column without nulls.
    pub fn str(c: StrColumn) -> Column {
        Column {
            data: ColumnData::Str(c),
            nulls: None,
        }
    }

    /// The column's type.
    pub fn ty(&self) -> ColumnType {
        match &self.data {
            ColumnData::I64(_) => ColumnType::I64,
            ColumnData::F64(_) => ColumnType::F64,
            ColumnData::Bool(_) => ColumnType::Bool,
            ColumnData::Str(_) => ColumnType::Str,
            ColumnData::Dense { .. } => ColumnType::Dense,
            ColumnData::Sparse(_) => ColumnType::Sparse,
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::I64(v) => v.len(),
            ColumnData::F64(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(s) => s.len(),
            ColumnData::Dense { dim, values } => match *dim {
                0 => 0,
                d => values.len() / d as usize,
            },
            ColumnData::Sparse(s) => s.offsets.len().saturating_sub(1),
        }
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values when this is an i64 column.
    #[inline]
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.data {
            ColumnData::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The values when this is an f64 column.
    #[inline]
    pub fn as_f64(&self) -> Option<&[f64]> {
        match &self.data {
            ColumnData::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The strings when this is a string column.
    #[inline]
    pub fn as_str(&self) -> Option<&StrColumn> {
        match &self.data {
            ColumnData::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether row `i` holds a value.
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.nulls.as_ref().is_none_or(|b| b.is_valid(i))
    }

    /// The rows `rows` (in that order), copied into a new column.
    pub fn gather(&self, rows: &[u32]) -> Column {
        fn pick<T: Copy>(v: &[T], rows: &[u32]) -> Vec<T> {
            rows.iter().map(|&i| v[i as usize]).collect()
        }
        let data = match &self.data {
            ColumnData::I64(v) => ColumnData::I64(pick(v, rows).into()),
            ColumnData::F64(v) => ColumnData::F64(pick(v, rows).into()),
            ColumnData::Bool(v) => ColumnData::Bool(pick(v, rows).into()),
            ColumnData::Str(s) => ColumnData::Str(s.gather(rows)),
            ColumnData::Dense { dim, values } => {
                let d = *dim as usize;
                let mut out = Vec::with_capacity(rows.len() * d);
                for &i in rows {
                    out.extend_from_slice(&values[i as usize * d..(i as usize + 1) * d]);
                }
                ColumnData::Dense {
                    dim: *dim,
                    values: out.into(),
                }
            }
            ColumnData::Sparse(s) => {
                let mut offsets = Vec::with_capacity(rows.len() + 1);
                offsets.push(0u32);
                let (mut indices, mut values) = (Vec::new(), Vec::new());
                for &i in rows {
                    let (a, b) = (
                        s.offsets[i as usize] as usize,
                        s.offsets[i as usize + 1] as usize,
                    );
                    indices.extend_from_slice(&s.indices[a..b]);
                    values.extend_from_slice(&s.values[a..b]);
                    offsets.push(indices.len() as u32);
                }
                ColumnData::Sparse(SparseColumn {
                    dim: s.dim,
                    offsets: offsets.into(),
                    indices: indices.into(),
                    values: values.into(),
                })
            }
        };
        Column {
            data,
            nulls: self
                .nulls
                .as_ref()
                .map(|b| b.gather(rows.iter().map(|&i| i as usize))),
        }
    }
}

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

    /// Strings so far.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether no string was pushed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the first `rows` strings and drops the rest (nothing when it holds fewer).
    pub fn truncate(&mut self, rows: usize) {
        if rows < self.len() {
            self.offsets.truncate(rows + 1);
            self.text.truncate(self.offsets[rows] as usize);
        }
    }

    /// The finished column.
    pub fn finish(self) -> StrColumn {
        StrColumn {
            offsets: self.offsets.into(),
            text: Arc::new(self.text),
        }
    }
}

/// Dense vectors, one per row, of any length: row `i` is
/// `values[offsets[i]..offsets[i + 1]]` (Arrow's `List<Float64>` layout; a column of vectors
/// of one length is a row-major matrix).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseColumn {
    /// `len + 1` offsets into `values`, from 0, never decreasing.
    pub offsets: Values<u32>,
    /// Every row's floats, one after the other.
    pub values: Values<f64>,
}

impl DenseColumn {
    /// Row `i`'s vector.
    #[inline]
    pub fn get(&self, i: usize) -> &[f64] {
        &self.values[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// Sparse vectors in CSR layout: row `i` has dimension `dims[i]` and the entries
/// `offsets[i]..offsets[i + 1]` of `indices` and `values`; within a row the indices increase
/// and stay below its dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseColumn {
    /// Every row's dimension.
    pub dims: Values<u32>,
    /// `len + 1` offsets into `indices` / `values`.
    pub offsets: Values<u32>,
    /// Positions of the non-zero entries.
    pub indices: Values<u32>,
    /// Values at `indices`.
    pub values: Values<f64>,
}

impl SparseColumn {
    /// Row `i`: its dimension, indices and values.
    #[inline]
    pub fn get(&self, i: usize) -> (u32, &[u32], &[f64]) {
        let range = self.offsets[i] as usize..self.offsets[i + 1] as usize;
        (
            self.dims[i],
            &self.indices[range.clone()],
            &self.values[range],
        )
    }
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
    /// Dense vectors.
    Dense(DenseColumn),
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

impl ColumnType {
    /// Every column type.
    pub const ALL: [ColumnType; 6] = [
        ColumnType::I64,
        ColumnType::F64,
        ColumnType::Bool,
        ColumnType::Str,
        ColumnType::Dense,
        ColumnType::Sparse,
    ];
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
            ColumnData::Dense(_) => ColumnType::Dense,
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
            ColumnData::Dense(d) => d.offsets.len().saturating_sub(1),
            ColumnData::Sparse(s) => s.dims.len(),
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

    /// Columns of one type one after the other (the caller checked the types match).
    pub(crate) fn concat<'a>(columns: impl Iterator<Item = &'a Column> + Clone) -> Column {
        let lengths: Vec<usize> = columns.clone().map(Column::len).collect();
        let total: usize = lengths.iter().sum();
        let mut rows = Vec::with_capacity(total);
        let mut builder: Option<crate::ColumnBuilder> = None;
        for (column, &len) in columns.zip(&lengths) {
            let b = builder.get_or_insert_with(|| crate::ColumnBuilder::new(column.ty(), total));
            rows.clear();
            rows.extend(0..len as u32);
            column.append_to(b, &rows);
        }
        builder.map_or_else(|| Column::i64(Vec::new()), |mut b| b.finish())
    }

    /// Appends the rows `rows` of this column to `builder` (of the same type).
    pub fn append_to(&self, builder: &mut crate::ColumnBuilder, rows: &[u32]) {
        for &r in rows {
            // The builder has this column's type, so no push can be refused.
            let _same_type = builder.push(self.get(r as usize));
        }
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
            ColumnData::Dense(d) => {
                let (offsets, values) =
                    gather_lists(&d.offsets, rows, |a, b, out: &mut Vec<f64>| {
                        out.extend_from_slice(&d.values[a..b])
                    });
                ColumnData::Dense(DenseColumn {
                    offsets: offsets.into(),
                    values: values.into(),
                })
            }
            ColumnData::Sparse(s) => {
                let (offsets, pairs) =
                    gather_lists(&s.offsets, rows, |a, b, out: &mut Vec<(u32, f64)>| {
                        out.extend(
                            s.indices[a..b]
                                .iter()
                                .copied()
                                .zip(s.values[a..b].iter().copied()),
                        )
                    });
                let (indices, values): (Vec<u32>, Vec<f64>) = pairs.into_iter().unzip();
                ColumnData::Sparse(SparseColumn {
                    dims: pick(&s.dims, rows).into(),
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

/// The offsets and items of the list rows `rows` of a list column with `offsets`: `copy(a, b,
/// out)` appends the items `a..b` of one row.
fn gather_lists<T>(
    offsets: &[u32],
    rows: &[u32],
    mut copy: impl FnMut(usize, usize, &mut Vec<T>),
) -> (Vec<u32>, Vec<T>) {
    let mut out_offsets = Vec::with_capacity(rows.len() + 1);
    out_offsets.push(0u32);
    let mut items = Vec::new();
    for &i in rows {
        let (a, b) = (
            offsets[i as usize] as usize,
            offsets[i as usize + 1] as usize,
        );
        copy(a, b, &mut items);
        out_offsets.push(items.len() as u32);
    }
    (out_offsets, items)
}

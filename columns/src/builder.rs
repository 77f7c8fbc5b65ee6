//! Building columns a row at a time (sources read rows; operators emit them).

use crate::column::{
    Bitmap, Column, ColumnData, ColumnType, DenseColumn, SparseColumn, StrBuilder,
};

/// Appends values of one type, and nulls, to a column being built.
#[derive(Debug)]
pub struct ColumnBuilder {
    values: Building,
    /// One validity flag per row, kept only while a row is null.
    valid: Option<Vec<bool>>,
    /// Null rows among `rows`.
    nulls: usize,
    rows: usize,
}

#[derive(Debug)]
enum Building {
    I64(Vec<i64>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    Str(StrBuilder),
    Dense {
        offsets: Vec<u32>,
        values: Vec<f64>,
    },
    Sparse {
        dims: Vec<u32>,
        offsets: Vec<u32>,
        indices: Vec<u32>,
        values: Vec<f64>,
    },
}

/// A value pushed to a builder of another type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongType {
    /// The builder's type.
    pub column: ColumnType,
}

impl ColumnBuilder {
    /// An empty column of type `ty` with room for `rows` rows.
    pub fn new(ty: ColumnType, rows: usize) -> ColumnBuilder {
        let values = match ty {
            ColumnType::I64 => Building::I64(Vec::with_capacity(rows)),
            ColumnType::F64 => Building::F64(Vec::with_capacity(rows)),
            ColumnType::Bool => Building::Bool(Vec::with_capacity(rows)),
            ColumnType::Str => Building::Str(StrBuilder::with_capacity(rows, rows * 8)),
            ColumnType::Dense => Building::Dense {
                offsets: first_offset(rows),
                values: Vec::new(),
            },
            ColumnType::Sparse => Building::Sparse {
                dims: Vec::with_capacity(rows),
                offsets: first_offset(rows),
                indices: Vec::new(),
                values: Vec::new(),
            },
        };
        ColumnBuilder {
            values,
            valid: None,
            nulls: 0,
            rows: 0,
        }
    }

    /// The type of the column being built.
    pub fn ty(&self) -> ColumnType {
        match &self.values {
            Building::I64(_) => ColumnType::I64,
            Building::F64(_) => ColumnType::F64,
            Building::Bool(_) => ColumnType::Bool,
            Building::Str(_) => ColumnType::Str,
            Building::Dense { .. } => ColumnType::Dense,
            Building::Sparse { .. } => ColumnType::Sparse,
        }
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was pushed.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    #[inline]
    fn pushed(&mut self, valid: bool) {
        if !valid {
            self.nulls += 1;
        }
        if !valid && self.valid.is_none() {
            self.valid = Some(vec![true; self.rows]);
        }
        if let Some(flags) = &mut self.valid {
            flags.push(valid);
        }
        self.rows += 1;
    }

    /// Appends a null (the type's default value in the buffer, a clear validity bit).
    #[inline]
    pub fn push_null(&mut self) {
        match &mut self.values {
            Building::I64(v) => v.push(0),
            Building::F64(v) => v.push(0.0),
            Building::Bool(v) => v.push(false),
            Building::Str(b) => b.push(""),
            Building::Dense { offsets, values } => offsets.push(values.len() as u32),
            Building::Sparse {
                dims,
                offsets,
                indices,
                ..
            } => {
                dims.push(0);
                offsets.push(indices.len() as u32);
            }
        }
        self.pushed(false);
    }

    /// Appends an i64.
    #[inline]
    pub fn push_i64(&mut self, x: i64) -> Result<(), WrongType> {
        let Building::I64(v) = &mut self.values else {
            return Err(self.wrong());
        };
        v.push(x);
        self.pushed(true);
        Ok(())
    }

    /// Appends an f64.
    #[inline]
    pub fn push_f64(&mut self, x: f64) -> Result<(), WrongType> {
        let Building::F64(v) = &mut self.values else {
            return Err(self.wrong());
        };
        v.push(x);
        self.pushed(true);
        Ok(())
    }

    /// Appends i64s, none of them null.
    #[inline]
    pub fn extend_i64(&mut self, xs: &[i64]) -> Result<(), WrongType> {
        let Building::I64(v) = &mut self.values else {
            return Err(self.wrong());
        };
        v.extend_from_slice(xs);
        self.extended(xs.len());
        Ok(())
    }

    /// Appends f64s, none of them null.
    #[inline]
    pub fn extend_f64(&mut self, xs: &[f64]) -> Result<(), WrongType> {
        let Building::F64(v) = &mut self.values else {
            return Err(self.wrong());
        };
        v.extend_from_slice(xs);
        self.extended(xs.len());
        Ok(())
    }

    /// Counts `rows` valid rows appended at once.
    #[inline]
    fn extended(&mut self, rows: usize) {
        if let Some(flags) = &mut self.valid {
            flags.resize(flags.len() + rows, true);
        }
        self.rows += rows;
    }

    /// Appends a bool.
    #[inline]
    pub fn push_bool(&mut self, x: bool) -> Result<(), WrongType> {
        let Building::Bool(v) = &mut self.values else {
            return Err(self.wrong());
        };
        v.push(x);
        self.pushed(true);
        Ok(())
    }

    /// Appends a string.
    #[inline]
    pub fn push_str(&mut self, x: &str) -> Result<(), WrongType> {
        let Building::Str(b) = &mut self.values else {
            return Err(self.wrong());
        };
        b.push(x);
        self.pushed(true);
        Ok(())
    }

    /// Appends a dense vector.
    pub fn push_dense(&mut self, x: &[f64]) -> Result<(), WrongType> {
        let Building::Dense { offsets, values } = &mut self.values else {
            return Err(self.wrong());
        };
        values.extend_from_slice(x);
        offsets.push(values.len() as u32);
        self.pushed(true);
        Ok(())
    }

    /// Appends a sparse vector of dimension `dim` (the caller checked its invariants).
    pub fn push_sparse(&mut self, dim: u32, idx: &[u32], vals: &[f64]) -> Result<(), WrongType> {
        let Building::Sparse {
            dims,
            offsets,
            indices,
            values,
        } = &mut self.values
        else {
            return Err(self.wrong());
        };
        dims.push(dim);
        indices.extend_from_slice(idx);
        values.extend_from_slice(vals);
        offsets.push(indices.len() as u32);
        self.pushed(true);
        Ok(())
    }

    /// Keeps the first `rows` rows and drops the rest (nothing when it holds fewer): how a
    /// reader takes back the values of a record it found malformed half-way.
    pub fn truncate(&mut self, rows: usize) {
        if rows >= self.rows {
            return;
        }
        match &mut self.values {
            Building::I64(v) => v.truncate(rows),
            Building::F64(v) => v.truncate(rows),
            Building::Bool(v) => v.truncate(rows),
            Building::Str(b) => b.truncate(rows),
            Building::Dense { offsets, values } => {
                offsets.truncate(rows + 1);
                values.truncate(offsets[rows] as usize);
            }
            Building::Sparse {
                dims,
                offsets,
                indices,
                values,
            } => {
                dims.truncate(rows);
                offsets.truncate(rows + 1);
                indices.truncate(offsets[rows] as usize);
                values.truncate(offsets[rows] as usize);
            }
        }
        if let Some(flags) = &mut self.valid {
            self.nulls -= flags[rows..].iter().filter(|&&v| !v).count();
            flags.truncate(rows);
        }
        if self.nulls == 0 {
            self.valid = None;
        }
        self.rows = rows;
    }

    /// The last row's value when this builds i64s and that row holds one (not a null).
    pub fn last_i64(&self) -> Option<i64> {
        let Building::I64(v) = &self.values else {
            return None;
        };
        let valid = self.valid.as_ref().is_none_or(|f| f.last() == Some(&true));
        v.last().copied().filter(|_| valid)
    }

    #[inline]
    fn wrong(&self) -> WrongType {
        WrongType { column: self.ty() }
    }

    /// The column built so far; the builder starts over, empty, with room for as many rows.
    pub fn finish(&mut self) -> Column {
        let fresh = ColumnBuilder::new(self.ty(), self.rows);
        std::mem::replace(self, fresh).build()
    }

    /// The column built.
    pub fn build(self) -> Column {
        let data = match self.values {
            Building::I64(v) => ColumnData::I64(v.into()),
            Building::F64(v) => ColumnData::F64(v.into()),
            Building::Bool(v) => ColumnData::Bool(v.into()),
            Building::Str(b) => ColumnData::Str(b.finish()),
            Building::Dense { offsets, values } => ColumnData::Dense(DenseColumn {
                offsets: offsets.into(),
                values: values.into(),
            }),
            Building::Sparse {
                dims,
                offsets,
                indices,
                values,
            } => ColumnData::Sparse(SparseColumn {
                dims: dims.into(),
                offsets: offsets.into(),
                indices: indices.into(),
                values: values.into(),
            }),
        };
        Column {
            data,
            nulls: self.valid.map(Bitmap::from_bools),
        }
    }
}

fn first_offset(rows: usize) -> Vec<u32> {
    let mut offsets = Vec::with_capacity(rows + 1);
    offsets.push(0);
    offsets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_without_nulls_has_no_bitmap() {
        let mut b = ColumnBuilder::new(ColumnType::I64, 2);
        b.push_i64(3).unwrap();
        b.push_i64(-1).unwrap();
        let c = b.finish();
        assert_eq!(c.as_i64(), Some(&[3, -1][..]));
        assert!(c.nulls.is_none());
        assert!(b.is_empty(), "the builder starts over");
    }

    #[test]
    fn nulls_are_marked_and_hold_the_default() {
        let mut b = ColumnBuilder::new(ColumnType::Str, 3);
        b.push_str("a").unwrap();
        b.push_null();
        b.push_str("ç").unwrap();
        let c = b.finish();
        let s = c.as_str().unwrap();
        assert_eq!((s.get(0), s.get(1), s.get(2)), ("a", "", "ç"));
        assert_eq!(
            (c.is_valid(0), c.is_valid(1), c.is_valid(2)),
            (true, false, true)
        );
    }

    #[test]
    fn vectors_of_any_length_and_a_wrong_type_is_refused() {
        let mut d = ColumnBuilder::new(ColumnType::Dense, 2);
        d.push_dense(&[1.0, 2.0]).unwrap();
        d.push_null();
        d.push_dense(&[3.0]).unwrap();
        assert_eq!(
            d.push_i64(1),
            Err(WrongType {
                column: ColumnType::Dense
            })
        );
        let c = d.finish();
        let ColumnData::Dense(dense) = &c.data else {
            panic!("dense")
        };
        assert_eq!(
            (dense.get(0), dense.get(1), dense.get(2)),
            (&[1.0, 2.0][..], &[][..], &[3.0][..])
        );
        let mut s = ColumnBuilder::new(ColumnType::Sparse, 1);
        s.push_sparse(5, &[1, 4], &[0.5, 2.0]).unwrap();
        let c = s.finish();
        let ColumnData::Sparse(sparse) = &c.data else {
            panic!("sparse")
        };
        assert_eq!(sparse.get(0), (5, &[1, 4][..], &[0.5, 2.0][..]));
    }

    /// Pushes row `i` (a null when `i` is odd) to a builder of `ty`.
    fn push_row(b: &mut ColumnBuilder, i: u32) {
        if !i.is_multiple_of(2) {
            b.push_null();
            return;
        }
        let x = f64::from(i);
        let pushed = match b.ty() {
            ColumnType::I64 => b.push_i64(i64::from(i)),
            ColumnType::F64 => b.push_f64(x),
            ColumnType::Bool => b.push_bool(i.is_multiple_of(4)),
            ColumnType::Str => b.push_str(&"é".repeat(i as usize)),
            ColumnType::Dense => b.push_dense(&vec![x; i as usize]),
            ColumnType::Sparse => b.push_sparse(i + 1, &[i], &[x]),
        };
        pushed.unwrap();
    }

    #[test]
    fn truncating_drops_the_last_rows_as_if_never_pushed() {
        for ty in ColumnType::ALL {
            // Rows 0, 2 and 4, with the nulls 1 and 3 taken back: no bitmap is left.
            let mut taken_back = ColumnBuilder::new(ty, 4);
            let mut straight = ColumnBuilder::new(ty, 4);
            for i in [0, 2, 1, 3] {
                push_row(&mut taken_back, i);
            }
            taken_back.truncate(2);
            assert_eq!(taken_back.len(), 2);
            taken_back.truncate(5);
            assert_eq!(taken_back.len(), 2, "truncating to more rows keeps them");
            push_row(&mut taken_back, 4);
            for i in [0, 2, 4] {
                push_row(&mut straight, i);
            }
            assert_eq!(taken_back.finish(), straight.finish(), "{ty:?}");
            // A null that stays keeps its bitmap.
            for i in [0, 1, 2, 3] {
                push_row(&mut taken_back, i);
                push_row(&mut straight, i);
            }
            taken_back.truncate(3);
            straight.truncate(3);
            push_row(&mut straight, 4);
            push_row(&mut taken_back, 4);
            let (a, b) = (taken_back.finish(), straight.finish());
            assert_eq!(a, b, "{ty:?}");
            assert_eq!(
                (0..4).map(|i| a.is_valid(i)).collect::<Vec<_>>(),
                [true, false, true, true]
            );
        }
    }

    #[test]
    fn the_last_i64_is_read_back_unless_null() {
        let mut b = ColumnBuilder::new(ColumnType::I64, 3);
        assert_eq!(b.last_i64(), None);
        b.push_i64(7).unwrap();
        assert_eq!(b.last_i64(), Some(7));
        b.push_null();
        assert_eq!(b.last_i64(), None);
        b.truncate(1);
        assert_eq!(b.last_i64(), Some(7));
        let mut f = ColumnBuilder::new(ColumnType::F64, 1);
        f.push_f64(1.0).unwrap();
        assert_eq!(f.last_i64(), None, "not an i64 column");
    }
}

//! Building columns a row at a time (sources read rows; operators emit them).

use crate::column::{
    Bitmap, Column, ColumnData, ColumnType, DenseColumn, SparseColumn, StrBuilder,
};

/// Appends values of one type, and nulls, to a column being built.
#[derive(Debug)]
pub struct ColumnBuilder {
    values: Building,
    /// One validity flag per row, kept only once a null was pushed.
    valid: Option<Vec<bool>>,
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

    #[inline]
    fn wrong(&self) -> WrongType {
        WrongType { column: self.ty() }
    }

    /// The column built so far; the builder starts over, empty.
    pub fn finish(&mut self) -> Column {
        let fresh = ColumnBuilder::new(self.ty(), self.rows);
        let built = std::mem::replace(self, fresh);
        let data = match built.values {
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
            nulls: built.valid.map(Bitmap::from_bools),
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
}

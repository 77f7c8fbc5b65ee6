//! One row of a column, borrowed: how code that works a value at a time (keys of several
//! columns, `min` / `max` of any type, conversions) reads and writes columns without copying.

use crate::builder::{ColumnBuilder, WrongType};
use crate::column::{Column, ColumnData};

/// The value in one row of a column, borrowed from the column's buffers (nothing is copied
/// or allocated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// No value (the row's validity bit is clear).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A string.
    Str(&'a str),
    /// A dense vector.
    Dense(&'a [f64]),
    /// A sparse vector: its dimension, the positions of its entries and their values.
    Sparse {
        /// The dimension.
        dim: u32,
        /// Positions of the entries, increasing, below `dim`.
        indices: &'a [u32],
        /// Values at `indices`.
        values: &'a [f64],
    },
}

impl Column {
    /// Row `i`'s value ([`ValueRef::Null`] when its validity bit is clear).
    ///
    /// # Panics
    /// If `i` is not below the column's length.
    #[inline]
    pub fn get(&self, i: usize) -> ValueRef<'_> {
        if !self.is_valid(i) {
            return ValueRef::Null;
        }
        match &self.data {
            ColumnData::I64(v) => ValueRef::I64(v[i]),
            ColumnData::F64(v) => ValueRef::F64(v[i]),
            ColumnData::Bool(v) => ValueRef::Bool(v[i]),
            ColumnData::Str(s) => ValueRef::Str(s.get(i)),
            ColumnData::Dense(d) => ValueRef::Dense(d.get(i)),
            ColumnData::Sparse(s) => {
                let (dim, indices, values) = s.get(i);
                ValueRef::Sparse {
                    dim,
                    indices,
                    values,
                }
            }
        }
    }
}

impl ColumnBuilder {
    /// Appends a value (a null for [`ValueRef::Null`]); `Err` when it is not of the
    /// builder's type. A sparse vector's invariants are the caller's to check.
    #[inline]
    pub fn push(&mut self, value: ValueRef<'_>) -> Result<(), WrongType> {
        match value {
            ValueRef::Null => {
                self.push_null();
                Ok(())
            }
            ValueRef::Bool(x) => self.push_bool(x),
            ValueRef::I64(x) => self.push_i64(x),
            ValueRef::F64(x) => self.push_f64(x),
            ValueRef::Str(x) => self.push_str(x),
            ValueRef::Dense(x) => self.push_dense(x),
            ValueRef::Sparse {
                dim,
                indices,
                values,
            } => self.push_sparse(dim, indices, values),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ColumnType;

    #[test]
    fn every_type_reads_back_what_was_pushed_and_nulls_read_as_null() {
        let values = [
            (ColumnType::I64, ValueRef::I64(-7)),
            (ColumnType::F64, ValueRef::F64(2.5)),
            (ColumnType::Bool, ValueRef::Bool(true)),
            (ColumnType::Str, ValueRef::Str("ünï")),
            (ColumnType::Dense, ValueRef::Dense(&[1.0, -2.0])),
            (
                ColumnType::Sparse,
                ValueRef::Sparse {
                    dim: 9,
                    indices: &[2, 8],
                    values: &[0.5, 4.0],
                },
            ),
        ];
        for (ty, value) in values {
            let mut b = ColumnBuilder::new(ty, 3);
            b.push(value).unwrap();
            b.push(ValueRef::Null).unwrap();
            b.push(value).unwrap();
            let column = b.finish();
            assert_eq!(
                [column.get(0), column.get(1), column.get(2)],
                [value, ValueRef::Null, value],
                "{ty:?}"
            );
        }
    }

    #[test]
    fn a_value_of_another_type_is_refused() {
        let mut b = ColumnBuilder::new(ColumnType::I64, 1);
        assert_eq!(
            b.push(ValueRef::Str("1")),
            Err(WrongType {
                column: ColumnType::I64
            })
        );
        assert!(b.is_empty());
    }
}

//! Records in columns: the [`Batch`] of `quiver-columns` (re-exported here) is how records
//! travel between tasks and nodes. A batch's columns follow its stream's [`Schema`]; this
//! module converts between batches and rows of [`Value`]s, for tests and tools that write or
//! check records by hand (every operator reads and writes columns).

pub use quiver_columns::{
    wire, Batch, BatchError, Bitmap, Column, ColumnBuilder, ColumnData, ColumnType, DenseColumn,
    SparseColumn, StrBuilder, StrColumn, ValueRef, Values, WrongType,
};

use crate::record::Record;
use crate::value::{Schema, SparseVector, Value, ValueType};
use std::sync::Arc;

/// The column type that holds values of `ty`.
pub fn column_type(ty: ValueType) -> ColumnType {
    match ty {
        ValueType::I64 => ColumnType::I64,
        ValueType::F64 => ColumnType::F64,
        ValueType::Bool => ColumnType::Bool,
        ValueType::Str => ColumnType::Str,
        ValueType::Dense => ColumnType::Dense,
        ValueType::Sparse => ColumnType::Sparse,
    }
}

/// The column types of a schema, in order.
pub fn column_types(schema: &Schema) -> Vec<ColumnType> {
    schema.columns.iter().map(|c| column_type(c.ty)).collect()
}

/// Records of `schema` as a batch. A value of another type than its column's is an error
/// naming the column (a row shorter than the schema has nulls at the end).
pub fn from_records(schema: &Schema, records: &[Record]) -> Result<Batch, BatchError> {
    let mut builders: Vec<ColumnBuilder> = schema
        .columns
        .iter()
        .map(|c| ColumnBuilder::new(column_type(c.ty), records.len()))
        .collect();
    for record in records {
        for (i, builder) in builders.iter_mut().enumerate() {
            push(builder, record.row.get(i).unwrap_or(&Value::Null)).map_err(|_| {
                BatchError(format!(
                    "column {:?} holds {:?}, not a {}",
                    schema.columns[i].name,
                    record.row.get(i),
                    schema.columns[i].ty
                ))
            })?;
        }
    }
    let event_time = records.iter().map(|r| r.event_time).collect();
    Batch::try_new(
        event_time,
        builders.iter_mut().map(|b| b.finish()).collect(),
    )
}

/// Appends one value to a builder of its type; `Err` when the types differ.
pub fn push(builder: &mut ColumnBuilder, value: &Value) -> Result<(), WrongType> {
    builder.push(value.into())
}

/// The batch as records, one row of values per record.
pub fn to_records(batch: &Batch) -> Vec<Record> {
    (0..batch.len())
        .map(|i| Record {
            event_time: batch.event_time()[i],
            row: batch.columns().iter().map(|c| value(c, i)).collect(),
        })
        .collect()
}

/// Row `i` of a column as a value.
pub fn value(column: &Column, i: usize) -> Value {
    column.get(i).into()
}

/// The value type a column type holds.
pub fn value_type(ty: ColumnType) -> ValueType {
    match ty {
        ColumnType::I64 => ValueType::I64,
        ColumnType::F64 => ValueType::F64,
        ColumnType::Bool => ValueType::Bool,
        ColumnType::Str => ValueType::Str,
        ColumnType::Dense => ValueType::Dense,
        ColumnType::Sparse => ValueType::Sparse,
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    /// The value, borrowed.
    fn from(value: &'a Value) -> ValueRef<'a> {
        match value {
            Value::Null => ValueRef::Null,
            Value::Bool(x) => ValueRef::Bool(*x),
            Value::I64(x) => ValueRef::I64(*x),
            Value::F64(x) => ValueRef::F64(*x),
            Value::Str(s) => ValueRef::Str(s),
            Value::Dense(v) => ValueRef::Dense(v),
            Value::Sparse(v) => ValueRef::Sparse {
                dim: v.dim,
                indices: &v.indices,
                values: &v.values,
            },
        }
    }
}

impl From<ValueRef<'_>> for Value {
    /// A copy of the value (strings and vectors are allocated).
    fn from(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(x) => Value::Bool(x),
            ValueRef::I64(x) => Value::I64(x),
            ValueRef::F64(x) => Value::F64(x),
            ValueRef::Str(s) => Value::from(s),
            ValueRef::Dense(v) => Value::Dense(Arc::from(v)),
            ValueRef::Sparse {
                dim,
                indices,
                values,
            } => Value::Sparse(Arc::new(SparseVector {
                dim,
                indices: indices.to_vec(),
                values: values.to_vec(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_a_batch_with_nulls_and_every_type() {
        let schema = Schema::new([
            ("a", ValueType::I64),
            ("b", ValueType::F64),
            ("c", ValueType::Bool),
            ("d", ValueType::Str),
            ("e", ValueType::Dense),
            ("f", ValueType::Sparse),
        ]);
        let sparse = Value::Sparse(Arc::new(SparseVector {
            dim: 4,
            indices: vec![1, 3],
            values: vec![0.5, -1.0],
        }));
        let records = vec![
            Record {
                event_time: 7,
                row: vec![
                    Value::I64(-3),
                    Value::F64(1.5),
                    Value::Bool(true),
                    Value::from("héllo"),
                    Value::Dense(Arc::from(&[1.0, 2.0][..])),
                    sparse,
                ],
            },
            Record {
                event_time: 8,
                row: vec![
                    Value::Null,
                    Value::Null,
                    Value::Bool(false),
                    Value::from(""),
                ],
            },
        ];
        let batch = from_records(&schema, &records).unwrap();
        let mut expected = records.clone();
        expected[1].row.extend([Value::Null, Value::Null]);
        assert_eq!(to_records(&batch), expected);
    }

    #[test]
    fn every_value_type_has_its_column_type_and_back() {
        for (_, ty) in ValueType::NAMES {
            assert_eq!(value_type(column_type(ty)), ty);
        }
    }

    #[test]
    fn a_value_of_another_type_names_its_column() {
        let schema = Schema::new([("n", ValueType::I64)]);
        let records = vec![Record {
            event_time: 0,
            row: vec![Value::from("x")],
        }];
        let e = from_records(&schema, &records).unwrap_err();
        assert!(e.0.contains("column \"n\""), "{e}");
    }
}

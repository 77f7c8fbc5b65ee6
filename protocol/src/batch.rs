//! Records in columns: the [`Batch`] of `quiver-columns` (re-exported here) is how records
//! travel between tasks and nodes. A batch's columns follow its stream's [`Schema`]; this
//! module converts between batches and rows of [`Value`]s, for the operators that still work
//! on rows.

pub use quiver_columns::{
    wire, Batch, BatchError, Bitmap, Column, ColumnBuilder, ColumnData, ColumnType, DenseColumn,
    SparseColumn, StrBuilder, StrColumn, Values, WrongType,
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
    match value {
        Value::Null => {
            builder.push_null();
            Ok(())
        }
        Value::I64(x) => builder.push_i64(*x),
        Value::F64(x) => builder.push_f64(*x),
        Value::Bool(x) => builder.push_bool(*x),
        Value::Str(s) => builder.push_str(s),
        Value::Dense(v) => builder.push_dense(v),
        Value::Sparse(v) => builder.push_sparse(v.dim, &v.indices, &v.values),
    }
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
    if !column.is_valid(i) {
        return Value::Null;
    }
    match &column.data {
        ColumnData::I64(v) => Value::I64(v[i]),
        ColumnData::F64(v) => Value::F64(v[i]),
        ColumnData::Bool(v) => Value::Bool(v[i]),
        ColumnData::Str(s) => Value::from(s.get(i)),
        ColumnData::Dense(d) => Value::Dense(Arc::from(d.get(i))),
        ColumnData::Sparse(s) => {
            let (dim, indices, values) = s.get(i);
            Value::Sparse(Arc::new(SparseVector {
                dim,
                indices: indices.to_vec(),
                values: values.to_vec(),
            }))
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

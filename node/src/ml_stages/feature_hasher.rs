//! `kind = "feature_hasher"`: Flink ML's FeatureHasher (`quiver_ml::feature::FeatureHasher`,
//! bit-compatible): numeric columns add their value at `h("col")`, string, bool and
//! `categorical` columns add 1.0 at `h("col=value")`; null values (and NaN and infinite
//! numbers, read as nulls) are skipped. Adds the sparse vector `output` of dimension
//! `num_features` (stateless).

use super::features::{data_error, finite, InputColumn};
use super::learner::emit;
use super::rows::{RowOperator, RowOutput};
use crate::operator::OperatorError;
use quiver_ml::feature::{FeatureHasher, FeatureHasherParams, HashValue};
use quiver_protocol::spec::{FeatureHasherStage, StageSpec};
use quiver_protocol::{Batch, Schema, SparseVector, Value};
use std::sync::Arc;

/// One partition of a hasher stage.
struct HasherOperator {
    stage: String,
    columns: Vec<InputColumn>,
    hasher: FeatureHasher,
    /// The hashed row, before it is copied into the row.
    hashed: quiver_ml::SparseVector,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &FeatureHasherStage,
    input: &Schema,
) -> Result<Box<dyn RowOperator>, OperatorError> {
    let hasher = FeatureHasher::new(FeatureHasherParams {
        input_cols: spec.columns.clone(),
        categorical_cols: spec.categorical.clone(),
        num_features: spec.num_features,
        output_col: spec.output.clone(),
    })
    .map_err(|e| data_error(&stage.name, e))?;
    Ok(Box::new(HasherOperator {
        stage: stage.name.clone(),
        columns: InputColumn::find_all(&stage.name, input, &spec.columns)?,
        hasher,
        hashed: quiver_ml::SparseVector::default(),
    }))
}

impl HasherOperator {
    /// The hasher's view of one value of `column`.
    fn value<'v>(
        &self,
        column: &InputColumn,
        value: &'v Value,
    ) -> Result<HashValue<'v>, OperatorError> {
        Ok(match value {
            Value::Null => HashValue::Null,
            Value::Bool(b) => HashValue::Bool(*b),
            Value::I64(x) => HashValue::Int(*x),
            Value::F64(x) => finite(*x).map_or(HashValue::Null, HashValue::Num),
            Value::Str(s) => HashValue::Str(s),
            other => return Err(column.unexpected(&self.stage, other, "a number, bool or string")),
        })
    }
}

impl RowOperator for HasherOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        // First hash every row (the pairs borrow the rows), then add the vectors to the rows.
        let mut hashed = Vec::with_capacity(batch.len());
        let mut pairs: Vec<(&str, HashValue<'_>)> = Vec::with_capacity(self.columns.len());
        for record in &batch {
            pairs.clear();
            for column in &self.columns {
                pairs.push((&column.name, self.value(column, column.of(&record.row))?));
            }
            self.hasher
                .hash_into(&pairs, &mut self.hashed)
                .map_err(|e| data_error(&self.stage, e))?;
            hashed.push(Value::Sparse(Arc::new(SparseVector {
                dim: self.hashed.dim,
                indices: self.hashed.indices.clone(),
                values: self.hashed.values.clone(),
            })));
        }
        drop(pairs);
        for (record, vector) in batch.iter_mut().zip(hashed) {
            record.row.push(vector);
        }
        emit(batch, out);
        Ok(())
    }
}

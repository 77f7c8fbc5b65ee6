//! `kind = "feature_hasher"`: Flink ML's FeatureHasher (`quiver_ml::feature::FeatureHasher`,
//! bit-compatible): numeric columns add their value at `h("col")`, string, bool and
//! `categorical` columns add 1.0 at `h("col=value")`; null values (and NaN and infinite
//! numbers, read as nulls) are skipped. Adds the sparse vector `output` of dimension
//! `num_features` (stateless).

use super::columns::{data_error, finite, refused, InputColumn};
use super::stage::AddColumns;
use crate::operator::OperatorError;
use quiver_ml::feature::{FeatureHasher, FeatureHasherParams, HashValue};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnData, ColumnType};
use quiver_protocol::spec::{FeatureHasherStage, StageSpec};
use quiver_protocol::Schema;

/// One partition of a hasher stage.
struct HasherOperator {
    stage: String,
    columns: Vec<InputColumn>,
    hasher: FeatureHasher,
    /// The hashed row, before it is copied into the output column.
    hashed: quiver_ml::SparseVector,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &FeatureHasherStage,
    input: &Schema,
) -> Result<Box<dyn AddColumns>, OperatorError> {
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
    /// The hasher's view of row `row` of `column`, the column `input` of the batch.
    #[inline]
    fn value<'b>(
        &self,
        input: &InputColumn,
        column: &'b Column,
        row: usize,
    ) -> Result<HashValue<'b>, OperatorError> {
        if !column.is_valid(row) {
            return Ok(HashValue::Null);
        }
        Ok(match &column.data {
            ColumnData::Bool(v) => HashValue::Bool(v[row]),
            ColumnData::I64(v) => HashValue::Int(v[row]),
            ColumnData::F64(v) => finite(v[row]).map_or(HashValue::Null, HashValue::Num),
            ColumnData::Str(v) => HashValue::Str(v.get(row)),
            ColumnData::Dense(_) | ColumnData::Sparse(_) => {
                return Err(input.unexpected(
                    &self.stage,
                    column.get(row),
                    "a number, bool or string",
                ))
            }
        })
    }
}

impl AddColumns for HasherOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let inputs = self
            .columns
            .iter()
            .map(|c| c.of(&self.stage, batch))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pairs: Vec<(&str, HashValue<'_>)> = Vec::with_capacity(self.columns.len());
        let mut hashed = ColumnBuilder::new(ColumnType::Sparse, batch.len());
        for row in 0..batch.len() {
            pairs.clear();
            for (input, column) in self.columns.iter().zip(&inputs) {
                pairs.push((&input.name, self.value(input, column, row)?));
            }
            self.hasher
                .hash_into(&pairs, &mut self.hashed)
                .map_err(|e| data_error(&self.stage, e))?;
            hashed
                .push_sparse(self.hashed.dim, &self.hashed.indices, &self.hashed.values)
                .map_err(|e| refused(&self.stage, e))?;
        }
        columns.push(hashed.finish());
        Ok(())
    }
}

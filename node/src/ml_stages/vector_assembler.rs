//! `kind = "vector_assembler"`: concatenates numeric (i64, f64, bool) and vector columns, in
//! order, into the dense vector `output` (stateless). A row with a null input, or a NaN or
//! infinite number in an input, gets a null output.

use super::features::InputColumn;
use super::learner::emit;
use super::rows::{RowOperator, RowOutput};
use crate::operator::OperatorError;
use quiver_ml::Features;
use quiver_protocol::spec::{StageSpec, VectorAssemblerStage};
use quiver_protocol::{Batch, Schema, Value};
use std::sync::Arc;

/// One partition of an assembler stage.
struct AssemblerOperator {
    stage: String,
    columns: Vec<InputColumn>,
    /// The assembled vector, before it is copied into the row.
    assembled: Vec<f64>,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &VectorAssemblerStage,
    input: &Schema,
) -> Result<Box<dyn RowOperator>, OperatorError> {
    Ok(Box::new(AssemblerOperator {
        stage: stage.name.clone(),
        columns: InputColumn::find_all(&stage.name, input, &spec.columns)?,
        assembled: Vec::new(),
    }))
}

impl AssemblerOperator {
    /// Assembles `row` into `self.assembled`; `false` when an input is null or holds a NaN or
    /// an infinity.
    fn assemble(&mut self, row: &[Value]) -> Result<bool, OperatorError> {
        self.assembled.clear();
        for column in &self.columns {
            match column.of(row) {
                Value::Null => return Ok(false),
                Value::Dense(x) => self.assembled.extend_from_slice(x),
                Value::Sparse(x) => {
                    let start = self.assembled.len();
                    self.assembled.resize(start + x.dim as usize, 0.0);
                    for (&i, &v) in x.indices.iter().zip(&x.values) {
                        match self.assembled.get_mut(start + i as usize) {
                            Some(slot) if (i as usize) < x.dim as usize => *slot = v,
                            _ => {
                                return Err(column.unexpected(
                                    &self.stage,
                                    column.of(row),
                                    "a sparse vector with indices below its dimension",
                                ))
                            }
                        }
                    }
                }
                value => match value.as_f64() {
                    Some(x) => self.assembled.push(x),
                    None => {
                        return Err(column.unexpected(&self.stage, value, "a number or a vector"))
                    }
                },
            }
        }
        Ok(Features::Dense(&self.assembled).check_finite().is_ok())
    }
}

impl RowOperator for AssemblerOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let assembled = if self.assemble(&record.row)? {
                Value::Dense(Arc::from(self.assembled.as_slice()))
            } else {
                Value::Null
            };
            record.row.push(assembled);
        }
        emit(batch, out);
        Ok(())
    }
}

//! `kind = "vector_assembler"`: concatenates numeric (i64, f64, bool) and vector columns, in
//! order, into the dense vector `output` (stateless). A row with a null input, or a NaN or
//! infinite number in an input, gets a null output.

use super::columns::{refused, InputColumn, Numbers, Vectors};
use super::stage::AddColumns;
use crate::operator::OperatorError;
use quiver_ml::Features;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnData, ColumnType};
use quiver_protocol::spec::{StageSpec, VectorAssemblerStage};
use quiver_protocol::Schema;

/// One partition of an assembler stage.
struct AssemblerOperator {
    stage: String,
    columns: Vec<InputColumn>,
    /// The assembled vector, before it is copied into the output column.
    assembled: Vec<f64>,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &VectorAssemblerStage,
    input: &Schema,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    Ok(Box::new(AssemblerOperator {
        stage: stage.name.clone(),
        columns: InputColumn::find_all(&stage.name, input, &spec.columns)?,
        assembled: Vec::new(),
    }))
}

/// One batch's input column: numbers, or vectors appended whole.
enum Part<'b> {
    Number(Numbers<'b>),
    Vector(Vectors<'b>),
}

/// Assembles row `row` of `parts` into `assembled`; `false` when an input is null or holds a
/// NaN or an infinity.
fn assemble(
    parts: &[Part<'_>],
    row: usize,
    assembled: &mut Vec<f64>,
) -> Result<bool, OperatorError> {
    assembled.clear();
    for part in parts {
        match part {
            Part::Number(numbers) => match numbers.raw(row)? {
                Some(x) => assembled.push(x),
                None => return Ok(false),
            },
            Part::Vector(vectors) => match vectors.get(row)? {
                None => return Ok(false),
                Some(Features::Dense(x)) => assembled.extend_from_slice(x),
                Some(Features::Sparse(x)) => {
                    let start = assembled.len();
                    assembled.resize(start + x.dim as usize, 0.0);
                    for (&i, &v) in x.indices.iter().zip(x.values) {
                        match assembled.get_mut(start + i as usize) {
                            Some(slot) if i < x.dim => *slot = v,
                            _ => {
                                return Err(vectors.unexpected(
                                    row,
                                    "a sparse vector with indices below its dimension",
                                ))
                            }
                        }
                    }
                }
            },
        }
    }
    Ok(Features::Dense(assembled).check_finite().is_ok())
}

impl AddColumns for AssemblerOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let parts = self
            .columns
            .iter()
            .map(|c| {
                let vector = matches!(
                    c.of(&self.stage, batch)?.data,
                    ColumnData::Dense(_) | ColumnData::Sparse(_)
                );
                Ok(if vector {
                    Part::Vector(c.vectors(&self.stage, batch)?)
                } else {
                    Part::Number(
                        c.numbers(&self.stage, batch)?
                            .expecting("a number or a vector"),
                    )
                })
            })
            .collect::<Result<Vec<_>, OperatorError>>()?;
        let mut assembled = ColumnBuilder::new(ColumnType::Dense, batch.len());
        for row in 0..batch.len() {
            if assemble(&parts, row, &mut self.assembled)? {
                assembled
                    .push_dense(&self.assembled)
                    .map_err(|e| refused(&self.stage, e))?;
            } else {
                assembled.push_null();
            }
        }
        columns.push(assembled.finish());
        Ok(())
    }
}

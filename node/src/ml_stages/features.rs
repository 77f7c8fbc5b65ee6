//! Reading an ML stage's inputs from a row: feature vectors (a vector column borrowed as is,
//! or numeric columns gathered into a reused buffer), labels and ids, with errors that name the
//! stage, the column and the value. A NaN or infinite number reads as a null.

use crate::operator::OperatorError;
use quiver_ml::finite::{check, Position};
use quiver_ml::{Features, SparseView};
use quiver_protocol::spec::FeatureInput;
use quiver_protocol::{Schema, Value};
use std::fmt::Display;

/// A data error naming the stage.
pub(super) fn data_error(stage: &str, error: impl Display) -> OperatorError {
    OperatorError::Data(format!("stage \"{stage}\": {error}"))
}

/// A data error about the row at `event_time`, naming the stage.
pub(super) fn row_error(stage: &str, event_time: i64, error: impl Display) -> OperatorError {
    data_error(stage, format!("row at event time {event_time}: {error}"))
}

/// `Some(x)` for a finite `x`; `None` for NaN and the infinities, which the stages read as a
/// null.
pub(super) fn finite(x: f64) -> Option<f64> {
    check(x, || Position::Value).ok()
}

/// A column of the input: its position and name.
#[derive(Debug, Clone)]
pub(super) struct InputColumn {
    pub(super) index: usize,
    pub(super) name: String,
}

impl InputColumn {
    /// Column `name` of `input` (validated by the spec; checked again against the plan's schema).
    pub(super) fn find(stage: &str, input: &Schema, name: &str) -> Result<Self, OperatorError> {
        match input.index_of(name) {
            Some(index) => Ok(InputColumn {
                index,
                name: name.to_string(),
            }),
            None => Err(data_error(
                stage,
                format!(
                    "column \"{name}\" is not in its input (columns: {})",
                    input.names()
                ),
            )),
        }
    }

    /// Columns `names` of `input`, in order.
    pub(super) fn find_all(
        stage: &str,
        input: &Schema,
        names: &[String],
    ) -> Result<Vec<Self>, OperatorError> {
        names
            .iter()
            .map(|name| InputColumn::find(stage, input, name))
            .collect()
    }

    /// This column's value in `row` (null when the row is short).
    pub(super) fn of<'r>(&self, row: &'r [Value]) -> &'r Value {
        row.get(self.index).unwrap_or(&Value::Null)
    }

    /// This column's value as a number; `None` when null, NaN or infinite.
    pub(super) fn number(&self, stage: &str, row: &[Value]) -> Result<Option<f64>, OperatorError> {
        match self.of(row) {
            Value::Null => Ok(None),
            value => value
                .as_f64()
                .map(finite)
                .ok_or_else(|| self.unexpected(stage, value, "a number")),
        }
    }

    /// The error for a value of an unexpected type.
    pub(super) fn unexpected(&self, stage: &str, value: &Value, expected: &str) -> OperatorError {
        data_error(
            stage,
            format!(
                "column \"{}\" holds {value:?}, expected {expected}",
                self.name
            ),
        )
    }
}

/// Where the features come from.
#[derive(Debug)]
enum Source {
    /// A dense or sparse vector column, borrowed.
    Vector(InputColumn),
    /// Numeric columns, gathered into `FeatureReader::buffer`.
    Columns(Vec<InputColumn>),
}

/// Reads one row's feature vector without allocating.
#[derive(Debug)]
pub(super) struct FeatureReader {
    stage: String,
    source: Source,
    buffer: Vec<f64>,
}

impl FeatureReader {
    /// A reader of `features` in rows of `input`.
    pub(super) fn new(
        stage: &str,
        features: &FeatureInput,
        input: &Schema,
    ) -> Result<Self, OperatorError> {
        let source = match features {
            FeatureInput::Vector(name) => Source::Vector(InputColumn::find(stage, input, name)?),
            FeatureInput::Columns(names) => {
                Source::Columns(InputColumn::find_all(stage, input, names)?)
            }
        };
        let width = match &source {
            Source::Columns(columns) => columns.len(),
            Source::Vector(_) => 0,
        };
        Ok(FeatureReader {
            stage: stage.to_string(),
            source,
            buffer: Vec::with_capacity(width),
        })
    }

    /// The features of `row`; `None` when a feature is null, NaN or infinite.
    pub(super) fn read<'a>(
        &'a mut self,
        row: &'a [Value],
    ) -> Result<Option<Features<'a>>, OperatorError> {
        match &self.source {
            Source::Vector(column) => {
                let x = match column.of(row) {
                    Value::Null => return Ok(None),
                    Value::Dense(x) => Features::Dense(x),
                    Value::Sparse(x) => {
                        let view = SparseView {
                            dim: x.dim,
                            indices: &x.indices,
                            values: &x.values,
                        };
                        if !view.is_well_formed() {
                            return Err(column.unexpected(
                                &self.stage,
                                column.of(row),
                                "a sparse vector with increasing indices below its dimension",
                            ));
                        }
                        Features::Sparse(view)
                    }
                    other => return Err(column.unexpected(&self.stage, other, "a vector")),
                };
                Ok(x.check_finite().is_ok().then_some(x))
            }
            Source::Columns(columns) => {
                self.buffer.clear();
                for column in columns {
                    match column.number(&self.stage, row)? {
                        Some(x) => self.buffer.push(x),
                        None => return Ok(None),
                    }
                }
                Ok(Some(Features::Dense(&self.buffer)))
            }
        }
    }
}

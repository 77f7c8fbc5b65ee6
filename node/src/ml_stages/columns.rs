//! Reading an ML stage's input columns from a batch: each column the stage names, found by
//! position and viewed by its type once per batch, then read a row at a time straight from
//! the column's buffers (no value is copied or built per row). A column of a type the stage
//! cannot read fails at its first row holding a value (a null of any type reads as a null),
//! with an error naming the stage, the column and the value. A NaN or infinite number reads as
//! a null where the stage says so.

use crate::operator::OperatorError;
use quiver_ml::finite::{check, Position};
use quiver_ml::{Features, MlError, Prediction, SparseView};
use quiver_protocol::batch::{
    Batch, Column, ColumnBuilder, ColumnData, ColumnType, ValueRef, WrongType,
};
use quiver_protocol::spec::Predicts;
use quiver_protocol::Schema;
use std::fmt::Display;

/// A data error naming the stage.
pub(super) fn data_error(stage: &str, error: impl Display) -> OperatorError {
    OperatorError::Data(format!("stage \"{stage}\": {error}"))
}

/// A data error about the row at `event_time`, naming the stage.
pub(super) fn row_error(stage: &str, event_time: i64, error: impl Display) -> OperatorError {
    data_error(stage, format!("row at event time {event_time}: {error}"))
}

/// Whether a learning step went through: `Ok(true)`; `Ok(false)` for an update the model
/// refused because it would have made the model non-finite (the model is as it was and
/// counted it, the row is still scored, the job goes on); else the error that fails the row.
pub(super) fn learnt(step: Result<(), MlError>) -> Result<bool, MlError> {
    match step {
        Ok(()) => Ok(true),
        Err(e) if e.is_refused_update() => Ok(false),
        Err(e) => Err(e),
    }
}

/// `Some(x)` for a finite `x`; `None` for NaN and the infinities, which the stages read as a
/// null.
#[inline]
pub(super) fn finite(x: f64) -> Option<f64> {
    check(x, || Position::Value).ok()
}

/// The error for a value an added column's builder refused (a value of another type: a bug
/// in the stage, reported rather than a panic).
pub(super) fn refused(stage: &str, wrong: WrongType) -> OperatorError {
    data_error(
        stage,
        format!(
            "an added column of type {:?} refused a value of another type",
            wrong.column
        ),
    )
}

/// A model version as the i64 `model_version` column holds it.
pub(super) fn version_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The columns a model adds to a batch, built a row at a time: `cluster` (a k-means model's:
/// the prediction as i64), `prediction`, `probability` (a classifier's) and `model_version`.
pub(super) struct ScoreColumns<'s> {
    stage: &'s str,
    clusters: Option<ColumnBuilder>,
    predictions: ColumnBuilder,
    probabilities: Option<ColumnBuilder>,
    versions: ColumnBuilder,
}

impl<'s> ScoreColumns<'s> {
    /// The columns of stage `stage` for `rows` rows of a model that `predicts` so.
    pub(super) fn new(stage: &'s str, rows: usize, predicts: Predicts) -> Self {
        let f64s = || ColumnBuilder::new(ColumnType::F64, rows);
        ScoreColumns {
            stage,
            clusters: (predicts == Predicts::Clustering)
                .then(|| ColumnBuilder::new(ColumnType::I64, rows)),
            predictions: f64s(),
            probabilities: (predicts == Predicts::Classification).then(f64s),
            versions: ColumnBuilder::new(ColumnType::I64, rows),
        }
    }

    /// The next row: its prediction and the version that made it (`None`: nulls).
    pub(super) fn push(
        &mut self,
        prediction: Option<&Prediction>,
        version: Option<u64>,
    ) -> Result<(), OperatorError> {
        let refused = |e| refused(self.stage, e);
        if let Some(clusters) = &mut self.clusters {
            match prediction {
                // A centroid's index: a small whole number.
                Some(p) => clusters.push_i64(p.value as i64).map_err(refused)?,
                None => clusters.push_null(),
            }
        }
        match prediction {
            Some(p) => self.predictions.push_f64(p.value).map_err(refused)?,
            None => self.predictions.push_null(),
        }
        if let Some(probabilities) = &mut self.probabilities {
            match prediction.and_then(|p| p.probability) {
                Some(p) => probabilities.push_f64(p).map_err(refused)?,
                None => probabilities.push_null(),
            }
        }
        match version {
            Some(v) => self.versions.push_i64(version_i64(v)).map_err(refused)?,
            None => self.versions.push_null(),
        }
        Ok(())
    }

    /// Appends the columns, in their order, to `columns`.
    pub(super) fn finish(mut self, columns: &mut Vec<Column>) {
        columns.extend(self.clusters.as_mut().map(ColumnBuilder::finish));
        columns.push(self.predictions.finish());
        columns.extend(self.probabilities.as_mut().map(ColumnBuilder::finish));
        columns.push(self.versions.finish());
    }
}

/// A column of the stage's input: its position and name.
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

    /// This column in `batch`.
    pub(super) fn of<'b>(
        &self,
        stage: &str,
        batch: &'b Batch,
    ) -> Result<&'b Column, OperatorError> {
        batch.columns().get(self.index).ok_or_else(|| {
            data_error(
                stage,
                format!(
                    "the batch has {} columns, column \"{}\" is at position {}",
                    batch.columns().len(),
                    self.name,
                    self.index
                ),
            )
        })
    }

    /// The error for a value of a type the stage cannot read here.
    pub(super) fn unexpected(
        &self,
        stage: &str,
        value: ValueRef<'_>,
        expected: &str,
    ) -> OperatorError {
        data_error(
            stage,
            format!(
                "column \"{}\" holds {value:?}, expected {expected}",
                self.name
            ),
        )
    }

    /// This column of `batch` read as numbers.
    pub(super) fn numbers<'b>(
        &'b self,
        stage: &'b str,
        batch: &'b Batch,
    ) -> Result<Numbers<'b>, OperatorError> {
        let column = self.of(stage, batch)?;
        let values = match &column.data {
            ColumnData::F64(v) => NumberSlice::F64(v),
            ColumnData::I64(v) => NumberSlice::I64(v),
            ColumnData::Bool(v) => NumberSlice::Bool(v),
            _ => NumberSlice::Other,
        };
        Ok(Numbers {
            stage,
            input: self,
            column,
            values,
            expected: "a number",
        })
    }
}

/// The typed values of a numeric column.
#[derive(Clone, Copy)]
enum NumberSlice<'b> {
    F64(&'b [f64]),
    I64(&'b [i64]),
    /// Read as 0.0 and 1.0.
    Bool(&'b [bool]),
    /// Not a number: any value is an error.
    Other,
}

/// One batch's column read as numbers (f64, i64 as f64, bool as 0 / 1).
#[derive(Clone, Copy)]
pub(super) struct Numbers<'b> {
    stage: &'b str,
    input: &'b InputColumn,
    column: &'b Column,
    values: NumberSlice<'b>,
    /// What an error says was expected.
    expected: &'static str,
}

impl Numbers<'_> {
    /// The same view, its errors saying `expected` was expected.
    pub(super) fn expecting(self, expected: &'static str) -> Self {
        Numbers { expected, ..self }
    }

    /// Row `row`'s number as stored (NaN and infinities included); `None` when null.
    #[inline]
    pub(super) fn raw(&self, row: usize) -> Result<Option<f64>, OperatorError> {
        if !self.column.is_valid(row) {
            return Ok(None);
        }
        Ok(Some(match self.values {
            NumberSlice::F64(v) => v[row],
            NumberSlice::I64(v) => v[row] as f64,
            NumberSlice::Bool(v) => f64::from(u8::from(v[row])),
            NumberSlice::Other => return Err(self.unexpected(row, self.expected)),
        }))
    }

    /// Row `row`'s number; `None` when null, NaN or infinite.
    #[inline]
    pub(super) fn finite(&self, row: usize) -> Result<Option<f64>, OperatorError> {
        Ok(self.raw(row)?.and_then(finite))
    }

    /// The error for row `row`'s value, not of the `expected` type.
    pub(super) fn unexpected(&self, row: usize, expected: &str) -> OperatorError {
        self.input
            .unexpected(self.stage, self.column.get(row), expected)
    }
}

/// One batch's vector column (dense or sparse), its rows borrowed from the column's buffers.
#[derive(Clone, Copy)]
pub(super) struct Vectors<'b> {
    stage: &'b str,
    input: &'b InputColumn,
    column: &'b Column,
}

impl InputColumn {
    /// This column of `batch` read as vectors.
    pub(super) fn vectors<'b>(
        &'b self,
        stage: &'b str,
        batch: &'b Batch,
    ) -> Result<Vectors<'b>, OperatorError> {
        Ok(Vectors {
            stage,
            input: self,
            column: self.of(stage, batch)?,
        })
    }
}

impl<'b> Vectors<'b> {
    /// Row `row`'s vector as stored (a sparse one unchecked); `None` when null.
    #[inline]
    pub(super) fn get(&self, row: usize) -> Result<Option<Features<'b>>, OperatorError> {
        if !self.column.is_valid(row) {
            return Ok(None);
        }
        match &self.column.data {
            ColumnData::Dense(d) => Ok(Some(Features::Dense(d.get(row)))),
            ColumnData::Sparse(s) => {
                let (dim, indices, values) = s.get(row);
                Ok(Some(Features::Sparse(SparseView {
                    dim,
                    indices,
                    values,
                })))
            }
            _ => Err(self.unexpected(row, "a vector")),
        }
    }

    /// The error for row `row`'s value, not `expected`.
    pub(super) fn unexpected(&self, row: usize, expected: &str) -> OperatorError {
        self.input
            .unexpected(self.stage, self.column.get(row), expected)
    }
}

/// The 64-bit FNV-1a hash of `bytes`.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One batch's id column (users, items): i64 ids as their bit pattern, strings hashed.
pub(super) struct Ids<'b> {
    stage: &'b str,
    input: &'b InputColumn,
    /// The column read.
    pub(super) column: &'b Column,
}

impl<'b> Ids<'b> {
    /// Column `input` of `batch` read as ids.
    pub(super) fn of(
        stage: &'b str,
        input: &'b InputColumn,
        batch: &'b Batch,
    ) -> Result<Self, OperatorError> {
        Ok(Ids {
            stage,
            input,
            column: input.of(stage, batch)?,
        })
    }

    /// Row `row`'s id; `None` when null.
    #[inline]
    pub(super) fn get(&self, row: usize) -> Result<Option<u64>, OperatorError> {
        if !self.column.is_valid(row) {
            return Ok(None);
        }
        match &self.column.data {
            ColumnData::I64(ids) => Ok(Some(ids[row] as u64)),
            ColumnData::Str(ids) => Ok(Some(fnv1a_64(ids.get_bytes(row)))),
            _ => {
                Err(self
                    .input
                    .unexpected(self.stage, self.column.get(row), "an i64 or string id"))
            }
        }
    }
}

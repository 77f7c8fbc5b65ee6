//! Feature stages: scaling, hashing, assembling, encoding, discretising, imputing.
//!
//! Each stage reads the columns named in its params from a [`crate::Frame`] and adds
//! its output column(s). The vector stages' defaults chain: the assembler and the hasher
//! write `features`, the scalers and the discretiser read and replace `features`, and the
//! learners read `features`. Stages that a streaming job runs per record also offer a
//! `transform_one`-style method over borrowed vectors that does not allocate.

mod assembler;
mod bucketizer;
mod hasher;
mod imputer;
mod kbins;
mod min_max;
mod one_hot;
mod standard_scaler;
mod string_indexer;

pub use assembler::{VectorAssembler, VectorAssemblerParams};
pub use bucketizer::{Bucketizer, BucketizerParams};
pub use hasher::{murmur3_32_utf16, FeatureHasher, FeatureHasherParams, HashValue};
pub use imputer::{Imputer, ImputerModel, ImputerParams, ImputerStrategy};
pub use kbins::{KBinsDiscretizer, KBinsDiscretizerModel, KBinsParams, KBinsStrategy};
pub use min_max::{
    MaxAbsScaler, MaxAbsScalerModel, MinMaxScaler, MinMaxScalerModel, MinMaxScalerParams,
};
pub use one_hot::{OneHotEncoder, OneHotEncoderModel, OneHotParams};
pub use standard_scaler::{
    OnlineStandardScaler, StandardScaler, StandardScalerModel, StandardScalerParams,
};
pub use string_indexer::{StringIndexer, StringIndexerModel, StringIndexerParams, StringOrder};

use crate::api::{Column, Frame, MlError};
use crate::finite::check_vectors;
use crate::vector::Vector;

/// The input and output vector columns of a one-column stage.
///
/// Both default to `"features"`, the column the assembler and hasher write and the learners
/// read, so that stages chain in a [`crate::Pipeline`] with their defaults: the stage
/// replaces the features with its output. (Flink ML's defaults are `"input"` / `"output"`.)
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VectorColumns {
    /// The input vector column (default `"features"`).
    pub input_col: String,
    /// The output vector column (default `"features"`, replacing the input).
    pub output_col: String,
}

impl Default for VectorColumns {
    fn default() -> Self {
        Self {
            input_col: "features".to_string(),
            output_col: "features".to_string(),
        }
    }
}

/// What a stage does with a value it cannot handle (unseen category, NaN, out of range).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleInvalid {
    /// Fail with an error naming the column and value.
    #[default]
    Error,
    /// Drop the row.
    Skip,
    /// Keep the row: map the value to an extra "invalid" bucket (or NaN).
    Keep,
}

impl VectorColumns {
    /// The input column, every entry checked finite.
    fn finite_input<'f>(&self, frame: &'f Frame) -> Result<&'f [Vector], MlError> {
        let vectors = frame.vectors(&self.input_col)?;
        check_vectors(&self.input_col, vectors)?;
        Ok(vectors)
    }

    /// Reads the input column as dense rows, checking every row is finite and has the
    /// dimension of the first; returns the rows and that dimension, or
    /// [`MlError::Empty`] naming `stage` when there is no row.
    fn dense_rows(
        &self,
        frame: &Frame,
        stage: &'static str,
    ) -> Result<(Vec<Vec<f64>>, usize), MlError> {
        let rows: Vec<Vec<f64>> = self
            .finite_input(frame)?
            .iter()
            .map(|v| v.features().to_dense())
            .collect();
        let dim = rows.first().map(Vec::len).ok_or(MlError::Empty { stage })?;
        if let Some(bad) = rows.iter().find(|r| r.len() != dim) {
            return Err(MlError::Dimension {
                expected: dim,
                found: bad.len(),
            });
        }
        Ok((rows, dim))
    }

    /// Maps every vector of the input column (which must be finite and have dimension
    /// `dim`) to a dense output vector with `f(x, y)` and stores them as the output column.
    fn map_dense(
        &self,
        frame: &Frame,
        dim: usize,
        f: impl Fn(&[f64], &mut [f64]),
    ) -> Result<Frame, MlError> {
        let mut out = Vec::with_capacity(frame.num_rows());
        for v in self.finite_input(frame)? {
            let x = v.features().to_dense();
            if x.len() != dim {
                return Err(MlError::Dimension {
                    expected: dim,
                    found: x.len(),
                });
            }
            let mut y = vec![0.0; dim];
            f(&x, &mut y);
            out.push(Vector::Dense(y));
        }
        let mut result = frame.clone();
        result.set(&self.output_col, Column::Vector(out))?;
        Ok(result)
    }

    /// [`Self::map_dense`] value by value: output `i` is `f(i, x[i])`.
    fn map_each(
        &self,
        frame: &Frame,
        dim: usize,
        f: impl Fn(usize, f64) -> f64,
    ) -> Result<Frame, MlError> {
        self.map_dense(frame, dim, |x, y| {
            for (i, (o, &v)) in y.iter_mut().zip(x).enumerate() {
                *o = f(i, v);
            }
        })
    }
}

/// Checks a per-row output buffer has the model's dimension (so no entry is left unwritten).
fn check_output(out: usize, dim: usize) -> Result<(), MlError> {
    if out == dim {
        Ok(())
    } else {
        Err(MlError::Length {
            what: "output buffer and model dimension",
            left: out,
            right: dim,
        })
    }
}

/// Checks a many-column stage has one output column per input column.
fn one_output_per_input(
    what: &'static str,
    input_cols: &[String],
    output_cols: &[String],
) -> Result<(), MlError> {
    if input_cols.len() == output_cols.len() {
        Ok(())
    } else {
        Err(MlError::Length {
            what,
            left: input_cols.len(),
            right: output_cols.len(),
        })
    }
}

/// Keeps the rows of `frame` whose `keep` flag is true (the frame itself when all are).
fn filter_rows(frame: Frame, keep: &[bool]) -> Result<Frame, MlError> {
    if keep.iter().all(|&k| k) {
        return Ok(frame);
    }
    fn pick<T: Clone>(v: &[T], keep: &[bool]) -> Vec<T> {
        v.iter()
            .zip(keep)
            .filter(|(_, &k)| k)
            .map(|(x, _)| x.clone())
            .collect()
    }
    let mut out = Frame::new();
    for name in frame.names() {
        let col = match frame.column(name)? {
            Column::F64(v) => Column::F64(pick(v, keep)),
            Column::I64(v) => Column::I64(pick(v, keep)),
            Column::Bool(v) => Column::Bool(pick(v, keep)),
            Column::Str(v) => Column::Str(pick(v, keep)),
            Column::Vector(v) => Column::Vector(pick(v, keep)),
        };
        out.set(name.clone(), col)?;
    }
    Ok(out)
}

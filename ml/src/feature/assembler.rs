//! VectorAssembler: concatenates numeric and vector columns into one dense vector.

use super::{filter_rows, HandleInvalid};
use crate::api::{Column, Frame, MlError, Transformer};
use crate::finite::{check, NonFinite, Position};
use crate::persist::Persist;
use crate::vector::{Features, Vector};
use serde::{Deserialize, Serialize};

/// Parameters of [`VectorAssembler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorAssemblerParams {
    /// Columns to concatenate, in order: numeric (f64, i64, bool) or vector columns.
    pub input_cols: Vec<String>,
    /// The output dense vector column (default `"features"`, what learners read).
    pub output_col: String,
    /// Rows with a NaN or infinite value: `Error` (default), `Skip` the row, or `Keep` it.
    pub handle_invalid: HandleInvalid,
}

impl Default for VectorAssemblerParams {
    fn default() -> Self {
        Self {
            input_cols: Vec::new(),
            output_col: "features".to_string(),
            handle_invalid: HandleInvalid::Error,
        }
    }
}

/// Concatenates columns into a dense vector (a stateless transformer).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VectorAssembler {
    /// Parameters.
    pub params: VectorAssemblerParams,
}

impl VectorAssembler {
    /// Replaces `out` with one row's values of `cols` (per-record use, no allocation once
    /// `out` has capacity). A row beyond a column ([`MlError::Index`]), a string column
    /// ([`MlError::ColumnType`], named by its position) or a malformed sparse vector is an
    /// error, and `out` is then empty.
    pub fn assemble_into(cols: &[&Column], row: usize, out: &mut Vec<f64>) -> Result<(), MlError> {
        out.clear();
        let result = cols.iter().enumerate().try_for_each(|(k, col)| {
            if row >= col.len() {
                return Err(MlError::Index {
                    what: "row",
                    index: row,
                    len: col.len(),
                });
            }
            match col {
                Column::Vector(v) => {
                    let x = v[row].features();
                    if let Features::Sparse(s) = x {
                        s.check_layout()?;
                    }
                    let start = out.len();
                    out.resize(start + x.dim(), 0.0);
                    x.for_each(|i, value| out[start + i] = value);
                }
                Column::Str(_) => {
                    return Err(MlError::ColumnType {
                        name: format!("input {k}"),
                        expected: "f64, i64, bool or vector",
                        found: "string",
                    })
                }
                other => out.push(other.f64_at(row).unwrap_or(f64::NAN)),
            }
            Ok(())
        });
        if result.is_err() {
            out.clear();
        }
        result
    }
}

/// Checks row `row` of the columns `cols` (named `names`): the first NaN or infinite value
/// is the error, named by its column (and entry, in a vector column).
fn check_row(names: &[String], cols: &[&Column], row: usize) -> Result<(), NonFinite> {
    names
        .iter()
        .zip(cols)
        .try_for_each(|(name, col)| match col {
            Column::Vector(v) => v[row]
                .features()
                .check_finite()
                .map_err(|e| e.in_cell(name, row)),
            other => check(other.f64_at(row).unwrap_or(f64::NAN), || {
                Position::cell(name, row)
            })
            .map(drop),
        })
}

impl Transformer for VectorAssembler {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let cols = self
            .params
            .input_cols
            .iter()
            .map(|name| {
                let c = frame.column(name)?;
                match c {
                    Column::Str(_) => Err(MlError::ColumnType {
                        name: name.clone(),
                        expected: "f64, i64, bool or vector",
                        found: "string",
                    }),
                    _ => Ok(c),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n = frame.num_rows();
        let mut out = Vec::with_capacity(n);
        let mut keep = vec![true; n];
        for (r, k) in keep.iter_mut().enumerate() {
            if let Err(e) = check_row(&self.params.input_cols, &cols, r) {
                match self.params.handle_invalid {
                    HandleInvalid::Error => return Err(e.into()),
                    HandleInvalid::Skip => *k = false,
                    HandleInvalid::Keep => {}
                }
            }
            let mut v = Vec::new();
            Self::assemble_into(&cols, r, &mut v)?;
            out.push(Vector::Dense(v));
        }
        let mut result = frame.clone();
        result.set(self.params.output_col.clone(), Column::Vector(out))?;
        filter_rows(result, &keep)
    }
}

impl Persist for VectorAssembler {
    const KIND: &'static str = "vector_assembler";
    const VERSION: u32 = 1;
}

//! OneHotEncoder (as scikit-learn): each input column's sorted categories become
//! indicator positions; all columns are concatenated into one sparse vector.

use crate::api::{Column, Estimator, Frame, MlError, Transformer};
use crate::finite::{check, Position};
use crate::persist::Persist;
use crate::vector::{SparseVector, Vector};
use serde::{Deserialize, Serialize};

/// Parameters of [`OneHotEncoder`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OneHotParams {
    /// Categorical columns (string, i64 or f64; NaN and infinities are rejected).
    pub input_cols: Vec<String>,
    /// The output sparse vector column.
    pub output_col: String,
    /// Unseen categories: all zeros for that column (`true`, scikit-learn's
    /// `handle_unknown="ignore"`) or an error (`false`, the default).
    pub ignore_unknown: bool,
    /// Drop each column's first category (scikit-learn's `drop="first"`).
    pub drop_first: bool,
}

/// Fits a [`OneHotEncoderModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoder {
    /// Parameters.
    pub params: OneHotParams,
}

/// The sorted categories of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Categories {
    /// String categories, sorted by code point.
    Str(Vec<String>),
    /// Numeric categories, sorted ascending.
    Num(Vec<f64>),
}

/// Encodes categories learnt by [`OneHotEncoder`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneHotEncoderModel {
    /// Parameters.
    pub params: OneHotParams,
    /// Per input column, its categories.
    pub categories: Vec<Categories>,
}

/// Row `row` of the numeric column `name`, which must be finite.
fn category_at(col: &Column, name: &str, row: usize) -> Result<f64, MlError> {
    Ok(check(col.f64_at(row).unwrap_or(f64::NAN), || {
        Position::cell(name, row)
    })?)
}

fn categories(frame: &Frame, name: &str) -> Result<Categories, MlError> {
    match frame.column(name)? {
        Column::Str(v) => {
            let mut c = v.clone();
            c.sort();
            c.dedup();
            Ok(Categories::Str(c))
        }
        col @ (Column::I64(_) | Column::F64(_)) => {
            let mut c = (0..col.len())
                .map(|r| category_at(col, name, r))
                .collect::<Result<Vec<f64>, _>>()?;
            c.sort_by(f64::total_cmp);
            c.dedup();
            Ok(Categories::Num(c))
        }
        other => Err(MlError::ColumnType {
            name: name.to_string(),
            expected: "string, i64 or f64",
            found: other.type_name(),
        }),
    }
}

impl Estimator for OneHotEncoder {
    type Model = OneHotEncoderModel;

    fn fit(&self, frame: &Frame) -> Result<OneHotEncoderModel, MlError> {
        if frame.num_rows() == 0 {
            return Err(MlError::Empty {
                stage: "OneHotEncoder",
            });
        }
        let categories = self
            .params
            .input_cols
            .iter()
            .map(|c| categories(frame, c))
            .collect::<Result<_, _>>()?;
        Ok(OneHotEncoderModel {
            params: self.params.clone(),
            categories,
        })
    }
}

impl OneHotEncoderModel {
    fn width(&self, c: &Categories) -> usize {
        let n = match c {
            Categories::Str(v) => v.len(),
            Categories::Num(v) => v.len(),
        };
        n - usize::from(self.params.drop_first)
    }
}

impl Transformer for OneHotEncoderModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let dim: usize = self.categories.iter().map(|c| self.width(c)).sum();
        let mut rows: Vec<Vec<(u32, f64)>> = vec![Vec::new(); frame.num_rows()];
        let mut offset = 0usize;
        for (name, cats) in self.params.input_cols.iter().zip(&self.categories) {
            let col = frame.column(name)?;
            for (r, row) in rows.iter_mut().enumerate() {
                let (pos, shown) = match (cats, col) {
                    (Categories::Str(c), Column::Str(v)) => {
                        (c.binary_search(&v[r]).ok(), v[r].clone())
                    }
                    (Categories::Num(c), col) => {
                        let x = category_at(col, name, r)?;
                        (c.binary_search_by(|p| p.total_cmp(&x)).ok(), x.to_string())
                    }
                    (_, other) => {
                        return Err(MlError::ColumnType {
                            name: name.clone(),
                            expected: "the column type seen in fit",
                            found: other.type_name(),
                        })
                    }
                };
                match pos {
                    Some(p) if self.params.drop_first && p == 0 => {}
                    Some(p) => {
                        let p = p - usize::from(self.params.drop_first);
                        row.push(((offset + p) as u32, 1.0));
                    }
                    None if self.params.ignore_unknown => {}
                    None => {
                        return Err(MlError::UnseenValue {
                            column: name.clone(),
                            value: shown,
                        })
                    }
                }
            }
            offset += self.width(cats);
        }
        let out = rows
            .into_iter()
            .map(|pairs| {
                Vector::Sparse(SparseVector {
                    dim: dim as u32,
                    indices: pairs.iter().map(|p| p.0).collect(),
                    values: pairs.iter().map(|p| p.1).collect(),
                })
            })
            .collect();
        let mut result = frame.clone();
        result.set(self.params.output_col.clone(), Column::Vector(out))?;
        Ok(result)
    }
}

impl Persist for OneHotEncoderModel {
    const KIND: &'static str = "one_hot_encoder_model";
    const VERSION: u32 = 1;
}

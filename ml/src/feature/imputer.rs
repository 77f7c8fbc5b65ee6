//! Imputer (as scikit-learn's `SimpleImputer`): replaces NaN in numeric columns by the
//! column's mean, median, most frequent value or a constant. NaN is a missing value;
//! an infinity is not, and fit and transform reject it.

use super::one_output_per_input;
use crate::api::{Column, Estimator, Frame, MlError, Transformer};
use crate::finite::{check, check_statistic, Position};
use crate::params::ParamError;
use crate::persist::Persist;
use serde::{Deserialize, Serialize};

/// The replacement value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImputerStrategy {
    /// Mean of the non-missing values (default).
    #[default]
    Mean,
    /// Median of the non-missing values (mean of the two middle ones for an even count).
    Median,
    /// Most frequent non-missing value; the smallest among ties.
    MostFrequent,
    /// A fixed, finite value.
    Constant(f64),
}

/// Parameters of [`Imputer`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImputerParams {
    /// Numeric columns with missing values (NaN).
    pub input_cols: Vec<String>,
    /// One output column per input column.
    pub output_cols: Vec<String>,
    /// The replacement strategy.
    pub strategy: ImputerStrategy,
}

/// Fits an [`ImputerModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Imputer {
    /// Parameters.
    pub params: ImputerParams,
}

/// Replaces NaN by the fitted per-column values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImputerModel {
    /// Parameters.
    pub params: ImputerParams,
    /// Per input column, the replacement value.
    pub surrogates: Vec<f64>,
}

fn surrogate(values: &[f64], strategy: ImputerStrategy) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if let ImputerStrategy::Constant(c) = strategy {
        return Some(c);
    }
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(match strategy {
        ImputerStrategy::Mean => v.iter().sum::<f64>() / v.len() as f64,
        ImputerStrategy::Median => {
            let m = v.len() / 2;
            if v.len() % 2 == 1 {
                v[m]
            } else {
                (v[m - 1] + v[m]) / 2.0
            }
        }
        ImputerStrategy::MostFrequent => {
            let (mut best, mut best_n) = (v[0], 0usize);
            let mut i = 0;
            while i < v.len() {
                let j = v[i..].iter().take_while(|&&x| x == v[i]).count();
                if j > best_n {
                    (best, best_n) = (v[i], j);
                }
                i += j;
            }
            best
        }
        ImputerStrategy::Constant(c) => c,
    })
}

/// The numeric column `name`: NaN (missing) as is, an infinity an error.
fn with_missing(frame: &Frame, name: &str) -> Result<Vec<f64>, MlError> {
    let values = frame.numeric(name)?;
    for (row, &x) in values.iter().enumerate().filter(|(_, x)| !x.is_nan()) {
        check(x, || Position::cell(name, row))?;
    }
    Ok(values)
}

impl Estimator for Imputer {
    type Model = ImputerModel;

    fn fit(&self, frame: &Frame) -> Result<ImputerModel, MlError> {
        let p = &self.params;
        one_output_per_input(
            "Imputer input_cols and output_cols",
            &p.input_cols,
            &p.output_cols,
        )?;
        if let ImputerStrategy::Constant(c) = p.strategy {
            check(c, || Position::Value).map_err(|_| {
                ParamError::new("strategy", format!("Constant({c})"), "a finite constant")
            })?;
        }
        let surrogates = p
            .input_cols
            .iter()
            .map(|name| {
                let s = surrogate(&with_missing(frame, name)?, p.strategy).ok_or_else(|| {
                    MlError::InvalidValue {
                        column: name.clone(),
                        value: "NaN".to_string(),
                        reason: "every value is missing; use the constant strategy",
                    }
                })?;
                check_statistic("Imputer", s, || format!("the surrogate of column `{name}`"))?;
                Ok(s)
            })
            .collect::<Result<_, MlError>>()?;
        Ok(ImputerModel {
            params: p.clone(),
            surrogates,
        })
    }
}

impl Transformer for ImputerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let p = &self.params;
        let mut result = frame.clone();
        for ((name, out), &s) in p
            .input_cols
            .iter()
            .zip(&p.output_cols)
            .zip(&self.surrogates)
        {
            let filled = with_missing(frame, name)?
                .into_iter()
                .map(|x| if x.is_nan() { s } else { x })
                .collect();
            result.set(out.clone(), Column::F64(filled))?;
        }
        Ok(result)
    }
}

impl Persist for ImputerModel {
    const KIND: &'static str = "imputer_model";
    const VERSION: u32 = 1;
}

//! Evaluation: batch metrics for binary classifiers (as Flink ML's
//! `BinaryClassificationEvaluator`) and regressors, and streaming metrics that are
//! progressive (over everything seen) or rolling (over the last N pairs).

pub mod binary;
pub mod regression;
pub mod rolling;

pub use binary::{
    BinaryClassificationEvaluator, BinaryClassificationEvaluatorParams, BinaryClassificationMetrics,
};
pub use regression::RegressionMetrics;
pub use rolling::{Accuracy, LogLoss, Mae, Metric, Mse, Rmse, Rolling, R2};

use crate::finite::NonFinite;

/// Why a batch of predictions could not be evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvaluationError {
    /// Two input columns have different lengths.
    #[error("`{name}` has {actual} values but `labels` has {expected}; every column needs one value per sample")]
    LengthMismatch {
        /// The column whose length is wrong.
        name: &'static str,
        /// Its length.
        actual: usize,
        /// The number of labels.
        expected: usize,
    },
    /// There was nothing to evaluate.
    #[error("no samples to evaluate; pass at least one")]
    Empty,
    /// A value is NaN or infinite, or outside its allowed range.
    #[error("`{name}`[{index}] = {value} is not allowed; {allowed}")]
    BadValue {
        /// The column holding the value.
        name: &'static str,
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
        /// What the column accepts.
        allowed: &'static str,
    },
    /// A target or prediction given to a streaming metric is NaN or infinite.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
}

/// Checks that `values` has `expected` entries, all finite and accepted by `ok`.
fn check_column(
    name: &'static str,
    values: &[f64],
    expected: usize,
    allowed: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), EvaluationError> {
    if values.len() != expected {
        return Err(EvaluationError::LengthMismatch {
            name,
            actual: values.len(),
            expected,
        });
    }
    match values.iter().position(|&v| !v.is_finite() || !ok(v)) {
        Some(index) => Err(EvaluationError::BadValue {
            name,
            index,
            value: values[index],
            allowed,
        }),
        None => Ok(()),
    }
}

//! Batch regression metrics: MAE, MSE, RMSE and R² (coefficient of determination,
//! `1 - SS_res / SS_tot`, as scikit-learn's `r2_score`).

use super::{check_column, EvaluationError};
use serde::{Deserialize, Serialize};

/// Regression metrics of one batch of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Mean squared error.
    pub mse: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination; NaN when every target is the same.
    pub r2: f64,
}

impl RegressionMetrics {
    /// Computes the metrics of `predictions` against `targets`.
    pub fn compute(targets: &[f64], predictions: &[f64]) -> Result<Self, EvaluationError> {
        let n = targets.len();
        if n == 0 {
            return Err(EvaluationError::Empty);
        }
        check_column("labels", targets, n, "targets must be finite", |_| true)?;
        check_column(
            "predictions",
            predictions,
            n,
            "predictions must be finite",
            |_| true,
        )?;
        let count = n as f64;
        let mean = targets.iter().sum::<f64>() / count;
        let (mut abs, mut sq, mut tot) = (0.0, 0.0, 0.0);
        for (&y, &p) in targets.iter().zip(predictions) {
            abs += (y - p).abs();
            sq += (y - p) * (y - p);
            tot += (y - mean) * (y - mean);
        }
        let mse = sq / count;
        Ok(Self {
            mae: abs / count,
            mse,
            rmse: mse.sqrt(),
            r2: if tot > 0.0 { 1.0 - sq / tot } else { f64::NAN },
        })
    }
}

//! Flink ML's SGD optimizer, on one partition: mini-batches taken in order from the
//! cached data (wrapping around), `w -= lr / Σweight · Σ gradient`, then the elastic-net
//! step; stops after `max_iter` updates or once the mean loss of a batch is ≤ `tol`.
//! A run whose coefficients end outside ±[`crate::MAX_PARAMETER`] (or not finite), or whose
//! last batch's loss is not finite, has diverged: it returns [`MlError::Diverged`].

use crate::api::MlError;
use crate::finite::{check_loss, check_parameter};
use crate::params::{at_least, in_closed, non_negative, positive, ParamError};
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// The loss a linear model minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// `½ (w·x − y)²` (linear regression).
    LeastSquare,
    /// `log(1 + e^{−(2y−1) w·x})` with `y ∈ {0, 1}` (logistic regression).
    BinaryLogistic,
}

impl Loss {
    /// `(loss, d loss / d margin)` at margin `dot` for label `y`.
    #[inline]
    pub fn eval(self, dot: f64, y: f64) -> (f64, f64) {
        match self {
            Loss::LeastSquare => (0.5 * (dot - y).powi(2), dot - y),
            Loss::BinaryLogistic => {
                let s = 2.0 * y - 1.0;
                ((1.0 + (-dot * s).exp()).ln(), -s / ((dot * s).exp() + 1.0))
            }
        }
    }
}

/// Parameters of the batch linear learners (Flink ML's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SgdParams {
    /// Feature vector column (default `"features"`).
    pub features_col: String,
    /// Label column (default `"label"`).
    pub label_col: String,
    /// Optional weight column (default none: weight 1).
    pub weight_col: Option<String>,
    /// Output prediction column (default `"prediction"`).
    pub prediction_col: String,
    /// Output raw prediction column of classifiers, `[1 − p, p]` (default `"rawPrediction"`).
    pub raw_prediction_col: String,
    /// Maximum number of updates (default 20).
    pub max_iter: usize,
    /// Learning rate (default 0.1).
    pub learning_rate: f64,
    /// Rows per mini-batch (default 32).
    pub global_batch_size: usize,
    /// Stop once a batch's mean loss is ≤ tol (default 1e-6).
    pub tol: f64,
    /// Regularisation strength (default 0).
    pub reg: f64,
    /// Elastic-net mix: 0 = L2, 1 = L1 (default 0).
    pub elastic_net: f64,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            features_col: "features".to_string(),
            label_col: "label".to_string(),
            weight_col: None,
            prediction_col: "prediction".to_string(),
            raw_prediction_col: "rawPrediction".to_string(),
            max_iter: 20,
            learning_rate: 0.1,
            global_batch_size: 32,
            tol: 1e-6,
            reg: 0.0,
            elastic_net: 0.0,
        }
    }
}

impl SgdParams {
    /// Checks every numeric parameter's range.
    pub fn validate(&self) -> Result<(), ParamError> {
        at_least("max_iter", self.max_iter, 1)?;
        positive("learning_rate", self.learning_rate)?;
        at_least("global_batch_size", self.global_batch_size, 1)?;
        non_negative("tol", self.tol)?;
        non_negative("reg", self.reg)?;
        in_closed("elastic_net", self.elastic_net, 0.0, 1.0)
    }
}

/// Flink ML's `RegularizationUtils.regularize` (the coefficient step only).
fn regularize(w: &mut [f64], reg: f64, elastic_net: f64, lr: f64) {
    if reg == 0.0 {
        return;
    }
    if elastic_net == 0.0 {
        w.iter_mut().for_each(|c| *c *= 1.0 - lr * reg);
    } else if elastic_net == 1.0 {
        for c in w.iter_mut().filter(|c| **c != 0.0) {
            *c -= lr * reg * c.signum();
        }
    } else {
        for c in w.iter_mut() {
            let sign = if *c == 0.0 { 0.0 } else { c.signum() };
            *c -= lr * (elastic_net * reg * sign + (1.0 - elastic_net) * reg * *c);
        }
    }
}

/// Runs the optimizer from zero coefficients for the learner `stage`; returns the
/// coefficients, or [`MlError::Diverged`].
pub(super) fn optimize(
    stage: &'static str,
    xs: &[Features<'_>],
    ys: &[f64],
    weights: &[f64],
    loss: Loss,
    p: &SgdParams,
) -> Result<Vec<f64>, MlError> {
    p.validate()?;
    let dim = xs.first().map(Features::dim).ok_or(MlError::Empty {
        stage: "linear model",
    })?;
    if let Some(bad) = xs.iter().find(|x| x.dim() != dim) {
        return Err(MlError::Dimension {
            expected: dim,
            found: bad.dim(),
        });
    }
    let n = xs.len();
    let mut w = vec![0.0; dim];
    let mut grad = vec![0.0; dim];
    let mut offset = 0;
    let mut batch_loss = 0.0;
    for epoch in 0..p.max_iter {
        let end = (offset + p.global_batch_size).min(n);
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (mut total_loss, mut total_weight) = (0.0, 0.0);
        for i in offset..end {
            let dot = xs[i].dot(&w);
            let (l, d) = loss.eval(dot, ys[i]);
            total_loss += weights[i] * l;
            let m = weights[i] * d;
            xs[i].for_each(|j, v| grad[j] += m * v);
            total_weight += weights[i];
        }
        offset = if offset + p.global_batch_size >= n {
            0
        } else {
            offset + p.global_batch_size
        };
        if total_weight > 0.0 {
            let step = p.learning_rate / total_weight;
            w.iter_mut().zip(&grad).for_each(|(c, g)| *c -= step * g);
            regularize(&mut w, p.reg, p.elastic_net, p.learning_rate);
        }
        // The sum, not the mean: a batch of zero weights has a mean of 0 / 0.
        batch_loss = total_loss;
        let converged = total_loss / total_weight <= p.tol;
        if epoch + 1 >= p.max_iter || converged {
            break;
        }
    }
    for (j, &c) in w.iter().enumerate() {
        check_parameter(stage, c, || format!("coefficient {j}"))?;
    }
    check_loss(stage, batch_loss)?;
    Ok(w)
}

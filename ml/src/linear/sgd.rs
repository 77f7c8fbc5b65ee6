//! Flink ML's SGD optimizer, on one partition: mini-batches taken in order from the
//! cached data (wrapping around), `w -= lr / Σweight · Σ gradient`, then the elastic-net
//! step; stops after `max_iter` updates or once the mean loss of a batch is ≤ `tol`.
//!
//! It minimises `Σ weight · loss / Σ weight + reg · ((1 − α) ½ |w|² + α |w|₁)` (α =
//! `elastic_net`) whatever the learning rate: the L2 part of the elastic-net step divides
//! by `1 + lr (1 − α) reg` (its proximal step), where Flink ML multiplies by
//! `1 − lr (1 − α) reg`, which makes the L2 strength `reg / (1 − lr · reg)`. Without L2
//! (reg = 0 or α = 1) the steps are Flink ML's.
//!
//! With `fit_intercept` the optimizer works on features centred on their weighted mean and
//! learns an unpenalised intercept: the same optimum (the intercept absorbs the centring)
//! reached in far fewer steps on features far from 0; sparse features stay sparse.
//!
//! A run whose coefficients or intercept end outside ±[`crate::MAX_PARAMETER`] (or not
//! finite), or whose last batch's loss is not finite, has diverged: it returns
//! [`MlError::Diverged`].

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

/// Parameters of the batch linear learners (Flink ML's names; the defaults fit an intercept
/// with full-batch gradient descent, as Flink ML's 20 updates of 32 rows without intercept
/// stop far from the optimum).
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
    /// Output column of classifiers with the probability of class 1 (default
    /// `"probability"`).
    #[serde(default = "default_probability_col")]
    pub probability_col: String,
    /// Learn an unpenalised intercept (default true; a model saved without this field has
    /// none).
    #[serde(default)]
    pub fit_intercept: bool,
    /// Maximum number of updates (default 1000; Flink ML: 20).
    pub max_iter: usize,
    /// Learning rate (default 0.1).
    pub learning_rate: f64,
    /// Rows per mini-batch (default `usize::MAX`: every row, full-batch gradient descent;
    /// Flink ML: 32).
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
            probability_col: default_probability_col(),
            fit_intercept: true,
            max_iter: 1000,
            learning_rate: 0.1,
            global_batch_size: usize::MAX,
            tol: 1e-6,
            reg: 0.0,
            elastic_net: 0.0,
        }
    }
}

/// The default probability column (also of models saved before it existed).
fn default_probability_col() -> String {
    "probability".to_string()
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

/// The elastic-net step after a gradient step of size `lr`: Flink ML's L1 step
/// (`lr · α · reg` towards 0), then the L2 proximal step (divide by `1 + lr (1 − α) reg`),
/// whose fixed point is the penalised optimum at any learning rate.
fn regularize(w: &mut [f64], reg: f64, elastic_net: f64, lr: f64) {
    if reg == 0.0 {
        return;
    }
    let l1 = lr * elastic_net * reg;
    let shrink = 1.0 / (1.0 + lr * (1.0 - elastic_net) * reg);
    for c in w.iter_mut() {
        let sign = if *c == 0.0 { 0.0 } else { c.signum() };
        *c = (*c - l1 * sign) * shrink;
    }
}

/// Fitted coefficients and intercept (0 without `fit_intercept`).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Fitted {
    /// The coefficients `w`.
    pub coefficients: Vec<f64>,
    /// The intercept `b`.
    pub intercept: f64,
}

/// The weighted mean of the features (the centre the optimizer works around).
fn weighted_mean(xs: &[Features<'_>], weights: &[f64], dim: usize) -> Vec<f64> {
    let mut mean = vec![0.0; dim];
    let total: f64 = weights.iter().sum();
    if total > 0.0 {
        for (x, &w) in xs.iter().zip(weights) {
            x.for_each(|j, v| mean[j] += w / total * v);
        }
    }
    mean
}

/// Runs the optimizer from zero coefficients for the learner `stage`; returns the
/// coefficients and intercept, or [`MlError::Diverged`].
pub(super) fn optimize(
    stage: &'static str,
    xs: &[Features<'_>],
    ys: &[f64],
    weights: &[f64],
    loss: Loss,
    p: &SgdParams,
) -> Result<Fitted, MlError> {
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
    // Margins are `w·(x − centre) + b`: with `b` fitted, on centred features.
    let centre = if p.fit_intercept {
        weighted_mean(xs, weights, dim)
    } else {
        vec![0.0; dim]
    };
    let mut w = vec![0.0; dim];
    let mut b = 0.0;
    let mut grad = vec![0.0; dim];
    let mut offset: usize = 0;
    let mut batch_loss = 0.0;
    for epoch in 0..p.max_iter {
        let end = offset.saturating_add(p.global_batch_size).min(n);
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (mut total_loss, mut total_weight, mut total_m) = (0.0, 0.0, 0.0);
        let shift = Features::Dense(&centre).dot(&w) - b;
        for i in offset..end {
            let (l, d) = loss.eval(xs[i].dot(&w) - shift, ys[i]);
            total_loss += weights[i] * l;
            let m = weights[i] * d;
            xs[i].for_each(|j, v| grad[j] += m * v);
            total_m += m;
            total_weight += weights[i];
        }
        offset = if end >= n { 0 } else { end };
        if total_weight > 0.0 {
            let step = p.learning_rate / total_weight;
            for ((c, g), mu) in w.iter_mut().zip(&grad).zip(&centre) {
                *c -= step * (g - mu * total_m);
            }
            regularize(&mut w, p.reg, p.elastic_net, p.learning_rate);
            if p.fit_intercept {
                b -= step * total_m;
            }
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
    let intercept = b - Features::Dense(&centre).dot(&w);
    check_parameter(stage, intercept, || "the intercept".to_string())?;
    check_loss(stage, batch_loss)?;
    Ok(Fitted {
        coefficients: w,
        intercept,
    })
}

//! Streaming metrics. Every [`Metric`] updated pair by pair is a progressive metric
//! (over everything seen, as in progressive validation: predict, score, then learn);
//! [`Rolling`] wraps one to cover only the last `window` pairs by reverting the
//! pair that leaves the window.

use super::EvaluationError;
use crate::finite::{check, Position};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A metric that can add and remove one `(target, prediction)` pair.
pub trait Metric {
    /// Adds a finite pair (a NaN or infinite one is an error and changes nothing).
    fn update(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError>;
    /// Removes a finite pair added earlier.
    fn revert(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError>;
    /// The current value (NaN before any pair).
    fn get(&self) -> f64;
}

/// Checks a pair is finite: the first check of every update and revert.
fn check_pair(target: f64, prediction: f64) -> Result<(), EvaluationError> {
    check(target, || Position::Label)?;
    check(prediction, || Position::Prediction)?;
    Ok(())
}

/// Running sum of a per-pair quantity and the number of pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct MeanOf {
    sum: f64,
    n: f64,
}

impl MeanOf {
    fn add(&mut self, v: f64, sign: f64) {
        self.sum += sign * v;
        self.n += sign;
    }
    fn mean(&self) -> f64 {
        if self.n > 0.0 {
            self.sum / self.n
        } else {
            f64::NAN
        }
    }
}

macro_rules! mean_metric {
    ($(#[$doc:meta])* $name:ident, |$y:ident, $p:ident| $value:expr, |$m:ident| $get:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name(MeanOf);

        impl Metric for $name {
            fn update(&mut self, $y: f64, $p: f64) -> Result<(), EvaluationError> {
                check_pair($y, $p)?;
                self.0.add($value, 1.0);
                Ok(())
            }
            fn revert(&mut self, $y: f64, $p: f64) -> Result<(), EvaluationError> {
                check_pair($y, $p)?;
                self.0.add($value, -1.0);
                Ok(())
            }
            fn get(&self) -> f64 {
                let $m = self.0.mean();
                $get
            }
        }
    };
}

mean_metric!(
    /// Mean absolute error.
    Mae, |y, p| (y - p).abs(), |m| m
);
mean_metric!(
    /// Mean squared error.
    Mse, |y, p| (y - p) * (y - p), |m| m
);
mean_metric!(
    /// Root mean squared error.
    Rmse, |y, p| (y - p) * (y - p), |m| m.sqrt()
);
mean_metric!(
    /// Binary log loss: target 1.0 is positive, the prediction is the probability of
    /// 1.0, clipped to `[1e-15, 1 - 1e-15]`.
    LogLoss,
    |y, p| {
        let p = p.clamp(1e-15, 1.0 - 1e-15);
        if y == 1.0 { -p.ln() } else { -(1.0 - p).ln() }
    },
    |m| m
);
mean_metric!(
    /// Share of pairs whose prediction equals the target.
    Accuracy, |y, p| if y == p { 1.0 } else { 0.0 }, |m| m
);

/// Coefficient of determination `1 - SS_res / SS_tot` from running sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct R2 {
    n: f64,
    sum_y: f64,
    sum_y2: f64,
    sum_res2: f64,
}

impl R2 {
    fn add(&mut self, y: f64, p: f64, sign: f64) {
        self.n += sign;
        self.sum_y += sign * y;
        self.sum_y2 += sign * y * y;
        self.sum_res2 += sign * (y - p) * (y - p);
    }
}

impl Metric for R2 {
    fn update(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError> {
        check_pair(target, prediction)?;
        self.add(target, prediction, 1.0);
        Ok(())
    }
    fn revert(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError> {
        check_pair(target, prediction)?;
        self.add(target, prediction, -1.0);
        Ok(())
    }
    fn get(&self) -> f64 {
        if self.n <= 0.0 {
            return f64::NAN;
        }
        let ss_tot = self.sum_y2 - self.sum_y * self.sum_y / self.n;
        if ss_tot > 0.0 {
            1.0 - self.sum_res2 / ss_tot
        } else {
            f64::NAN
        }
    }
}

/// A metric over the last `window` pairs only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rolling<M> {
    metric: M,
    window: usize,
    pairs: VecDeque<(f64, f64)>,
}

impl<M: Metric> Rolling<M> {
    /// Wraps `metric` (which should be empty) to cover the last `window` pairs;
    /// a `window` of 0 is treated as 1.
    pub fn new(metric: M, window: usize) -> Self {
        let window = window.max(1);
        Self {
            metric,
            window,
            pairs: VecDeque::with_capacity(window),
        }
    }

    /// The number of pairs currently covered.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether no pair is covered yet.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

impl<M: Metric> Metric for Rolling<M> {
    fn update(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError> {
        check_pair(target, prediction)?;
        if self.pairs.len() == self.window {
            if let Some((y, p)) = self.pairs.pop_front() {
                self.metric.revert(y, p)?;
            }
        }
        self.pairs.push_back((target, prediction));
        self.metric.update(target, prediction)
    }
    fn revert(&mut self, target: f64, prediction: f64) -> Result<(), EvaluationError> {
        check_pair(target, prediction)?;
        if let Some(pos) = self.pairs.iter().rposition(|&q| q == (target, prediction)) {
            self.pairs.remove(pos);
            self.metric.revert(target, prediction)?;
        }
        Ok(())
    }
    fn get(&self) -> f64 {
        self.metric.get()
    }
}

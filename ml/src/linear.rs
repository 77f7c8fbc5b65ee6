//! Linear learners: batch [`LinearRegression`] / [`LogisticRegression`] trained by
//! Flink ML's mini-batch gradient descent, the online [`StreamingLinearRegressionSgd`],
//! and [`OnlineLogisticRegression`], Flink ML's FTRL-Proximal, usable per sample on
//! hashed sparse features, and [`StreamingLogisticRegression`], trained by SGD, AdaGrad or
//! Adam. The online gradient learners share their optimisers and gradient clipping
//! ([`optim`]).

mod batch;
mod ftrl;
mod logistic;
pub mod optim;
mod sgd;
mod streaming;

pub use batch::{
    LinearRegression, LinearRegressionModel, LogisticRegression, LogisticRegressionModel,
};
pub use ftrl::{FtrlParams, OnlineLogisticRegression};
pub use logistic::{StreamingLogisticRegression, StreamingLogisticRegressionParams};
pub use optim::Optimizer;
pub use sgd::{Loss, SgdParams};
pub use streaming::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};

/// `1 / (1 + e^-z)`.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// The binary prediction from a margin: `(class, probability of class 1)`, class 1 when
/// the margin is > 0 (the probability > ½), as scikit-learn; a margin of 0 (an untrained
/// model) predicts class 0. (Flink ML predicts class 1 at a margin of 0.)
#[inline]
pub fn binary_prediction(margin: f64) -> (f64, f64) {
    let p = 1.0 - 1.0 / (1.0 + margin.exp());
    (if margin > 0.0 { 1.0 } else { 0.0 }, p)
}

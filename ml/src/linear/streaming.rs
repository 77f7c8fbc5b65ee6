//! StreamingLinearRegressionSgd: least-squares linear regression updated by one
//! stochastic-gradient step per example: `e = w·x + b − y; w -= η (e x + λ w); b -= η e`.

use crate::api::{online_model_via_persist, MlError, ModelVersion, OnlineLearner, Prediction};
use crate::params::{non_negative, positive, ParamError};
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`StreamingLinearRegressionSgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLinearRegressionParams {
    /// Step size η (default 0.01).
    pub learning_rate: f64,
    /// L2 penalty λ on the weights (default 0).
    pub l2: f64,
    /// Learn an intercept `b` (default true).
    pub fit_intercept: bool,
}

impl Default for StreamingLinearRegressionParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            l2: 0.0,
            fit_intercept: true,
        }
    }
}

impl StreamingLinearRegressionParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ParamError> {
        positive("learning_rate", self.learning_rate)?;
        non_negative("l2", self.l2)
    }
}

/// Online least-squares regression by SGD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLinearRegressionSgd {
    params: StreamingLinearRegressionParams,
    weights: Vec<f64>,
    intercept: f64,
    version: ModelVersion,
}

impl StreamingLinearRegressionSgd {
    /// A model over `dim` dimensions starting at zero.
    pub fn new(params: StreamingLinearRegressionParams, dim: usize) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            params,
            weights: vec![0.0; dim],
            intercept: 0.0,
            version: ModelVersion::default(),
        })
    }

    /// The weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The intercept.
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    fn check(&self, x: &Features<'_>) -> Result<(), MlError> {
        if x.dim() == self.weights.len() {
            Ok(())
        } else {
            Err(MlError::Dimension {
                expected: self.weights.len(),
                found: x.dim(),
            })
        }
    }
}

online_model_via_persist!(StreamingLinearRegressionSgd);

impl OnlineLearner for StreamingLinearRegressionSgd {
    fn learn_one(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        self.check(&x)?;
        let err = x.dot(&self.weights) + self.intercept - y;
        let (eta, l2) = (self.params.learning_rate, self.params.l2);
        if l2 > 0.0 {
            self.weights.iter_mut().for_each(|w| *w -= eta * l2 * *w);
        }
        let w = &mut self.weights;
        x.for_each(|i, v| w[i] -= eta * err * v);
        if self.params.fit_intercept {
            self.intercept -= eta * err;
        }
        self.version = self.version.next();
        Ok(())
    }

    fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        self.check(&x)?;
        Ok(Prediction {
            value: x.dot(&self.weights) + self.intercept,
            probability: None,
        })
    }
}

impl Persist for StreamingLinearRegressionSgd {
    const KIND: &'static str = "streaming_linear_regression_sgd";
    const VERSION: u32 = 1;
}

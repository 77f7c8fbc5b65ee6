//! StreamingLinearRegressionSgd: least-squares linear regression updated by one
//! stochastic-gradient step per example: `e = w·x + b − y; w -= η (e x + λ w); b -= η e`.
//! With `center_label` the model predicts `ȳ + w·x + b`, where `ȳ` is the running mean of the
//! labels learnt before (so the weights and intercept learn the label's deviation from its
//! mean instead of climbing from 0 to a label's level one step at a time), and `e` is the
//! error of that prediction. Features and labels must be finite. A step that would take a weight or the intercept
//! beyond ±[`crate::MAX_PARAMETER`] (a learning rate too high for the features' scale) is
//! refused with [`MlError::Diverged`] and the model stays as it was.

use crate::api::{
    check_parameters, online_model_via_persist, MlError, ModelVersion, OnlineLearner, Prediction,
    RefusalCounter, SharedParameters,
};
use crate::finite::{check, check_parameter, first_non_parameter, Position, MAX_PARAMETER};
use crate::params::{non_negative, positive, ParamError};
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`StreamingLinearRegressionSgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLinearRegressionParams {
    /// Step size η (default 0.01). The step is `η (ŷ − y) x`, the gradient of `½ (ŷ − y)²`:
    /// River's squared loss `(ŷ − y)²` has twice that gradient, so η here takes the steps
    /// of River's `LinearRegression` with learning rate (and `intercept_lr`) η / 2.
    pub learning_rate: f64,
    /// L2 penalty λ on the weights (default 0).
    pub l2: f64,
    /// Learn an intercept `b` (default true).
    pub fit_intercept: bool,
    /// Predict the running mean of the labels plus the linear model (default false). Models
    /// saved before the field existed read as false.
    #[serde(default)]
    pub center_label: bool,
}

impl Default for StreamingLinearRegressionParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            l2: 0.0,
            fit_intercept: true,
            center_label: false,
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
    /// The mean of the labels learnt (kept, and used, with `center_label`).
    #[serde(default)]
    label_mean: f64,
    /// The number of labels in `label_mean`.
    #[serde(default)]
    labels: u64,
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
}

impl StreamingLinearRegressionSgd {
    /// A model over `dim` dimensions starting at zero.
    pub fn new(params: StreamingLinearRegressionParams, dim: usize) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            params,
            weights: vec![0.0; dim],
            intercept: 0.0,
            label_mean: 0.0,
            labels: 0,
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
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

    /// The running mean of the labels the prediction starts from (0 without `center_label`).
    pub fn label_offset(&self) -> f64 {
        if self.params.center_label {
            self.label_mean
        } else {
            0.0
        }
    }

    /// The prediction for checked features.
    fn predict(&self, x: &Features<'_>) -> f64 {
        x.dot(&self.weights) + self.intercept + self.label_offset()
    }

    /// Checks `x` is finite, well formed and has the model's dimension.
    fn check(&self, x: &Features<'_>) -> Result<(), MlError> {
        x.check(self.weights.len())
    }
}

/// The learner's name in errors.
const STAGE: &str = "StreamingLinearRegressionSgd";

online_model_via_persist!(StreamingLinearRegressionSgd);

impl OnlineLearner for StreamingLinearRegressionSgd {
    /// A refused step is counted in [`crate::OnlineModel::refused_updates`].
    fn learn_one(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        let result = self.step(x, y);
        self.refused.note(result)
    }

    fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        self.check(&x)?;
        Ok(Prediction {
            value: self.predict(&x),
            probability: None,
        })
    }
}

impl StreamingLinearRegressionSgd {
    /// One SGD step on a checked example, or the error that leaves the model as it was.
    fn step(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        self.check(&x)?;
        check(y, || Position::Label)?;
        let err = self.predict(&x) - y;
        let (eta, l2) = (self.params.learning_rate, self.params.l2);
        let decayed = |w: f64| if l2 > 0.0 { w - eta * l2 * w } else { w };
        let stepped = |w: f64, v: f64| decayed(w) - eta * err * v;
        let intercept = if self.params.fit_intercept {
            self.intercept - eta * err
        } else {
            self.intercept
        };
        // Every value the step writes is checked before any is written.
        check_parameter(STAGE, intercept, || "the intercept".to_string())?;
        let weights = &self.weights;
        let decayed_all =
            (l2 > 0.0).then(|| first_non_parameter(weights.iter().map(|&w| decayed(w))));
        let touched = match x {
            Features::Dense(xs) => {
                first_non_parameter(weights.iter().zip(xs).map(|(&w, &v)| stepped(w, v)))
            }
            Features::Sparse(s) => {
                let steps = s.indices.iter().zip(s.values);
                first_non_parameter(steps.map(|(&i, &v)| stepped(weights[i as usize], v)))
                    .map(|(k, w)| (s.indices[k] as usize, w))
            }
        };
        if let Some((i, w)) = decayed_all.flatten().or(touched) {
            check_parameter(STAGE, w, || format!("weight {i}"))?;
        }
        if l2 > 0.0 {
            self.weights.iter_mut().for_each(|w| *w = decayed(*w));
        }
        let w = &mut self.weights;
        x.for_each(|i, v| w[i] -= eta * err * v);
        self.intercept = intercept;
        self.labels += 1;
        // Each term is finite for finite labels (a difference of two could overflow).
        let n = self.labels as f64;
        self.label_mean += y / n - self.label_mean / n;
        self.version = self.version.next();
        Ok(())
    }
}

/// The vector is the weights, the intercept, then the number of labels learnt and their
/// sum (the running label mean is their quotient, so it merges over workers).
impl SharedParameters for StreamingLinearRegressionSgd {
    fn parameter_len(&self) -> usize {
        self.weights.len() + 3
    }

    fn write_parameters(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&self.weights);
        let labels = self.labels as f64;
        out.extend([self.intercept, labels, self.label_mean * labels]);
    }

    fn read_parameters(&mut self, values: &[f64]) -> Result<(), MlError> {
        check_parameters(values, self.parameter_len())?;
        let dim = self.weights.len();
        if let Some((i, &w)) = values[..=dim]
            .iter()
            .enumerate()
            .find(|(_, w)| w.abs() > MAX_PARAMETER)
        {
            let quantity = if i < dim {
                format!("weight {i}")
            } else {
                "the intercept".into()
            };
            return Err(MlError::Diverged {
                stage: STAGE,
                quantity,
                value: w,
            });
        }
        let (labels, sum) = (values[dim + 1].max(0.0), values[dim + 2]);
        self.weights.copy_from_slice(&values[..dim]);
        self.intercept = values[dim];
        self.labels = labels.round() as u64;
        self.label_mean = if self.labels == 0 { 0.0 } else { sum / labels };
        Ok(())
    }
}

impl Persist for StreamingLinearRegressionSgd {
    const KIND: &'static str = "streaming_linear_regression_sgd";
    const VERSION: u32 = 1;
}

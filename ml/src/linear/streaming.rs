//! StreamingLinearRegressionSgd: online least-squares linear regression, one gradient step per
//! example with the chosen [`Optimizer`] (plain SGD by default: `e = w·x + b − y;
//! w -= η (e x + λ w); b -= η e`; AdaGrad and Adam as in [`super::optim`]), the loss
//! gradient `e` clipped to ±`clip_gradient` first.
//! With `center_label` the model predicts `ȳ + w·x + b`, where `ȳ` is the running mean of the
//! labels learnt before (so the weights and intercept learn the label's deviation from its
//! mean instead of climbing from 0 to a label's level one step at a time), and `e` is the
//! error of that prediction. Features and labels must be finite. A step that would take a
//! weight or the intercept beyond ±[`crate::MAX_PARAMETER`] (a learning rate too high for the
//! features' scale), or an optimiser statistic out of the finite range, is refused with
//! [`MlError::Diverged`] / [`MlError::Overflow`] and the model stays as it was.

use super::optim::{Optimizer, OptimizerState, StepRule, DEFAULT_CLIP_GRADIENT};
use crate::api::{
    check_parameters, online_model_via_persist, MlError, ModelVersion, OnlineLearner, Prediction,
    RefusalCounter, SharedParameters,
};
use crate::finite::{check, Position, MAX_PARAMETER};
use crate::params::ParamError;
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`StreamingLinearRegressionSgd`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLinearRegressionParams {
    /// Step size η (default 0.01). The gradient is that of `½ (ŷ − y)²`, `(ŷ − y) x`:
    /// River's squared loss `(ŷ − y)²` has twice that gradient, so with SGD η here takes the
    /// steps of River's `LinearRegression` with `optim.SGD(η / 2)` (and `intercept_lr`
    /// η / 2). AdaGrad's and Adam's steps do not change when the gradient is scaled but
    /// for ε, so with them η is River's `optim.AdaGrad(η)` / `optim.Adam(η)` rate (the steps
    /// are River's with ε 4e-8 for AdaGrad, 2e-8 for Adam: tested against River).
    pub learning_rate: f64,
    /// L2 penalty λ on the weights (default 0).
    pub l2: f64,
    /// Learn an intercept `b` (default true).
    pub fit_intercept: bool,
    /// Predict the running mean of the labels plus the linear model (default false). Models
    /// saved before the field existed read as false.
    #[serde(default)]
    pub center_label: bool,
    /// The per-coordinate update rule (default [`Optimizer::Sgd`]; models saved before the
    /// field existed read as SGD).
    #[serde(default)]
    pub optimizer: Optimizer,
    /// The bound C on the loss gradient: `ŷ − y` is clipped to [−C, C] before it is
    /// multiplied by the features (default 1e12, River's `clip_gradient`, which clips the
    /// same way but on twice our gradient, so C here is River's C / 2).
    #[serde(default = "default_clip_gradient")]
    pub clip_gradient: f64,
}

/// The default of `clip_gradient` for models saved before the field existed.
fn default_clip_gradient() -> f64 {
    DEFAULT_CLIP_GRADIENT
}

impl Default for StreamingLinearRegressionParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            l2: 0.0,
            fit_intercept: true,
            center_label: false,
            optimizer: Optimizer::Sgd,
            clip_gradient: DEFAULT_CLIP_GRADIENT,
        }
    }
}

impl StreamingLinearRegressionParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ParamError> {
        self.rule().validate()
    }

    /// The step rule of these parameters.
    fn rule(&self) -> StepRule {
        StepRule {
            optimizer: self.optimizer,
            learning_rate: self.learning_rate,
            l2: self.l2,
            clip_gradient: self.clip_gradient,
            fit_intercept: self.fit_intercept,
        }
    }
}

/// Online least-squares regression by SGD, AdaGrad or Adam.
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
    /// The optimiser's per-coordinate state (none for SGD).
    #[serde(default)]
    state: OptimizerState,
}

impl StreamingLinearRegressionSgd {
    /// A model over `dim` dimensions starting at zero.
    pub fn new(params: StreamingLinearRegressionParams, dim: usize) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            state: OptimizerState::new(params.optimizer, dim),
            params,
            weights: vec![0.0; dim],
            intercept: 0.0,
            label_mean: 0.0,
            labels: 0,
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
        })
    }

    /// The settings it was built with.
    pub fn params(&self) -> &StreamingLinearRegressionParams {
        &self.params
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
    /// One gradient step on an example, or the error that leaves the model as it was.
    fn step(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        self.check(&x)?;
        check(y, || Position::Label)?;
        let err = self.predict(&x) - y;
        let rule = self.params.rule();
        rule.step(
            STAGE,
            &mut self.weights,
            &mut self.intercept,
            &mut self.state,
            &x,
            err,
        )?;
        self.labels += 1;
        // Each term is finite for finite labels (a difference of two could overflow).
        let n = self.labels as f64;
        self.label_mean += y / n - self.label_mean / n;
        self.version = self.version.next();
        Ok(())
    }
}

/// The vector is the weights, the intercept, then the number of labels learnt and their
/// sum (the running label mean is their quotient, so it merges over workers), then the
/// optimiser's state: nothing for SGD; AdaGrad's summed squared gradients of each weight
/// and the intercept; Adam's first moments, second moments (weights then intercept) and
/// step count. Summed sums of squares and step counts are those of one model that took
/// every worker's steps; summed changes of Adam's moving averages are the usual
/// asynchronous approximation.
impl SharedParameters for StreamingLinearRegressionSgd {
    fn parameter_len(&self) -> usize {
        self.weights.len() + 3 + self.params.optimizer.shared_len(self.weights.len())
    }

    /// Weights and intercept are averaged, the label count and sum summed, the optimiser's
    /// state as [`Optimizer`] says.
    fn averaged(&self, index: usize) -> bool {
        let dim = self.weights.len();
        match index.checked_sub(dim + 3) {
            None => index <= dim,
            Some(offset) => self.params.optimizer.averaged(dim, offset),
        }
    }

    fn write_parameters(&self, out: &mut Vec<f64>) {
        out.clear();
        out.reserve(self.parameter_len());
        out.extend_from_slice(&self.weights);
        let labels = self.labels as f64;
        out.extend([self.intercept, labels, self.label_mean * labels]);
        let (optimizer, dim) = (self.params.optimizer, self.weights.len());
        self.state.write_shared(optimizer, dim, out);
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
        let optimizer = self.params.optimizer;
        OptimizerState::check_shared(STAGE, optimizer, dim, &values[dim + 3..])?;
        let (labels, sum) = (values[dim + 1].max(0.0), values[dim + 2]);
        self.weights.copy_from_slice(&values[..dim]);
        self.intercept = values[dim];
        self.labels = labels.round() as u64;
        self.label_mean = if self.labels == 0 { 0.0 } else { sum / labels };
        self.state.read_shared(optimizer, dim, &values[dim + 3..]);
        Ok(())
    }
}

impl Persist for StreamingLinearRegressionSgd {
    const KIND: &'static str = "streaming_linear_regression_sgd";
    /// 2: the optimiser, `clip_gradient` and the optimiser's state.
    const VERSION: u32 = 2;
    const OLDEST_SNAPSHOT: u32 = 2;
}

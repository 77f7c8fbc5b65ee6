//! StreamingLogisticRegression: online binary logistic regression, one gradient step per
//! example with SGD, AdaGrad or Adam ([`super::optim`]), as River's `LogisticRegression`
//! with `optim.SGD`, `optim.AdaGrad` or `optim.Adam`: the margin is `w·x + b`, `p` its
//! sigmoid, and the loss gradient `p − y` (the logistic loss's, River's too, so the learning
//! rate means River's for every optimiser). The loss gradient `p − y` is clipped to
//! ±`clip_gradient` before the step (as River's; only a bound below 1 binds). (The FTRL-Proximal learner is
//! [`super::OnlineLogisticRegression`].)
//!
//! Features must be finite and labels 0 or 1 (a rejected example changes nothing). A step
//! that would take a weight beyond ±[`crate::MAX_PARAMETER`] or an optimiser statistic out
//! of the finite range is refused ([`MlError::Diverged`] / [`MlError::Overflow`], counted in
//! [`crate::OnlineModel::refused_updates`]) and the model stays as it was.

use super::binary_prediction;
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

/// Parameters of [`StreamingLogisticRegression`] (River's `LogisticRegression()` defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLogisticRegressionParams {
    /// The per-coordinate update rule (default [`Optimizer::Sgd`]).
    pub optimizer: Optimizer,
    /// Step size η, River's learning rate of the optimiser (default 0.01, River's
    /// `optim.SGD`; River's AdaGrad and Adam default to 0.1,
    /// [`Optimizer::river_learning_rate`]).
    pub learning_rate: f64,
    /// L2 penalty λ on the weights, whose gradient is `λ w` (default 0; River's `l2`). With
    /// λ > 0 a step is O(dimension).
    pub l2: f64,
    /// Learn an intercept (default true).
    pub fit_intercept: bool,
    /// The bound C on the loss gradient `p − y` (default 1e12, River's `clip_gradient`).
    pub clip_gradient: f64,
}

impl Default for StreamingLogisticRegressionParams {
    fn default() -> Self {
        Self {
            optimizer: Optimizer::Sgd,
            learning_rate: 0.01,
            l2: 0.0,
            fit_intercept: true,
            clip_gradient: DEFAULT_CLIP_GRADIENT,
        }
    }
}

impl StreamingLogisticRegressionParams {
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

/// Online binary logistic regression by SGD, AdaGrad or Adam.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamingLogisticRegression {
    params: StreamingLogisticRegressionParams,
    weights: Vec<f64>,
    intercept: f64,
    /// The optimiser's per-coordinate state (none for SGD).
    state: OptimizerState,
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
}

/// The learner's name in errors.
const STAGE: &str = "StreamingLogisticRegression";

impl StreamingLogisticRegression {
    /// A model over `dim` dimensions starting at zero.
    pub fn new(params: StreamingLogisticRegressionParams, dim: usize) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            state: OptimizerState::new(params.optimizer, dim),
            params,
            weights: vec![0.0; dim],
            intercept: 0.0,
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
        })
    }

    /// The settings it was built with.
    pub fn params(&self) -> &StreamingLogisticRegressionParams {
        &self.params
    }

    /// The weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The intercept (0 without `fit_intercept`).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The margin `w·x + b` of checked features.
    fn margin(&self, x: &Features<'_>) -> f64 {
        x.dot(&self.weights) + self.intercept
    }

    /// Checks an example: `x` finite and of the model's dimension, `y` 0 or 1.
    fn check(&self, x: &Features<'_>, y: f64) -> Result<(), MlError> {
        x.check(self.weights.len())?;
        check(y, || Position::Label)?;
        if y != 0.0 && y != 1.0 {
            return Err(MlError::Label {
                value: y,
                allowed: "0 or 1",
            });
        }
        Ok(())
    }

    /// One step on a checked example at `margin`, or the error that leaves the model as it
    /// was.
    fn step(&mut self, x: Features<'_>, y: f64, margin: f64) -> Result<(), MlError> {
        let e = binary_prediction(margin).1 - y;
        let rule = self.params.rule();
        rule.step(
            STAGE,
            &mut self.weights,
            &mut self.intercept,
            &mut self.state,
            &x,
            e,
        )?;
        self.version = self.version.next();
        Ok(())
    }
}

online_model_via_persist!(StreamingLogisticRegression);

impl OnlineLearner for StreamingLogisticRegression {
    /// A refused step is counted in [`crate::OnlineModel::refused_updates`].
    fn learn_one(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        self.check(&x, y)?;
        let margin = self.margin(&x);
        let result = self.step(x, y, margin);
        self.refused.note(result)
    }

    fn predict_then_learn(&mut self, x: Features<'_>, y: f64) -> Result<Prediction, MlError> {
        self.check(&x, y)?;
        let margin = self.margin(&x);
        let result = self.step(x, y, margin);
        self.refused.note(result)?;
        let (class, p) = binary_prediction(margin);
        Ok(Prediction {
            value: class,
            probability: Some(p),
        })
    }

    fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        x.check(self.weights.len())?;
        let (class, p) = binary_prediction(self.margin(&x));
        Ok(Prediction {
            value: class,
            probability: Some(p),
        })
    }
}

/// The vector is the weights, the intercept, then the optimiser's state: nothing for SGD;
/// AdaGrad's summed squared gradients of each weight and the intercept; Adam's first
/// moments, second moments (weights then intercept) and step count. Summed sums of squares
/// and step counts are those of one model that took every worker's steps; summed changes of
/// Adam's moving averages are the usual asynchronous approximation.
impl SharedParameters for StreamingLogisticRegression {
    fn parameter_len(&self) -> usize {
        self.weights.len() + 1 + self.params.optimizer.shared_len(self.weights.len())
    }

    /// Weights and intercept are averaged, the optimiser's state as [`Optimizer`] says.
    fn averaged(&self, index: usize) -> bool {
        let dim = self.weights.len();
        match index.checked_sub(dim + 1) {
            None => true,
            Some(offset) => self.params.optimizer.averaged(dim, offset),
        }
    }

    fn write_parameters(&self, out: &mut Vec<f64>) {
        out.clear();
        out.reserve(self.parameter_len());
        out.extend_from_slice(&self.weights);
        out.push(self.intercept);
        let (optimizer, dim) = (self.params.optimizer, self.weights.len());
        self.state.write_shared(optimizer, dim, out);
    }

    fn read_parameters(&mut self, values: &[f64]) -> Result<(), MlError> {
        check_parameters(values, self.parameter_len())?;
        let (optimizer, dim) = (self.params.optimizer, self.weights.len());
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
        OptimizerState::check_shared(STAGE, optimizer, dim, &values[dim + 1..])?;
        self.weights.copy_from_slice(&values[..dim]);
        self.intercept = values[dim];
        self.state.read_shared(optimizer, dim, &values[dim + 1..]);
        Ok(())
    }
}

impl Persist for StreamingLogisticRegression {
    const KIND: &'static str = "streaming_logistic_regression";
    const VERSION: u32 = 1;
}

//! OnlineLogisticRegression: Flink ML's FTRL-Proximal, run on one partition.
//!
//! Examples are gathered into batches of `global_batch_size`; when a batch is full its
//! summed gradient `Σ (p − y) x` (p from the model at the batch's start) is divided,
//! per dimension, by the batch's weight in that dimension, and each dimension takes the
//! FTRL-Proximal step (McMahan et al. 2013):
//! `σ = (√(n + g²) − √n) / α; z += g − σ w; n += g²;`
//! `w = 0 if |z| ≤ l1 else (sign(z) l1 − z) / ((β + √n) / α + l2)`,
//! with `l1 = elastic_net · reg`, `l2 = (1 − elastic_net) · reg`.
//! With `fit_intercept` the margin is `w·x + b` and `b` takes the same step as a dimension
//! whose value is always 1, without regularisation (Flink ML has no intercept).
//!
//! Each example's loss gradient `p − y` is clipped to ±`clip_gradient` before it is
//! multiplied by the features (River's `clip_gradient`; as `p − y` is in [−1, 1], only a
//! bound below 1 binds).
//!
//! Features, labels and weights must be finite (a rejected example changes nothing). FTRL
//! keeps its coefficients bounded by construction (`|w| ≤ α |z| / (β + √n)`, and the
//! gradient's factor `p − y` is in [−1, 1]), so it has no learning rate to diverge with; but
//! a feature beyond about 1e154 overflows `n += g²`, and the step's `z` and `w` would be NaN.
//! Such an update is refused ([`MlError::Diverged`], counted in
//! [`crate::OnlineModel::refused_updates`]): the dimensions it stepped are put back, its
//! batch (the intercept's share included) is dropped and the version does not move.
//!
//! Flink updates every dimension on each batch; a dimension without gradient keeps the
//! value its `(z, n)` gives, so after the first batch (which runs over every dimension,
//! as Flink's does, and resets untouched initial coefficients) only the dimensions the
//! batch touched are updated: the same numbers at O(non-zeros) per example.

use super::binary_prediction;
use super::optim::DEFAULT_CLIP_GRADIENT;
use crate::api::{
    check_parameters, online_model_via_persist, MlError, ModelVersion, OnlineLearner, Prediction,
    RefusalCounter, SharedParameters,
};
use crate::finite::{check, check_all, check_parameter, Position};
use crate::params::{at_least, in_closed, non_negative, positive, ParamError};
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`OnlineLogisticRegression`] (Flink ML's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FtrlParams {
    /// FTRL α (default 0.1).
    pub alpha: f64,
    /// FTRL β (default 0.1).
    pub beta: f64,
    /// Regularisation strength (default 0).
    pub reg: f64,
    /// Elastic-net mix: share of `reg` that is L1 (default 0).
    pub elastic_net: f64,
    /// Examples per update (default 32; 1 updates on every example).
    pub global_batch_size: usize,
    /// Learn an intercept (default false, as Flink ML). Snapshots from before the field
    /// existed read as false.
    #[serde(default)]
    pub fit_intercept: bool,
    /// The bound C on the loss gradient: each example's `p − y` is clipped to [−C, C]
    /// before it is multiplied by the features (default 1e12, River's `clip_gradient`; as
    /// `p − y` is in [−1, 1], only a bound below 1 binds; models saved before the field
    /// existed read 1e12).
    #[serde(default = "default_clip_gradient")]
    pub clip_gradient: f64,
}

/// The default of `clip_gradient` for models saved before the field existed.
fn default_clip_gradient() -> f64 {
    DEFAULT_CLIP_GRADIENT
}

impl Default for FtrlParams {
    fn default() -> Self {
        Self {
            alpha: 0.1,
            beta: 0.1,
            reg: 0.0,
            elastic_net: 0.0,
            global_batch_size: 32,
            fit_intercept: false,
            clip_gradient: DEFAULT_CLIP_GRADIENT,
        }
    }
}

impl FtrlParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ParamError> {
        positive("alpha", self.alpha)?;
        non_negative("beta", self.beta)?;
        non_negative("reg", self.reg)?;
        in_closed("elastic_net", self.elastic_net, 0.0, 1.0)?;
        at_least("global_batch_size", self.global_batch_size, 1)?;
        positive("clip_gradient", self.clip_gradient)
    }
}

/// FTRL state of one dimension plus its share of the pending batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Slot {
    z: f64,
    n: f64,
    /// `√n`, kept so a step takes one square root.
    sqrt_n: f64,
    /// Gradient summed over the pending batch.
    grad: f64,
    /// Weight summed over the pending batch.
    weight_sum: f64,
    /// The dimension is in `touched`.
    marked: bool,
}

/// Online binary logistic regression trained by FTRL-Proximal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineLogisticRegression {
    params: FtrlParams,
    l1: f64,
    l2: f64,
    /// The coefficients, read on every prediction.
    coefficients: Vec<f64>,
    /// The intercept (0 unless `fit_intercept`).
    #[serde(default)]
    intercept: f64,
    /// FTRL and batch state of the intercept.
    #[serde(default)]
    intercept_slot: Slot,
    /// Per-dimension FTRL and batch state, together so one update touches one cache line.
    slots: Vec<Slot>,
    /// Dimensions the pending batch touched (each once).
    touched: Vec<u32>,
    in_batch: usize,
    /// True until the first update normalised every dimension.
    first_update: bool,
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
    /// The dimensions the update under way stepped, as they were (empty between calls).
    #[serde(skip)]
    undo: Vec<(u32, Slot, f64)>,
}

impl OnlineLogisticRegression {
    /// A learner over `dim` dimensions starting from finite `initial` coefficients (zeros
    /// when `None`; Flink ML requires initial model data).
    pub fn new(params: FtrlParams, dim: usize, initial: Option<Vec<f64>>) -> Result<Self, MlError> {
        params.validate()?;
        let coefficients = initial.unwrap_or_else(|| vec![0.0; dim]);
        if coefficients.len() != dim {
            return Err(MlError::Dimension {
                expected: dim,
                found: coefficients.len(),
            });
        }
        check_all(&coefficients, |index| Position::Argument {
            name: "initial",
            index,
            entry: None,
        })?;
        Ok(Self {
            l1: params.elastic_net * params.reg,
            l2: (1.0 - params.elastic_net) * params.reg,
            params,
            coefficients,
            intercept: 0.0,
            intercept_slot: Slot::default(),
            slots: vec![Slot::default(); dim],
            touched: Vec::new(),
            in_batch: 0,
            first_update: true,
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
            undo: Vec::new(),
        })
    }

    /// The settings it was built with.
    pub fn params(&self) -> &FtrlParams {
        &self.params
    }

    /// The current coefficients.
    pub fn coefficients(&self) -> &[f64] {
        &self.coefficients
    }

    /// The current intercept (0 without `fit_intercept`).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The margin `w·x + b` of finite `x` of the model's dimension.
    #[inline]
    fn margin(&self, x: &Features<'_>) -> f64 {
        x.dot(&self.coefficients) + self.intercept
    }

    /// The model dimension.
    pub fn dim(&self) -> usize {
        self.coefficients.len()
    }

    /// Learns from one weighted example. As in Flink ML, the weight counts in a sparse
    /// example's per-dimension divisor (a dense example counts 1 per dimension) and does
    /// not scale the gradient. Sparse indices must be distinct.
    pub fn learn_weighted(&mut self, x: Features<'_>, y: f64, weight: f64) -> Result<(), MlError> {
        self.check(&x, y)?;
        check(weight, || Position::Weight)?;
        let margin = self.margin(&x);
        let result = self.learn_at_margin(x, y, weight, margin);
        self.refused.note(result)
    }

    /// Checks an example: `x` finite and of the model's dimension, `y` 0 or 1.
    fn check(&self, x: &Features<'_>, y: f64) -> Result<(), MlError> {
        self.check_features(x)?;
        check(y, || Position::Label)?;
        if y != 0.0 && y != 1.0 {
            return Err(MlError::Label {
                value: y,
                allowed: "0 or 1",
            });
        }
        Ok(())
    }

    /// Accumulates the gradient at `margin` (the model's `w·x`) and updates when the
    /// batch is full; a refused update is the error.
    #[inline]
    fn learn_at_margin(
        &mut self,
        x: Features<'_>,
        y: f64,
        weight: f64,
        margin: f64,
    ) -> Result<(), MlError> {
        let clip = self.params.clip_gradient;
        let err = (1.0 / (1.0 + (-margin).exp()) - y).clamp(-clip, clip);
        let per_dim_weight = match x {
            Features::Dense(_) => 1.0,
            Features::Sparse(_) => weight,
        };
        if self.params.global_batch_size == 1 && !self.first_update {
            // A batch of one example: step each of its dimensions directly.
            x.for_each(|i, v| {
                let g = err * v;
                let g = if per_dim_weight != 0.0 {
                    g / per_dim_weight
                } else {
                    g
                };
                self.step(i, g);
            });
            self.kept()?;
            if self.params.fit_intercept {
                self.step_intercept(err);
            }
            self.version = self.version.next();
            return Ok(());
        }
        let (slots, touched) = (&mut self.slots, &mut self.touched);
        x.for_each(|i, v| {
            let s = &mut slots[i];
            if !s.marked {
                s.marked = true;
                touched.push(i as u32);
            }
            s.grad += err * v;
            s.weight_sum += per_dim_weight;
        });
        if self.params.fit_intercept {
            self.intercept_slot.grad += err;
            self.intercept_slot.weight_sum += 1.0;
        }
        self.in_batch += 1;
        if self.in_batch >= self.params.global_batch_size {
            return self.update();
        }
        Ok(())
    }

    /// Applies the pending batch's gradient, or refuses it; the batch is done either way.
    fn update(&mut self) -> Result<(), MlError> {
        let grad_of = |s: &Slot| {
            if s.weight_sum != 0.0 {
                s.grad / s.weight_sum
            } else {
                s.grad
            }
        };
        // The intercept's gradient is in [−1, 1]: it steps once the dimensions' steps are kept.
        let intercept_grad = self
            .params
            .fit_intercept
            .then(|| grad_of(&self.intercept_slot));
        (self.intercept_slot.grad, self.intercept_slot.weight_sum) = (0.0, 0.0);
        if self.first_update {
            for i in 0..self.slots.len() {
                let g = grad_of(&self.slots[i]);
                self.step(i, g);
            }
        } else {
            for k in 0..self.touched.len() {
                let i = self.touched[k] as usize;
                let g = grad_of(&self.slots[i]);
                self.step(i, g);
            }
        }
        let kept = self.kept();
        for &i in &self.touched {
            let s = &mut self.slots[i as usize];
            (s.grad, s.weight_sum, s.marked) = (0.0, 0.0, false);
        }
        self.touched.clear();
        self.in_batch = 0;
        kept?;
        if let Some(g) = intercept_grad {
            self.step_intercept(g);
        }
        self.first_update = false;
        self.version = self.version.next();
        Ok(())
    }

    /// Keeps the steps of the update under way when every stepped dimension's `n` and `z`
    /// are finite and its coefficient a usable parameter; else puts them all back and
    /// refuses the update.
    fn kept(&mut self) -> Result<(), MlError> {
        let result = self.undo.iter().try_for_each(|&(i, ..)| {
            let (s, w) = (&self.slots[i as usize], self.coefficients[i as usize]);
            let state = if s.n.is_finite() && s.z.is_finite() {
                w
            } else {
                f64::NAN
            };
            check_parameter(STAGE, state, || format!("coefficient {i}"))
        });
        if result.is_err() {
            for &(i, slot, w) in self.undo.iter().rev() {
                self.slots[i as usize] = slot;
                self.coefficients[i as usize] = w;
            }
        }
        self.undo.clear();
        result
    }

    /// The FTRL-Proximal step of dimension `i` with gradient `g` (a dimension without
    /// gradient keeps finite `n` and `z`, so only the others are kept for [`Self::kept`]).
    #[inline]
    fn step(&mut self, i: usize, g: f64) {
        if g != 0.0 {
            self.undo
                .push((i as u32, self.slots[i], self.coefficients[i]));
        }
        let (alpha, beta, l1, l2) = (self.params.alpha, self.params.beta, self.l1, self.l2);
        ftrl_step(
            &mut self.slots[i],
            &mut self.coefficients[i],
            g,
            [alpha, beta, l1, l2],
        );
    }

    /// The intercept's step with gradient `g` (never regularised).
    fn step_intercept(&mut self, g: f64) {
        let (alpha, beta) = (self.params.alpha, self.params.beta);
        ftrl_step(
            &mut self.intercept_slot,
            &mut self.intercept,
            g,
            [alpha, beta, 0.0, 0.0],
        );
    }

    /// Checks `x` is finite, well formed and has the model's dimension.
    fn check_features(&self, x: &Features<'_>) -> Result<(), MlError> {
        x.check(self.dim())
    }

    /// Class and probability of class 1 for one example, without checks (hot path): `x`
    /// must be finite and of the model's dimension.
    #[inline]
    pub fn probability(&self, x: Features<'_>) -> f64 {
        binary_prediction(self.margin(&x)).1
    }
}

/// One FTRL-Proximal step of a coordinate (`slot`, weight `w`) with gradient `g` and
/// `[α, β, l1, l2]`.
#[inline]
fn ftrl_step(s: &mut Slot, w: &mut f64, g: f64, [alpha, beta, l1, l2]: [f64; 4]) {
    let n = s.n + g * g;
    let sqrt_n = n.sqrt();
    let sigma = (sqrt_n - s.sqrt_n) / alpha;
    s.z += g - sigma * *w;
    s.n = n;
    s.sqrt_n = sqrt_n;
    *w = ftrl_coefficient(s.z, sqrt_n, [alpha, beta, l1, l2]);
}

online_model_via_persist!(OnlineLogisticRegression);

/// The coefficient FTRL-Proximal derives from a dimension's `z` and `n`.
fn ftrl_coefficient(z: f64, sqrt_n: f64, [alpha, beta, l1, l2]: [f64; 4]) -> f64 {
    if z.abs() <= l1 {
        0.0
    } else {
        (z.signum() * l1 - z) / ((beta + sqrt_n) / alpha + l2)
    }
}

/// The vector is `z, n` of each dimension, then `z, n` of the intercept: both add up over
/// workers (distributed FTRL sums the workers' `z` and `n` changes), and the coefficients
/// follow from them.
impl SharedParameters for OnlineLogisticRegression {
    fn parameter_len(&self) -> usize {
        2 * (self.dim() + 1)
    }

    /// `z` and `n` are sums of the workers' gradients and squared gradients: summed.
    fn averaged(&self, _index: usize) -> bool {
        false
    }

    fn write_parameters(&self, out: &mut Vec<f64>) {
        out.clear();
        out.reserve(self.parameter_len());
        for s in self
            .slots
            .iter()
            .chain(std::iter::once(&self.intercept_slot))
        {
            out.extend([s.z, s.n]);
        }
    }

    fn read_parameters(&mut self, values: &[f64]) -> Result<(), MlError> {
        check_parameters(values, self.parameter_len())?;
        if let Some(k) = values.iter().skip(1).step_by(2).position(|&n| n < 0.0) {
            return Err(MlError::Diverged {
                stage: STAGE,
                quantity: format!("n (a sum of squares) of dimension {k}"),
                value: values[2 * k + 1],
            });
        }
        let (alpha, beta) = (self.params.alpha, self.params.beta);
        let reg = [alpha, beta, self.l1, self.l2];
        let dim = self.dim();
        for (i, zn) in values.chunks_exact(2).enumerate() {
            let (slot, w, reg) = if i < dim {
                (&mut self.slots[i], &mut self.coefficients[i], reg)
            } else {
                let no_reg = [alpha, beta, 0.0, 0.0];
                (&mut self.intercept_slot, &mut self.intercept, no_reg)
            };
            (slot.z, slot.n, slot.sqrt_n) = (zn[0], zn[1], zn[1].sqrt());
            *w = ftrl_coefficient(slot.z, slot.sqrt_n, reg);
        }
        // The coefficients now follow from (z, n): no dimension needs the first update's reset.
        self.first_update = false;
        Ok(())
    }
}

/// The learner's name in errors.
const STAGE: &str = "OnlineLogisticRegression";

impl OnlineLearner for OnlineLogisticRegression {
    fn learn_one(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError> {
        self.learn_weighted(x, y, 1.0)
    }

    fn predict_then_learn(&mut self, x: Features<'_>, y: f64) -> Result<Prediction, MlError> {
        self.check(&x, y)?;
        let margin = self.margin(&x);
        let result = self.learn_at_margin(x, y, 1.0, margin);
        self.refused.note(result)?;
        let (class, p) = binary_prediction(margin);
        Ok(Prediction {
            value: class,
            probability: Some(p),
        })
    }

    fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError> {
        self.check_features(&x)?;
        let (class, p) = binary_prediction(self.margin(&x));
        Ok(Prediction {
            value: class,
            probability: Some(p),
        })
    }
}

impl Persist for OnlineLogisticRegression {
    const KIND: &'static str = "online_logistic_regression";
    /// 2: `clip_gradient`.
    const VERSION: u32 = 2;
    const OLDEST_SNAPSHOT: u32 = 2;
}

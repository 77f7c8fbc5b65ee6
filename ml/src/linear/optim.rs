//! The per-coordinate optimisers of the online gradient learners
//! ([`super::StreamingLinearRegressionSgd`], [`super::StreamingLogisticRegression`]) and
//! gradient clipping.
//!
//! A learner hands a step the loss gradient `e` of its prediction (`ŷ − y` for least
//! squares, `p − y` for the logistic loss), which is first clipped to [−C, C]
//! (`C` = `clip_gradient`, as River's `clip_gradient`: River clamps the loss gradient, not
//! the product with each feature). Coordinate `i` then takes the gradient
//! `g = clamp(e, −C, C) xᵢ + λ wᵢ` (λ the L2 penalty), the intercept `clamp(e, −C, C)` (a
//! coordinate whose value is always 1, never penalised), and each coordinate steps with its
//! own state:
//!
//! - **SGD**: `w −= η g` (River's `optim.SGD(η)`);
//! - **AdaGrad**: `G += g²; w −= η / √(G + ε) · g` (River's `optim.AdaGrad(η)`, ε 1e-8);
//! - **Adam**: `t += 1; m = β₁ m + (1 − β₁) g; v = β₂ v + (1 − β₂) g²;`
//!   `w −= η √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε)` (River's `optim.Adam(η)`: β₁ 0.9,
//!   β₂ 0.999, ε 1e-8, the bias correction folded into the rate, `t` counting every step).
//!
//! **Sparse inputs.** Without L2 a step touches the example's non-zero coordinates and the
//! intercept only, so it is O(non-zeros) for every optimiser. Adam is therefore the lazy
//! (sparse) variant, as River runs it on dict features: a coordinate absent from an example
//! keeps its `m`, `v` and weight, while `t` counts every step. A dense example steps every
//! coordinate, zeros included (as River does on a dict holding every feature). With L2 > 0
//! every coordinate has a gradient and a step is O(dimension).
//!
//! Clipping the loss gradient rather than each coordinate keeps divergence visible: a
//! per-coordinate bound of 1e12 with a learning rate of 1 lets a diverging weight oscillate
//! just under ±[`crate::MAX_PARAMETER`] forever instead of being refused.
//!
//! **Where this differs from River.** River steps its intercept by plain SGD at
//! `intercept_lr` whatever the optimiser; here the intercept steps with the learner's
//! optimiser. River's L2 gradient, `l2 w` over the weights it
//! has met, is this one (a weight never met is 0 and steps nowhere).
//!
//! **Divergence.** A step computes and checks every value it would write before writing
//! any: a non-finite loss gradient, a weight beyond ±[`crate::MAX_PARAMETER`] or a
//! non-finite optimiser statistic refuses the step ([`MlError::Diverged`] /
//! [`MlError::Overflow`]) and leaves the model as it was.

use crate::api::MlError;
use crate::finite::MAX_PARAMETER;
use crate::params::{non_negative, one_of, positive, ParamError};
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// β₁ of Adam: the decay of the first moment (River's default).
pub const ADAM_BETA_1: f64 = 0.9;
/// β₂ of Adam: the decay of the second moment (River's default).
pub const ADAM_BETA_2: f64 = 0.999;
/// ε of AdaGrad and Adam (River's default).
pub const EPSILON: f64 = 1e-8;
/// The default bound on a gradient coordinate (River's `clip_gradient`).
pub const DEFAULT_CLIP_GRADIENT: f64 = 1e12;

/// The per-coordinate update rule of an online gradient learner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Optimizer {
    /// Plain stochastic gradient descent, `w −= η g`.
    #[default]
    Sgd,
    /// AdaGrad: each coordinate's step is divided by the root of its summed squared
    /// gradients.
    AdaGrad,
    /// Adam: steps along bias-corrected moving averages of each coordinate's gradient and
    /// squared gradient.
    Adam,
}

impl Optimizer {
    /// The optimiser's name in a job spec: `sgd`, `adagrad` or `adam`.
    pub fn name(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::AdaGrad => "adagrad",
            Optimizer::Adam => "adam",
        }
    }

    /// The optimiser named `name` (`sgd`, `adagrad`, `adam`).
    pub fn from_name(name: &str) -> Result<Self, ParamError> {
        let all = [Optimizer::Sgd, Optimizer::AdaGrad, Optimizer::Adam];
        match all.iter().find(|o| o.name() == name) {
            Some(o) => Ok(*o),
            None => {
                one_of("optimizer", name, &["sgd", "adagrad", "adam"])?;
                Ok(Optimizer::Sgd)
            }
        }
    }

    /// River's default learning rate of the optimiser: 0.01 for SGD, 0.1 for AdaGrad and
    /// Adam.
    pub fn river_learning_rate(self) -> f64 {
        match self {
            Optimizer::Sgd => 0.01,
            Optimizer::AdaGrad | Optimizer::Adam => 0.1,
        }
    }

    /// Whether entry `offset` of the optimiser's part of a shared-parameter vector for `dim`
    /// weights is averaged over workers: Adam's moments are (moving averages); AdaGrad's
    /// `G` and Adam's step count are summed.
    pub(crate) fn averaged(self, dim: usize, offset: usize) -> bool {
        match self {
            Optimizer::Sgd | Optimizer::AdaGrad => false,
            Optimizer::Adam => offset < 2 * (dim + 1),
        }
    }

    /// The length of the optimiser's part of a shared-parameter vector for `dim` weights:
    /// AdaGrad's `G` per weight and the intercept; Adam's `m`, then `v`, then `t`.
    pub(crate) fn shared_len(self, dim: usize) -> usize {
        match self {
            Optimizer::Sgd => 0,
            Optimizer::AdaGrad => dim + 1,
            Optimizer::Adam => 2 * (dim + 1) + 1,
        }
    }
}

/// How a learner steps: the optimiser and its settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepRule {
    /// The optimiser.
    pub(crate) optimizer: Optimizer,
    /// η.
    pub(crate) learning_rate: f64,
    /// λ, the L2 penalty on the weights (not the intercept).
    pub(crate) l2: f64,
    /// C, the bound on the loss gradient.
    pub(crate) clip_gradient: f64,
    /// Step the intercept.
    pub(crate) fit_intercept: bool,
}

impl StepRule {
    /// Checks every setting's range.
    pub(crate) fn validate(&self) -> Result<(), ParamError> {
        positive("learning_rate", self.learning_rate)?;
        non_negative("l2", self.l2)?;
        positive("clip_gradient", self.clip_gradient)
    }
}

/// The optimiser's per-coordinate state: weight `i` at `i`, the intercept at `dim`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct OptimizerState {
    /// AdaGrad: the summed squared gradients `G`; Adam: the first moment `m`; empty for SGD.
    first: Vec<f64>,
    /// Adam: the second moment `v`; empty otherwise.
    second: Vec<f64>,
    /// Adam: the steps taken, `t` of the bias correction (0 otherwise).
    steps: u64,
}

/// The coordinates a step visits: `(index, feature value)`.
enum Coordinates<'a> {
    /// Every entry of a dense example.
    Dense(std::iter::Enumerate<std::slice::Iter<'a, f64>>),
    /// The stored entries of a sparse example.
    Stored(std::iter::Zip<std::slice::Iter<'a, u32>, std::slice::Iter<'a, f64>>),
    /// Every coordinate of a sparse example, 0 where nothing is stored (L2 > 0).
    All {
        indices: &'a [u32],
        values: &'a [f64],
        next: usize,
        at: usize,
        dim: usize,
    },
}

impl<'a> Coordinates<'a> {
    fn of(x: &Features<'a>, every: bool) -> Self {
        match *x {
            Features::Dense(xs) => Coordinates::Dense(xs.iter().enumerate()),
            Features::Sparse(s) if !every => Coordinates::Stored(s.indices.iter().zip(s.values)),
            Features::Sparse(s) => Coordinates::All {
                indices: s.indices,
                values: s.values,
                next: 0,
                at: 0,
                dim: s.dim as usize,
            },
        }
    }
}

impl Iterator for Coordinates<'_> {
    type Item = (usize, f64);

    #[inline]
    fn next(&mut self) -> Option<(usize, f64)> {
        match self {
            Coordinates::Dense(it) => it.next().map(|(i, &v)| (i, v)),
            Coordinates::Stored(it) => it.next().map(|(&i, &v)| (i as usize, v)),
            Coordinates::All {
                indices,
                values,
                next,
                at,
                dim,
            } => {
                if *at >= *dim {
                    return None;
                }
                let i = *at;
                *at += 1;
                if indices.get(*next).is_some_and(|&k| k as usize == i) {
                    *next += 1;
                    Some((i, values[*next - 1]))
                } else {
                    Some((i, 0.0))
                }
            }
        }
    }
}

impl StepRule {
    /// One coordinate's new `(weight, first, second)` from weight `w`, state `(a, b)`,
    /// loss gradient `e`, feature value `v` and penalty `l2`; `rate` is η, or Adam's
    /// bias-corrected rate.
    #[inline]
    fn coordinate(
        &self,
        w: f64,
        (a, b): (f64, f64),
        e: f64,
        v: f64,
        l2: f64,
        rate: f64,
    ) -> [f64; 3] {
        let g = if l2 > 0.0 { e * v + l2 * w } else { e * v };
        match self.optimizer {
            // Written `(w − ηλw) − η e v`, the form the learner had before the optimisers
            // came, so its numbers are unchanged to the bit.
            Optimizer::Sgd => {
                let decayed = if l2 > 0.0 { w - rate * l2 * w } else { w };
                [decayed - rate * e * v, a, b]
            }
            Optimizer::AdaGrad => {
                let sum = a + g * g;
                [w - rate / (sum + EPSILON).sqrt() * g, sum, b]
            }
            Optimizer::Adam => {
                let m = ADAM_BETA_1 * a + (1.0 - ADAM_BETA_1) * g;
                let s = ADAM_BETA_2 * b + (1.0 - ADAM_BETA_2) * g * g;
                [w - rate * m / (s.sqrt() + EPSILON), m, s]
            }
        }
    }

    /// The rate of this step: η, or for Adam η √(1 − β₂ᵗ) / (1 − β₁ᵗ) at step `t`.
    fn rate(&self, state: &OptimizerState) -> f64 {
        match self.optimizer {
            Optimizer::Adam => {
                let t = (state.steps + 1) as f64;
                self.learning_rate * (1.0 - ADAM_BETA_2.powf(t)).sqrt()
                    / (1.0 - ADAM_BETA_1.powf(t))
            }
            _ => self.learning_rate,
        }
    }

    /// One step of `weights` and `intercept` on checked features `x` with loss gradient
    /// `e`, or the error that leaves all three (and `state`) as they were.
    pub(crate) fn step(
        &self,
        stage: &'static str,
        weights: &mut [f64],
        intercept: &mut f64,
        state: &mut OptimizerState,
        x: &Features<'_>,
        e: f64,
    ) -> Result<(), MlError> {
        if !e.is_finite() {
            return Err(MlError::Diverged {
                stage,
                quantity: "the loss gradient".into(),
                value: e,
            });
        }
        let e = e.clamp(-self.clip_gradient, self.clip_gradient);
        let dim = weights.len();
        state.fit(self.optimizer, dim);
        let rate = self.rate(state);
        let every = self.l2 > 0.0;
        // Every value the step writes is checked before any is written.
        for (i, v) in Coordinates::of(x, every) {
            let new = self.coordinate(weights[i], state.get(i), e, v, self.l2, rate);
            check(stage, self.optimizer, new, i, dim)?;
        }
        let intercept_step = if self.fit_intercept {
            let new = self.coordinate(*intercept, state.get(dim), e, 1.0, 0.0, rate);
            check(stage, self.optimizer, new, dim, dim)?;
            Some(new)
        } else {
            None
        };
        for (i, v) in Coordinates::of(x, every) {
            let [w, a, b] = self.coordinate(weights[i], state.get(i), e, v, self.l2, rate);
            weights[i] = w;
            state.set(i, a, b);
        }
        if let Some([w, a, b]) = intercept_step {
            *intercept = w;
            state.set(dim, a, b);
        }
        if self.optimizer == Optimizer::Adam {
            state.steps += 1;
        }
        Ok(())
    }
}

/// Checks a coordinate's new weight and state (`i == dim`: the intercept).
fn check(
    stage: &'static str,
    optimizer: Optimizer,
    [w, a, b]: [f64; 3],
    i: usize,
    dim: usize,
) -> Result<(), MlError> {
    let name = || {
        if i == dim {
            "the intercept".to_string()
        } else {
            format!("weight {i}")
        }
    };
    if w.is_nan() || w.abs() > MAX_PARAMETER {
        return Err(MlError::Diverged {
            stage,
            quantity: name(),
            value: w,
        });
    }
    let statistic = match optimizer {
        Optimizer::Sgd => None,
        Optimizer::AdaGrad => (!a.is_finite()).then_some(("the summed squared gradient", a)),
        Optimizer::Adam if !a.is_finite() => Some(("Adam's first moment", a)),
        Optimizer::Adam => (!b.is_finite()).then_some(("Adam's second moment", b)),
    };
    match statistic {
        Some((what, value)) => Err(MlError::Overflow {
            stage,
            quantity: format!("{what} of {}", name()),
            value,
        }),
        None => Ok(()),
    }
}

impl OptimizerState {
    /// The state of a model of `dim` weights stepped by `optimizer`, all zeros.
    pub(crate) fn new(optimizer: Optimizer, dim: usize) -> Self {
        let mut state = OptimizerState::default();
        state.fit(optimizer, dim);
        state
    }

    /// Sizes the vectors for `optimizer` and `dim` weights (a model saved before the state
    /// existed starts from zeros).
    fn fit(&mut self, optimizer: Optimizer, dim: usize) {
        let (first, second) = match optimizer {
            Optimizer::Sgd => (0, 0),
            Optimizer::AdaGrad => (dim + 1, 0),
            Optimizer::Adam => (dim + 1, dim + 1),
        };
        if self.first.len() != first {
            self.first.resize(first, 0.0);
        }
        if self.second.len() != second {
            self.second.resize(second, 0.0);
        }
    }

    #[inline]
    fn get(&self, i: usize) -> (f64, f64) {
        (
            self.first.get(i).copied().unwrap_or(0.0),
            self.second.get(i).copied().unwrap_or(0.0),
        )
    }

    #[inline]
    fn set(&mut self, i: usize, a: f64, b: f64) {
        if let Some(x) = self.first.get_mut(i) {
            *x = a;
        }
        if let Some(x) = self.second.get_mut(i) {
            *x = b;
        }
    }

    /// Appends the optimiser's part of a shared-parameter vector
    /// ([`Optimizer::shared_len`] values): AdaGrad's `G`; Adam's `m`, `v` and `t`. Each
    /// adds up over workers: `G` and `t` exactly (they are sums), `m` and `v` as the usual
    /// asynchronous approximation (the sum of the workers' changes of a moving average).
    pub(crate) fn write_shared(&self, optimizer: Optimizer, dim: usize, out: &mut Vec<f64>) {
        let mut state = self.clone();
        state.fit(optimizer, dim);
        match optimizer {
            Optimizer::Sgd => {}
            Optimizer::AdaGrad => out.extend_from_slice(&state.first),
            Optimizer::Adam => {
                out.extend_from_slice(&state.first);
                out.extend_from_slice(&state.second);
                out.push(state.steps as f64);
            }
        }
    }

    /// Checks the optimiser's part of a shared vector (finite values already checked):
    /// `G`, `v` and `t` must not be negative.
    pub(crate) fn check_shared(
        stage: &'static str,
        optimizer: Optimizer,
        dim: usize,
        values: &[f64],
    ) -> Result<(), MlError> {
        let (what, sums): (&str, &[f64]) = match optimizer {
            Optimizer::Sgd => return Ok(()),
            Optimizer::AdaGrad => ("the summed squared gradient", values),
            Optimizer::Adam => ("Adam's second moment and step count", &values[dim + 1..]),
        };
        match sums.iter().position(|&s| s < 0.0) {
            Some(k) => Err(MlError::Diverged {
                stage,
                quantity: format!("{what} (entry {k}), which cannot be negative"),
                value: sums[k],
            }),
            None => Ok(()),
        }
    }

    /// Replaces the state by the optimiser's part of a shared vector, checked by
    /// [`OptimizerState::check_shared`].
    pub(crate) fn read_shared(&mut self, optimizer: Optimizer, dim: usize, values: &[f64]) {
        self.fit(optimizer, dim);
        match optimizer {
            Optimizer::Sgd => {}
            Optimizer::AdaGrad => self.first.copy_from_slice(values),
            Optimizer::Adam => {
                let n = dim + 1;
                self.first.copy_from_slice(&values[..n]);
                self.second.copy_from_slice(&values[n..2 * n]);
                self.steps = values[2 * n].round() as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(optimizer: Optimizer, learning_rate: f64) -> StepRule {
        StepRule {
            optimizer,
            learning_rate,
            l2: 0.0,
            clip_gradient: DEFAULT_CLIP_GRADIENT,
            fit_intercept: true,
        }
    }

    #[test]
    fn sparse_coordinates_with_every_dimension_fill_zeros() {
        let x = Features::Sparse(crate::SparseView {
            dim: 4,
            indices: &[1, 3],
            values: &[5.0, 7.0],
        });
        let all: Vec<_> = Coordinates::of(&x, true).collect();
        assert_eq!(all, vec![(0, 0.0), (1, 5.0), (2, 0.0), (3, 7.0)]);
        let stored: Vec<_> = Coordinates::of(&x, false).collect();
        assert_eq!(stored, vec![(1, 5.0), (3, 7.0)]);
    }

    #[test]
    fn a_non_finite_loss_gradient_is_refused() {
        let (mut w, mut b, mut s) = ([0.0], 0.0, OptimizerState::new(Optimizer::Adam, 1));
        let x = Features::Dense(&[1.0]);
        let e = rule(Optimizer::Adam, 0.1)
            .step("t", &mut w, &mut b, &mut s, &x, f64::INFINITY)
            .unwrap_err();
        assert!(e.is_refused_update(), "{e}");
        assert_eq!((w, b, s.steps), ([0.0], 0.0, 0));
    }

    #[test]
    fn names_round_trip_and_an_unknown_name_lists_the_choices() {
        for o in [Optimizer::Sgd, Optimizer::AdaGrad, Optimizer::Adam] {
            assert_eq!(Optimizer::from_name(o.name()).unwrap(), o);
        }
        let e = Optimizer::from_name("rmsprop").unwrap_err().to_string();
        assert!(e.contains("optimizer") && e.contains("adagrad"), "{e}");
    }
}

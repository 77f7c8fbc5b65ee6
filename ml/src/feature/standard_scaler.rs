//! StandardScaler: batch (as Flink ML: mean and sample standard deviation, n − 1) and
//! online (Welford's running mean / variance, optionally over a sliding window).
//!
//! Over a window, removing a value from the running statistics leaves its rounding behind:
//! after values near 1e9 the sum of squared deviations carries an error near 1e9² · 2⁻⁵²,
//! far above the deviations of values near 1 that follow. The statistics are therefore
//! recomputed from the window (two passes, exact to rounding) when a removal cancels most
//! of a dimension's sum of squares, and once every `window` updates in any case.

use super::{check_output, VectorColumns};
use crate::api::{
    online_model_via_persist, Estimator, Frame, MlError, ModelVersion, RefusalCounter, Transformer,
};
use crate::finite::check_statistic;
use crate::params::at_least;
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Parameters of [`StandardScaler`] and [`OnlineStandardScaler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandardScalerParams {
    /// Input and output vector columns.
    pub columns: VectorColumns,
    /// Subtract the mean (default false, as Flink ML).
    pub with_mean: bool,
    /// Divide by the standard deviation (default true).
    pub with_std: bool,
}

impl Default for StandardScalerParams {
    fn default() -> Self {
        Self {
            columns: VectorColumns::default(),
            with_mean: false,
            with_std: true,
        }
    }
}

/// Fits a [`StandardScalerModel`]: per-dimension mean and sample standard deviation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StandardScaler {
    /// Parameters.
    pub params: StandardScalerParams,
}

/// Scales vectors by a fitted mean and standard deviation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandardScalerModel {
    /// Parameters.
    pub params: StandardScalerParams,
    /// Per-dimension mean.
    pub mean: Vec<f64>,
    /// Per-dimension sample standard deviation (n − 1).
    pub std: Vec<f64>,
}

impl Estimator for StandardScaler {
    type Model = StandardScalerModel;

    fn fit(&self, frame: &Frame) -> Result<StandardScalerModel, MlError> {
        let (rows, dim) = self.params.columns.dense_rows(frame, "StandardScaler")?;
        let n = rows.len() as f64;
        let mut mean = vec![0.0; dim];
        for r in &rows {
            mean.iter_mut().zip(r).for_each(|(m, x)| *m += x);
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; dim];
        for r in &rows {
            for ((v, x), m) in var.iter_mut().zip(r).zip(&mean) {
                *v += (x - m) * (x - m);
            }
        }
        let std: Vec<f64> = var
            .iter()
            .map(|v| if n > 1.0 { (v / (n - 1.0)).sqrt() } else { 0.0 })
            .collect();
        for (j, (&m, &s)) in mean.iter().zip(&std).enumerate() {
            check_statistic(STAGE, m, || format!("the mean of feature {j}"))?;
            check_statistic(STAGE, s, || {
                format!("the standard deviation of feature {j}")
            })?;
        }
        Ok(StandardScalerModel {
            params: self.params.clone(),
            mean,
            std,
        })
    }
}

/// The stage name in errors.
const STAGE: &str = "StandardScaler";

/// `(x − mean) / std` with the params' switches; a zero std scales to 0 (as Flink ML).
#[inline]
fn scale(params: &StandardScalerParams, x: f64, mean: f64, std: f64) -> f64 {
    let centred = if params.with_mean { x - mean } else { x };
    if !params.with_std {
        centred
    } else if std > 0.0 {
        centred / std
    } else {
        0.0
    }
}

impl StandardScalerModel {
    /// Scales one finite vector into `out` (`out.len()` must equal the model's dimension).
    pub fn transform_one(&self, x: Features<'_>, out: &mut [f64]) -> Result<(), MlError> {
        x.check(self.mean.len())?;
        check_output(out.len(), self.mean.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = scale(&self.params, x.get(i), self.mean[i], self.std[i]);
        }
        Ok(())
    }

    /// Undoes the scaling of one vector (the inverse of [`Self::transform_one`] where std > 0).
    pub fn inverse_one(&self, y: &[f64], out: &mut [f64]) -> Result<(), MlError> {
        Features::Dense(y).check(self.mean.len())?;
        check_output(out.len(), self.mean.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            let s = if self.params.with_std {
                self.std[i]
            } else {
                1.0
            };
            let m = if self.params.with_mean {
                self.mean[i]
            } else {
                0.0
            };
            *o = y[i] * s + m;
        }
        Ok(())
    }
}

/// A removal that leaves less than this share of a dimension's sum of squared deviations
/// has cancelled it: what remains is of the order of the rounding left behind.
const CANCELLED: f64 = 1e-6;

/// Welford's addition of `v` as the `n`-th value to a running `(mean, m2)`.
#[inline]
fn welford_add((m, m2): (f64, f64), v: f64, n: f64) -> (f64, f64) {
    let delta = v - m;
    let m = m + delta / n;
    (m, m2 + delta * (v - m))
}

impl Transformer for StandardScalerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        self.params
            .columns
            .map_each(frame, self.mean.len(), |i, x| {
                scale(&self.params, x, self.mean[i], self.std[i])
            })
    }
}

impl Persist for StandardScalerModel {
    const KIND: &'static str = "standard_scaler_model";
    const VERSION: u32 = 1;
}

/// A standard scaler updated one vector at a time (Welford), over all vectors seen or
/// over the last `window` vectors. After `n` vectors (n ≤ window) it equals the batch
/// [`StandardScaler`] fitted on those vectors. A decoded scaler (a snapshot or a saved file)
/// is checked first ([`Saved`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Saved")]
pub struct OnlineStandardScaler {
    params: StandardScalerParams,
    window: Option<usize>,
    count: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    recent: VecDeque<Vec<f64>>,
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
    #[serde(skip)]
    scratch: Vec<f64>,
}

/// An [`OnlineStandardScaler`] as encoded (the same fields in the same order), before its
/// checks: a corrupt snapshot whose sums of squares, window vectors and means disagree in
/// length, or whose window holds more vectors than it may, would index out of bounds.
#[derive(Deserialize)]
struct Saved {
    params: StandardScalerParams,
    window: Option<usize>,
    count: u64,
    mean: Vec<f64>,
    m2: Vec<f64>,
    recent: VecDeque<Vec<f64>>,
    version: ModelVersion,
}

impl TryFrom<Saved> for OnlineStandardScaler {
    type Error = MlError;

    fn try_from(saved: Saved) -> Result<Self, MlError> {
        let mut scaler = OnlineStandardScaler::new(saved.params, saved.window)?;
        let dim = saved.mean.len();
        let lengths = std::iter::once(saved.m2.len()).chain(saved.recent.iter().map(Vec::len));
        if let Some(found) = lengths.into_iter().find(|&len| len != dim) {
            return Err(MlError::Length {
                what: "the scaler's means and its other statistics",
                left: dim,
                right: found,
            });
        }
        if saved.recent.len() > saved.window.unwrap_or(0) {
            return Err(MlError::Length {
                what: "the scaler's window and the vectors it holds",
                left: saved.window.unwrap_or(0),
                right: saved.recent.len(),
            });
        }
        scaler.count = saved.count;
        scaler.mean = saved.mean;
        scaler.m2 = saved.m2;
        scaler.recent = saved.recent;
        scaler.version = saved.version;
        Ok(scaler)
    }
}

impl OnlineStandardScaler {
    /// A scaler over all vectors seen (`window = None`) or the last `window` vectors
    /// (`window` ≥ 2). The dimension is taken from the first vector.
    pub fn new(params: StandardScalerParams, window: Option<usize>) -> Result<Self, MlError> {
        if let Some(w) = window {
            at_least("window", w, 2)?;
        }
        Ok(Self {
            params,
            window,
            count: 0,
            mean: Vec::new(),
            m2: Vec::new(),
            recent: VecDeque::new(),
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
            scratch: Vec::new(),
        })
    }

    /// Number of vectors the statistics cover.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Current per-dimension mean.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Current per-dimension sample standard deviation (0 with fewer than 2 vectors).
    pub fn std(&self) -> Vec<f64> {
        self.m2.iter().map(|&m2| self.std_of(m2)).collect()
    }

    fn std_of(&self, m2: f64) -> f64 {
        if self.count > 1 {
            (m2.max(0.0) / (self.count - 1) as f64).sqrt()
        } else {
            0.0
        }
    }

    /// Adds one finite vector to the statistics. A rejected vector (another dimension, a
    /// NaN or infinite entry, or one so large that the variance overflows) changes nothing.
    /// A refused vector (an overflowing variance) is counted in
    /// [`crate::OnlineModel::refused_updates`].
    pub fn learn_one(&mut self, x: Features<'_>) -> Result<(), MlError> {
        let result = self.add(x);
        self.refused.note(result)
    }

    /// [`Self::learn_one`] before its refusal is counted.
    fn add(&mut self, x: Features<'_>) -> Result<(), MlError> {
        let first = self.count == 0 && self.recent.is_empty();
        let dim = if first { x.dim() } else { self.mean.len() };
        x.check(dim)?;
        let n = (self.count + 1) as f64;
        // A delta that overflows makes m2 non-finite too: checking m2 covers both.
        for i in 0..dim {
            let before = (
                self.mean.get(i).copied().unwrap_or(0.0),
                self.m2.get(i).copied().unwrap_or(0.0),
            );
            let m2 = welford_add(before, x.get(i), n).1;
            check_statistic(STAGE, m2, || format!("the variance of feature {i}"))?;
        }
        let mut row = std::mem::take(&mut self.scratch);
        row.clear();
        row.resize(dim, 0.0);
        x.for_each(|i, v| row[i] = v);
        if first {
            self.mean = vec![0.0; dim];
            self.m2 = vec![0.0; dim];
        }
        self.count += 1;
        for ((m, m2), &v) in self.mean.iter_mut().zip(&mut self.m2).zip(&row) {
            (*m, *m2) = welford_add((*m, *m2), v, n);
        }
        match self.window {
            Some(w) => {
                self.recent.push_back(row);
                if self.recent.len() > w {
                    if let Some(old) = self.recent.pop_front() {
                        let cancelled = self.remove(&old);
                        if cancelled || self.version.0.is_multiple_of(w as u64) {
                            self.recompute();
                        }
                        self.scratch = old;
                    }
                }
            }
            None => self.scratch = row,
        }
        self.version = self.version.next();
        Ok(())
    }

    /// Welford's removal of a vector that leaves the window (its insertion was checked);
    /// true when it cancelled a dimension's sum of squares (see [`CANCELLED`]).
    fn remove(&mut self, old: &[f64]) -> bool {
        self.count -= 1;
        let n = self.count as f64;
        let mut cancelled = false;
        for ((m, m2), &v) in self.mean.iter_mut().zip(&mut self.m2).zip(old) {
            let delta = v - *m;
            *m -= delta / n;
            let before = *m2;
            *m2 -= delta * (v - *m);
            // Also true for a sum of squares that went negative.
            cancelled |= *m2 < before * CANCELLED;
        }
        cancelled
    }

    /// Recomputes the mean and sum of squared deviations of the window's vectors, two
    /// passes (the window's values were checked on insertion and their statistics fit).
    fn recompute(&mut self) {
        let n = self.recent.len() as f64;
        for (i, (m, m2)) in self.mean.iter_mut().zip(&mut self.m2).enumerate() {
            *m = self.recent.iter().map(|r| r[i] / n).sum::<f64>();
            *m2 = self.recent.iter().map(|r| (r[i] - *m) * (r[i] - *m)).sum();
        }
    }

    /// Scales one finite vector with the current statistics into `out`.
    pub fn transform_one(&self, x: Features<'_>, out: &mut [f64]) -> Result<(), MlError> {
        x.check(self.mean.len())?;
        check_output(out.len(), self.mean.len())?;
        for (i, o) in out.iter_mut().enumerate() {
            *o = scale(
                &self.params,
                x.get(i),
                self.mean[i],
                self.std_of(self.m2[i]),
            );
        }
        Ok(())
    }

    /// Scales `x` into `out` with the statistics of the vectors before it, then adds it to
    /// them: progressive, as a learner predicts before it learns, so a vector never scales
    /// itself. The first vector, having none before it, is added first (and scales to 0 with
    /// `with_std`). An error of the update that follows the scaling (a refused update, see
    /// [`crate::RefusedUpdates`]) comes after `out` was written.
    pub fn transform_then_learn(
        &mut self,
        x: Features<'_>,
        out: &mut [f64],
    ) -> Result<(), MlError> {
        let first = self.count == 0;
        if first {
            self.learn_one(x)?;
        }
        self.transform_one(x, out)?;
        if first {
            Ok(())
        } else {
            self.learn_one(x)
        }
    }

    /// The current statistics as a batch model.
    pub fn to_model(&self) -> StandardScalerModel {
        StandardScalerModel {
            params: self.params.clone(),
            mean: self.mean.clone(),
            std: self.std(),
        }
    }
}

impl Persist for OnlineStandardScaler {
    const KIND: &'static str = "online_standard_scaler";
    const VERSION: u32 = 1;
}

online_model_via_persist!(OnlineStandardScaler);

#[cfg(test)]
mod tests {
    use super::*;

    fn scaler(window: Option<usize>, m2: Vec<f64>, recent: Vec<Vec<f64>>) -> OnlineStandardScaler {
        OnlineStandardScaler {
            params: StandardScalerParams::default(),
            window,
            count: 3,
            mean: vec![1.0, 2.0],
            m2,
            recent: recent.into(),
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
            scratch: Vec::new(),
        }
    }

    #[test]
    fn a_snapshot_with_fewer_sums_of_squares_than_means_is_refused_not_a_panic_later() {
        // Found by the `operator_state` fuzz target: such a snapshot restored, and the next
        // vector scaled indexed the missing sum of squares.
        let bytes = scaler(None, Vec::new(), Vec::new()).to_snapshot().unwrap();
        let err = OnlineStandardScaler::from_snapshot(&bytes).unwrap_err();
        assert!(err.to_string().contains("lengths differ (2 vs 0)"), "{err}");
    }

    #[test]
    fn a_snapshot_whose_window_holds_too_many_or_short_vectors_is_refused() {
        let rows = vec![vec![1.0, 2.0]; 3];
        let over = scaler(Some(2), vec![0.0, 0.0], rows).to_snapshot().unwrap();
        assert!(OnlineStandardScaler::from_snapshot(&over).is_err());
        let short = scaler(Some(2), vec![0.0, 0.0], vec![vec![1.0]]);
        assert!(OnlineStandardScaler::from_snapshot(&short.to_snapshot().unwrap()).is_err());
    }

    #[test]
    fn a_consistent_snapshot_restores_equal() {
        let s = scaler(Some(2), vec![0.5, 0.5], vec![vec![1.0, 2.0]; 2]);
        let back = OnlineStandardScaler::from_snapshot(&s.to_snapshot().unwrap()).unwrap();
        assert_eq!(back, s);
    }
}

//! Batch k-means: k-means++ seeding (Arthur & Vassilvitskii 2007) then Lloyd
//! iterations until the assignment stops changing or `max_iter` rounds have run; `n_init`
//! such runs from different seeds, keeping the one of lowest inertia (as scikit-learn).
//! Each Lloyd step moves every centroid to the mean of its points (a centroid with no
//! points stays where it is), so the cost never increases. When the data has fewer
//! distinct points than `k`, fewer centroids are returned, as Flink ML does.
//!
//! Points must be finite. Squared distances of coordinates near 1e160 would overflow f64
//! (and near 1e-170 underflow to 0), making every centroid equally far: a fit on such data
//! runs on the points scaled by a power of two (exact) and scales the centroids back, and
//! [`nearest_centroid`] compares distances at such a scale when they overflow or underflow.

use super::rng::SplitMix64;
use crate::api::{Column, Estimator, Frame, MlError, Transformer};
use crate::finite::check_vectors;
use crate::params::at_least;
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The largest coordinate magnitudes for which squared distances, and sums of them over
/// many points, neither overflow nor underflow: a fit on such points runs unscaled.
const UNSCALED: RangeInclusive<f64> = 1e-140..=1e140;

/// Parameters of [`KMeans`] (Flink ML's names and defaults, and scikit-learn's `n_init`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansParams {
    /// Input vector column. Default `features`.
    pub features_col: String,
    /// Output cluster-index column (f64, like every learner's prediction). Default
    /// `prediction`.
    pub prediction_col: String,
    /// Number of clusters (>= 1). Default 2.
    pub k: usize,
    /// Most Lloyd rounds (>= 1). Default 20.
    pub max_iter: usize,
    /// Seed of the k-means++ draws of the first run; run `r` uses `seed + r`.
    pub seed: u64,
    /// Runs from different seeds (>= 1); the fit keeps the one of lowest inertia. Default
    /// 10 (scikit-learn's before its `"auto"`; one k-means++ run often stops in a local
    /// optimum).
    #[serde(default = "default_n_init")]
    pub n_init: usize,
}

/// The default number of runs (also of models saved before `n_init` existed).
fn default_n_init() -> usize {
    10
}

impl Default for KMeansParams {
    fn default() -> Self {
        Self {
            features_col: "features".into(),
            prediction_col: "prediction".into(),
            k: 2,
            max_iter: 20,
            seed: 0,
            n_init: default_n_init(),
        }
    }
}

/// Fits a [`KMeansModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KMeans {
    /// Parameters.
    pub params: KMeansParams,
}

/// Fitted centroids and the number of points each one took in the last round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansModel {
    /// Parameters used for the fit (the columns are used by `transform`).
    pub params: KMeansParams,
    /// One centroid per cluster.
    pub centroids: Vec<Vec<f64>>,
    /// Points per cluster.
    pub weights: Vec<f64>,
    /// The fit's inertia: the sum of squared distances of the points to their nearest
    /// centroid (+inf beyond f64; 0 for models not fitted by [`KMeans`]).
    #[serde(default)]
    pub inertia: f64,
}

/// The squared distance between `a` and `b`, both multiplied by `scale` (a power of two, so
/// exactly; 1 is the plain distance).
#[inline]
fn squared_distance(a: &[f64], b: Features<'_>, scale: f64) -> f64 {
    a.iter()
        .enumerate()
        .map(|(i, &c)| {
            let d = c * scale - b.get(i) * scale;
            d * d
        })
        .sum()
}

/// The power of two that brings `max` (a largest magnitude) near 1; 1 for 0.
fn unit_scale(max: f64) -> f64 {
    if max == 0.0 {
        return 1.0;
    }
    // 2^-e as its bits: exponent field 1023 - e (e within ±1000 keeps it normal).
    let e = max.log2().floor().clamp(-1000.0, 1000.0) as i64;
    f64::from_bits(((1023 - e) as u64) << 52)
}

/// The largest magnitude among `values`.
fn max_abs<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values.into_iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// The centroid nearest to `x` at `scale` (the first one on ties) and that squared distance.
fn nearest_at(centroids: &[Vec<f64>], x: Features<'_>, scale: f64) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in centroids.iter().enumerate() {
        let d = squared_distance(c, x, scale);
        if best.is_none_or(|(_, b)| d < b) {
            best = Some((i, d));
        }
    }
    best
}

/// Index of the centroid nearest to a finite `x` (the first one on ties) and its squared
/// distance (+inf when that exceeds f64); `None` when there are no centroids.
///
/// When the nearest squared distance is not a normal number (every distance overflowed,
/// or the nearest may have underflowed), the distances are compared again with all
/// coordinates scaled by a power of two that brings the largest near 1.
pub fn nearest_centroid(centroids: &[Vec<f64>], x: Features<'_>) -> Option<(usize, f64)> {
    let best = nearest_at(centroids, x, 1.0)?;
    if best.1.is_normal() {
        return Some(best);
    }
    let mut max = max_abs(centroids.iter().flatten());
    x.for_each(|_, v| max = max.max(v.abs()));
    let scale = unit_scale(max);
    nearest_at(centroids, x, scale).map(|(i, d)| (i, d / scale / scale))
}

/// Sum of squared distances from each (finite) point to its nearest centroid; +inf when
/// the sum exceeds f64 (coordinates near 1e154 and beyond).
pub fn kmeans_cost(centroids: &[Vec<f64>], points: &[Vec<f64>]) -> f64 {
    points
        .iter()
        .filter_map(|p| nearest_centroid(centroids, Features::Dense(p)))
        .map(|(_, d)| d)
        .sum()
}

/// One Lloyd round: assigns every point to its nearest centroid and returns the
/// moved centroids (means of their points; unchanged when empty), the assignment
/// and the number of points per centroid. Points must be finite, and their sums within
/// f64 ([`KMeans`] scales extreme points before its rounds).
pub fn lloyd_step(
    centroids: &[Vec<f64>],
    points: &[Vec<f64>],
) -> (Vec<Vec<f64>>, Vec<usize>, Vec<f64>) {
    let dim = centroids.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0.0; dim]; centroids.len()];
    let mut counts = vec![0.0; centroids.len()];
    let mut assignment = Vec::with_capacity(points.len());
    for p in points {
        let c = nearest_centroid(centroids, Features::Dense(p)).map_or(0, |(c, _)| c);
        assignment.push(c);
        counts[c] += 1.0;
        sums[c].iter_mut().zip(p).for_each(|(s, x)| *s += x);
    }
    let moved = sums
        .into_iter()
        .zip(&counts)
        .zip(centroids)
        .map(|((sum, &n), old)| {
            if n > 0.0 {
                sum.into_iter().map(|s| s / n).collect()
            } else {
                old.clone()
            }
        })
        .collect();
    (moved, assignment, counts)
}

/// k-means++ seeding: the first centroid uniformly, each next one with probability
/// proportional to its squared distance to the chosen ones; stops early when every
/// point coincides with a chosen centroid.
fn kmeans_plus_plus(points: &[Vec<f64>], k: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(seed);
    let mut centroids = vec![points[rng.below(points.len())].clone()];
    let mut d2: Vec<f64> = points
        .iter()
        .map(|p| squared_distance(&centroids[0], Features::Dense(p), 1.0))
        .collect();
    while centroids.len() < k {
        let total: f64 = d2.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut target = rng.next_f64() * total;
        let mut chosen = d2.iter().rposition(|&d| d > 0.0).unwrap_or(0);
        for (i, &d) in d2.iter().enumerate() {
            if d > 0.0 && target < d {
                chosen = i;
                break;
            }
            target -= d;
        }
        let c = points[chosen].clone();
        for (di, p) in d2.iter_mut().zip(points) {
            *di = di.min(squared_distance(&c, Features::Dense(p), 1.0));
        }
        centroids.push(c);
    }
    centroids
}

impl KMeans {
    /// Fits on finite dense points of equal dimension (row `r` is named in errors as row
    /// `r` of `params.features_col`).
    pub fn fit_points(&self, points: &[Vec<f64>]) -> Result<KMeansModel, MlError> {
        at_least("k", self.params.k, 1)?;
        at_least("max_iter", self.params.max_iter, 1)?;
        at_least("n_init", self.params.n_init, 1)?;
        let first = points.first().ok_or(MlError::Empty { stage: "KMeans" })?;
        if let Some(bad) = points.iter().find(|p| p.len() != first.len()) {
            return Err(MlError::Dimension {
                expected: first.len(),
                found: bad.len(),
            });
        }
        for (row, p) in points.iter().enumerate() {
            Features::Dense(p)
                .check_finite()
                .map_err(|e| e.in_cell(&self.params.features_col, row))?;
        }
        let max = max_abs(points.iter().flatten());
        if max == 0.0 || UNSCALED.contains(&max) {
            return Ok(self.fit_finite(points));
        }
        // Scaling by a power of two is exact: the fit is the fit of the points as they are.
        let scale = unit_scale(max);
        let scaled: Vec<Vec<f64>> = points
            .iter()
            .map(|p| p.iter().map(|x| x * scale).collect())
            .collect();
        let mut model = self.fit_finite(&scaled);
        model
            .centroids
            .iter_mut()
            .flatten()
            .for_each(|c| *c /= scale);
        model.inertia = model.inertia / scale / scale;
        Ok(model)
    }

    /// `n_init` runs on checked points whose squared distances fit in f64: the one of
    /// lowest inertia (the first on ties).
    fn fit_finite(&self, points: &[Vec<f64>]) -> KMeansModel {
        let mut best = self.run(points, self.params.seed);
        for r in 1..self.params.n_init {
            let run = self.run(points, self.params.seed.wrapping_add(r as u64));
            if run.inertia < best.inertia {
                best = run;
            }
        }
        best
    }

    /// One run: k-means++ from `seed`, then Lloyd rounds.
    fn run(&self, points: &[Vec<f64>], seed: u64) -> KMeansModel {
        let mut centroids = kmeans_plus_plus(points, self.params.k, seed);
        let mut assignment: Vec<usize> = Vec::new();
        let mut weights = Vec::new();
        for _ in 0..self.params.max_iter {
            let (moved, next, counts) = lloyd_step(&centroids, points);
            let converged = next == assignment;
            centroids = moved;
            assignment = next;
            weights = counts;
            if converged {
                break;
            }
        }
        KMeansModel {
            params: self.params.clone(),
            inertia: kmeans_cost(&centroids, points),
            centroids,
            weights,
        }
    }
}

/// The dense rows of a vector column.
pub(crate) fn dense_points(frame: &Frame, col: &str) -> Result<Vec<Vec<f64>>, MlError> {
    Ok(frame
        .vectors(col)?
        .iter()
        .map(|v| v.features().to_dense())
        .collect())
}

impl Estimator for KMeans {
    type Model = KMeansModel;

    fn fit(&self, frame: &Frame) -> Result<KMeansModel, MlError> {
        self.fit_points(&dense_points(frame, &self.params.features_col)?)
    }
}

/// Checks `x` is finite, well formed and has the dimension of `centroids`.
pub(super) fn check_point(centroids: &[Vec<f64>], x: Features<'_>) -> Result<(), MlError> {
    x.check(centroids.first().map_or(0, Vec::len))
}

impl KMeansModel {
    /// The cluster of a finite `x`.
    pub fn predict_one(&self, x: Features<'_>) -> Result<usize, MlError> {
        check_point(&self.centroids, x)?;
        nearest_centroid(&self.centroids, x)
            .map(|(c, _)| c)
            .ok_or(MlError::Empty {
                stage: "KMeansModel",
            })
    }
}

impl Transformer for KMeansModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let vectors = frame.vectors(&self.params.features_col)?;
        check_vectors(&self.params.features_col, vectors)?;
        let predictions = vectors
            .iter()
            .map(|v| self.predict_one(v.features()).map(|c| c as f64))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = frame.clone();
        out.set(self.params.prediction_col.clone(), Column::F64(predictions))?;
        Ok(out)
    }
}

impl Persist for KMeansModel {
    const KIND: &'static str = "kmeans_model";
    const VERSION: u32 = 1;
}

//! Batch k-means: k-means++ seeding (Arthur & Vassilvitskii 2007) then Lloyd
//! iterations until the assignment stops changing or `max_iter` rounds have run.
//! Each Lloyd step moves every centroid to the mean of its points (a centroid with no
//! points stays where it is), so the cost never increases. When the data has fewer
//! distinct points than `k`, fewer centroids are returned, as Flink ML does.

use super::rng::SplitMix64;
use crate::api::{Column, Estimator, Frame, MlError, Transformer};
use crate::params::at_least;
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`KMeans`] (Flink ML's names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansParams {
    /// Input vector column. Default `features`.
    pub features_col: String,
    /// Output cluster-index column. Default `prediction`.
    pub prediction_col: String,
    /// Number of clusters (>= 1). Default 2.
    pub k: usize,
    /// Most Lloyd rounds (>= 1). Default 20.
    pub max_iter: usize,
    /// Seed of the k-means++ draws.
    pub seed: u64,
}

impl Default for KMeansParams {
    fn default() -> Self {
        Self {
            features_col: "features".into(),
            prediction_col: "prediction".into(),
            k: 2,
            max_iter: 20,
            seed: 0,
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
}

fn squared_distance(a: &[f64], b: Features<'_>) -> f64 {
    a.iter()
        .enumerate()
        .map(|(i, &c)| {
            let d = c - b.get(i);
            d * d
        })
        .sum()
}

/// Index of the centroid nearest to `x` (the first one on ties) and its squared
/// distance; `None` when there are no centroids.
pub fn nearest_centroid(centroids: &[Vec<f64>], x: Features<'_>) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in centroids.iter().enumerate() {
        let d = squared_distance(c, x);
        if best.is_none_or(|(_, b)| d < b) {
            best = Some((i, d));
        }
    }
    best
}

/// Sum of squared distances from each point to its nearest centroid.
pub fn kmeans_cost(centroids: &[Vec<f64>], points: &[Vec<f64>]) -> f64 {
    points
        .iter()
        .filter_map(|p| nearest_centroid(centroids, Features::Dense(p)))
        .map(|(_, d)| d)
        .sum()
}

/// One Lloyd round: assigns every point to its nearest centroid and returns the
/// moved centroids (means of their points; unchanged when empty), the assignment
/// and the number of points per centroid.
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
        .map(|p| squared_distance(&centroids[0], Features::Dense(p)))
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
            *di = di.min(squared_distance(&c, Features::Dense(p)));
        }
        centroids.push(c);
    }
    centroids
}

impl KMeans {
    /// Fits on dense points of equal dimension.
    pub fn fit_points(&self, points: &[Vec<f64>]) -> Result<KMeansModel, MlError> {
        at_least("k", self.params.k, 1)?;
        at_least("max_iter", self.params.max_iter, 1)?;
        let first = points.first().ok_or(MlError::Empty { stage: "KMeans" })?;
        if let Some(bad) = points.iter().find(|p| p.len() != first.len()) {
            return Err(MlError::Dimension {
                expected: first.len(),
                found: bad.len(),
            });
        }
        let mut centroids = kmeans_plus_plus(points, self.params.k, self.params.seed);
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
        Ok(KMeansModel {
            params: self.params.clone(),
            centroids,
            weights,
        })
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

impl KMeansModel {
    /// The cluster of `x`.
    pub fn predict_one(&self, x: Features<'_>) -> Result<usize, MlError> {
        let dim = self.centroids.first().map_or(0, Vec::len);
        if x.dim() != dim {
            return Err(MlError::Dimension {
                expected: dim,
                found: x.dim(),
            });
        }
        nearest_centroid(&self.centroids, x)
            .map(|(c, _)| c)
            .ok_or(MlError::Empty {
                stage: "KMeansModel",
            })
    }
}

impl Transformer for KMeansModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        let predictions = frame
            .vectors(&self.params.features_col)?
            .iter()
            .map(|v| self.predict_one(v.features()).map(|c| c as i64))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = frame.clone();
        out.set(self.params.prediction_col.clone(), Column::I64(predictions))?;
        Ok(out)
    }
}

impl Persist for KMeansModel {
    const KIND: &'static str = "kmeans_model";
    const VERSION: u32 = 1;
}

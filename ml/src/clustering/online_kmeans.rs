//! Online k-means as Flink ML's `OnlineKMeans` (with one subtask): points are
//! buffered into mini-batches of `global_batch_size`; for each batch, every cluster
//! weight is first multiplied by `decay_factor`, then each cluster that got `m` of
//! the batch's points takes weight `w + m` and moves to
//! `(1 - m / (w + m)) * centroid + (1 / (w + m)) * sum of its points`.
//!
//! Points and initial centroids must be finite; a rejected point changes nothing. An update
//! whose centroids would overflow (points near 1e308) is refused with [`MlError::Overflow`]
//! and the point that completed the batch is not kept.

use super::kmeans::{check_point, nearest_centroid, KMeansModel, KMeansParams};
use super::rng::SplitMix64;
use crate::api::{
    check_parameters, online_model_via_persist, MlError, ModelVersion, RefusalCounter,
    SharedParameters,
};
use crate::finite::{check_all, check_statistic, Position};
use crate::params::{at_least, in_closed, ParamError};
use crate::persist::Persist;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// Parameters of [`OnlineKMeans`] (Flink ML's names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineKMeansParams {
    /// Input vector column. Default `features`.
    pub features_col: String,
    /// Output cluster-index column. Default `prediction`.
    pub prediction_col: String,
    /// Points per model update (>= 1). Default 32.
    pub global_batch_size: usize,
    /// Factor applied to the old weights at each update, in `[0, 1]`: 0 forgets the
    /// past, 1 keeps it all. Default 0.
    pub decay_factor: f64,
}

impl Default for OnlineKMeansParams {
    fn default() -> Self {
        Self {
            features_col: "features".into(),
            prediction_col: "prediction".into(),
            global_batch_size: 32,
            decay_factor: 0.0,
        }
    }
}

/// An online k-means model: centroids, their weights, the pending mini-batch and a
/// version that moves on every update. A decoded model (a snapshot or a saved file) is
/// checked as [`OnlineKMeans::new`] checks its arguments ([`Saved`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Saved")]
pub struct OnlineKMeans {
    params: OnlineKMeansParams,
    centroids: Vec<Vec<f64>>,
    weights: Vec<f64>,
    pending: Vec<Vec<f64>>,
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
}

/// An [`OnlineKMeans`] as encoded (the same fields in the same order), before its checks:
/// a corrupt snapshot with fewer weights than centroids, centroids of different
/// dimensions or a pending point of another dimension would make an update index out of
/// bounds.
#[derive(Deserialize)]
struct Saved {
    params: OnlineKMeansParams,
    centroids: Vec<Vec<f64>>,
    weights: Vec<f64>,
    pending: Vec<Vec<f64>>,
    version: ModelVersion,
}

impl TryFrom<Saved> for OnlineKMeans {
    type Error = MlError;

    fn try_from(saved: Saved) -> Result<Self, MlError> {
        let mut model = OnlineKMeans::new(saved.params, saved.centroids, saved.weights)?;
        for p in &saved.pending {
            check_point(&model.centroids, Features::Dense(p))?;
        }
        model.pending = saved.pending;
        model.version = saved.version;
        Ok(model)
    }
}

impl OnlineKMeans {
    /// Starts from finite `centroids` (at least one, equal dimensions) with `weights`.
    pub fn new(
        params: OnlineKMeansParams,
        centroids: Vec<Vec<f64>>,
        weights: Vec<f64>,
    ) -> Result<Self, MlError> {
        at_least("global_batch_size", params.global_batch_size, 1)?;
        in_closed("decay_factor", params.decay_factor, 0.0, 1.0)?;
        let dim = centroids
            .first()
            .ok_or_else(|| ParamError::new("centroids", 0, "at least one centroid"))?
            .len();
        if let Some(bad) = centroids.iter().find(|c| c.len() != dim) {
            return Err(MlError::Dimension {
                expected: dim,
                found: bad.len(),
            });
        }
        for (index, c) in centroids.iter().enumerate() {
            check_all(c, |entry| Position::Argument {
                name: "centroids",
                index,
                entry: Some(entry),
            })?;
        }
        if weights.len() != centroids.len() {
            return Err(MlError::Length {
                what: "initial weights and centroids",
                left: weights.len(),
                right: centroids.len(),
            });
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(ParamError::new("weights", w, "finite values >= 0").into());
        }
        Ok(Self {
            params,
            centroids,
            weights,
            pending: Vec::new(),
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
        })
    }

    /// Starts from a batch-fitted model (as Flink ML's `setInitialModelData`).
    pub fn from_model(params: OnlineKMeansParams, model: &KMeansModel) -> Result<Self, MlError> {
        Self::new(params, model.centroids.clone(), model.weights.clone())
    }

    /// Starts from `k` random centroids of dimension `dim` (uniform in `[0, 1)`), each
    /// with weight `weight`, as Flink ML's `KMeansModelData.generateRandomModelData`.
    pub fn random(
        params: OnlineKMeansParams,
        k: usize,
        dim: usize,
        weight: f64,
        seed: u64,
    ) -> Result<Self, MlError> {
        at_least("k", k, 1)?;
        let mut rng = SplitMix64::new(seed);
        let centroids = (0..k)
            .map(|_| (0..dim).map(|_| rng.next_f64()).collect())
            .collect();
        Self::new(params, centroids, vec![weight; k])
    }

    /// The current centroids.
    pub fn centroids(&self) -> &[Vec<f64>] {
        &self.centroids
    }

    /// The current cluster weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The cluster of a finite `x` under the current centroids.
    pub fn predict_one(&self, x: Features<'_>) -> Result<usize, MlError> {
        self.assign(x).map(|(c, _)| c)
    }

    /// The cluster of a finite `x` under the current centroids and its squared distance to
    /// that centroid (the row's share of the inertia).
    pub fn assign(&self, x: Features<'_>) -> Result<(usize, f64), MlError> {
        check_point(&self.centroids, x)?;
        nearest_centroid(&self.centroids, x).ok_or(MlError::Empty {
            stage: "OnlineKMeans",
        })
    }

    /// Buffers a finite `x`; when `global_batch_size` points are buffered, updates the
    /// model with them (and the version moves). On error the model is as it was.
    pub fn learn_one(&mut self, x: Features<'_>) -> Result<(), MlError> {
        check_point(&self.centroids, x)?;
        self.pending.push(x.to_dense());
        if self.pending.len() >= self.params.global_batch_size {
            match self.updated(&self.pending) {
                Ok((centroids, weights)) => {
                    (self.centroids, self.weights) = (centroids, weights);
                    self.pending.clear();
                    self.version = self.version.next();
                }
                Err(e) => {
                    self.pending.pop();
                    return self.refused.note(Err(e));
                }
            }
        }
        Ok(())
    }

    /// A frozen batch model with the current centroids and weights.
    pub fn to_model(&self) -> KMeansModel {
        KMeansModel {
            params: KMeansParams {
                features_col: self.params.features_col.clone(),
                prediction_col: self.params.prediction_col.clone(),
                k: self.centroids.len(),
                ..KMeansParams::default()
            },
            centroids: self.centroids.clone(),
            weights: self.weights.clone(),
            inertia: 0.0,
        }
    }

    /// The centroids and weights after one decayed mini-batch update, or
    /// [`MlError::Overflow`] when a centroid would not be finite.
    fn updated(&self, batch: &[Vec<f64>]) -> Result<(Vec<Vec<f64>>, Vec<f64>), MlError> {
        let k = self.centroids.len();
        let dim = self.centroids[0].len();
        let mut sums = vec![vec![0.0; dim]; k];
        let mut counts = vec![0usize; k];
        for p in batch {
            if let Some((c, _)) = nearest_centroid(&self.centroids, Features::Dense(p)) {
                counts[c] += 1;
                sums[c].iter_mut().zip(p).for_each(|(s, x)| *s += x);
            }
        }
        let mut weights: Vec<f64> = self
            .weights
            .iter()
            .map(|w| w * self.params.decay_factor)
            .collect();
        // Each cluster's sums become its moved centroid (the old one when it got no point).
        for (c, moved) in sums.iter_mut().enumerate() {
            if counts[c] == 0 {
                moved.clone_from(&self.centroids[c]);
                continue;
            }
            let m = counts[c] as f64;
            weights[c] += m;
            let lambda = m / weights[c];
            for (s, x) in moved.iter_mut().zip(&self.centroids[c]) {
                *s = *x * (1.0 - lambda) + lambda / m * *s;
                check_statistic("OnlineKMeans", *s, || format!("centroid {c}"))?;
            }
        }
        Ok((sums, weights))
    }
}

/// The vector is every centroid's coordinates (centroid 0 first, `k · dim` values), then
/// the `k` cluster weights. Coordinates are values a worker moves: the servers apply the
/// mean of the workers' changes, so two workers that pull a centroid toward the same points
/// do not move it twice as far, and a centroid only one worker's points reached moves all
/// the way. With `decay_factor` 1 a weight is the count of the points the cluster took:
/// summed, so the merged weight is the number of points every worker gave it, as one model
/// that saw them all would hold. With `decay_factor` < 1 a weight is a decayed count each
/// worker moves toward its own level (`w = decay · w + m` per mini-batch): summing would
/// decay the old weight once per worker and swing the merged weight around its level
/// (below 0 with two workers, measured), so it is averaged like a coordinate. A weight the
/// merge leaves below 0 reads as 0. The pending mini-batch is the worker's own and stays as
/// it is.
impl SharedParameters for OnlineKMeans {
    fn parameter_len(&self) -> usize {
        let k = self.centroids.len();
        k * self.centroids[0].len() + k
    }

    /// Coordinates are averaged; weights are summed counts with `decay_factor` 1, else
    /// averaged.
    fn averaged(&self, index: usize) -> bool {
        index < self.centroids.len() * self.centroids[0].len() || self.params.decay_factor < 1.0
    }

    fn write_parameters(&self, out: &mut Vec<f64>) {
        out.clear();
        out.reserve(self.parameter_len());
        for c in &self.centroids {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&self.weights);
    }

    fn read_parameters(&mut self, values: &[f64]) -> Result<(), MlError> {
        check_parameters(values, self.parameter_len())?;
        let (coordinates, weights) = values.split_at(values.len() - self.weights.len());
        let dim = self.centroids[0].len();
        for (c, moved) in self.centroids.iter_mut().zip(coordinates.chunks_exact(dim)) {
            c.copy_from_slice(moved);
        }
        for (w, merged) in self.weights.iter_mut().zip(weights) {
            *w = merged.max(0.0);
        }
        Ok(())
    }
}

impl Persist for OnlineKMeans {
    const KIND: &'static str = "online_kmeans";
    const VERSION: u32 = 1;
}

online_model_via_persist!(OnlineKMeans);

#[cfg(test)]
mod tests {
    use super::*;

    fn model(weights: Vec<f64>, pending: Vec<Vec<f64>>) -> OnlineKMeans {
        OnlineKMeans {
            params: OnlineKMeansParams {
                global_batch_size: 2,
                ..OnlineKMeansParams::default()
            },
            centroids: vec![vec![0.0, 0.0], vec![1.0, 1.0]],
            weights,
            pending,
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
        }
    }

    #[test]
    fn a_snapshot_with_fewer_weights_than_centroids_is_refused_not_a_panic_later() {
        // Found by the `operator_state` fuzz target: such a snapshot restored, and the next
        // update indexed the missing weight.
        let bytes = model(Vec::new(), Vec::new()).to_snapshot().unwrap();
        let err = OnlineKMeans::from_snapshot(&bytes).unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
    }

    #[test]
    fn a_snapshot_with_a_pending_point_of_another_dimension_is_refused() {
        let bytes = model(vec![1.0, 1.0], vec![vec![0.5]])
            .to_snapshot()
            .unwrap();
        assert!(OnlineKMeans::from_snapshot(&bytes).is_err());
    }

    #[test]
    fn shared_parameters_are_the_coordinates_then_the_weights() {
        let mut m = model(vec![1.0, 2.0], vec![vec![0.5, 0.5]]);
        let mut v = Vec::new();
        m.write_parameters(&mut v);
        assert_eq!(v, [0.0, 0.0, 1.0, 1.0, 1.0, 2.0]);
        assert_eq!(m.parameter_len(), 6);
        // Decayed weights (the default decay 0) are averaged like the coordinates.
        assert!((0..6).all(|i| m.averaged(i)));
        m.read_parameters(&[3.0, -4.0, 5.0, 6.0, 7.0, -0.5])
            .unwrap();
        assert_eq!(m.centroids(), [vec![3.0, -4.0], vec![5.0, 6.0]]);
        // A weight merged below 0 reads as 0; the pending point stays.
        assert_eq!(m.weights(), [7.0, 0.0]);
        assert_eq!(m.pending, [vec![0.5, 0.5]]);
    }

    /// Two workers from the same start, merged as the parameter servers merge them (summed
    /// or averaged changes): with `decay_factor` 1 each merged weight is the number of points
    /// the cluster took on either worker.
    #[test]
    fn merged_weights_count_every_workers_points_when_nothing_decays() {
        let params = OnlineKMeansParams {
            global_batch_size: 1,
            decay_factor: 1.0,
            ..OnlineKMeansParams::default()
        };
        let start = OnlineKMeans::new(params, vec![vec![0.0], vec![10.0]], vec![0.0; 2]).unwrap();
        let (mut a, mut b) = (start.clone(), start.clone());
        for x in [0.5, -0.5, 9.0] {
            a.learn_one(Features::Dense(&[x])).unwrap();
        }
        for x in [11.0, 10.5, 9.5, 0.25] {
            b.learn_one(Features::Dense(&[x])).unwrap();
        }
        let vector = |m: &OnlineKMeans| {
            let mut v = Vec::new();
            m.write_parameters(&mut v);
            v
        };
        let (s, va, vb) = (vector(&start), vector(&a), vector(&b));
        let merged: Vec<f64> = (0..s.len())
            .map(|i| {
                let (da, db) = (va[i] - s[i], vb[i] - s[i]);
                let changed = f64::from(u8::from(da != 0.0) + u8::from(db != 0.0)).max(1.0);
                s[i] + if start.averaged(i) {
                    (da + db) / changed
                } else {
                    da + db
                }
            })
            .collect();
        let mut model = start.clone();
        model.read_parameters(&merged).unwrap();
        // Points near 0: 0.5, -0.5 and 0.25; near 10: 9, 11, 10.5 and 9.5.
        assert_eq!(model.weights(), [3.0, 4.0]);
        assert!(!start.averaged(2) && start.averaged(1));
    }

    #[test]
    fn a_non_finite_or_short_parameter_vector_is_refused_and_changes_nothing() {
        let mut m = model(vec![1.0, 2.0], Vec::new());
        let before = m.clone();
        assert!(m
            .read_parameters(&[0.0, f64::NAN, 1.0, 1.0, 1.0, 1.0])
            .is_err());
        assert!(m
            .read_parameters(&[0.0, 0.0, 1.0, 1.0, f64::INFINITY, 1.0])
            .is_err());
        assert!(m.read_parameters(&[0.0, 0.0, 1.0, 1.0, 1.0]).is_err());
        assert_eq!(m, before);
    }

    #[test]
    fn a_consistent_snapshot_restores_equal() {
        let m = model(vec![1.0, 2.0], vec![vec![0.5, 0.5]]);
        let back = OnlineKMeans::from_snapshot(&m.to_snapshot().unwrap()).unwrap();
        assert_eq!(back, m);
    }
}

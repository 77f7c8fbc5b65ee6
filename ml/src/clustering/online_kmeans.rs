//! Online k-means as Flink ML's `OnlineKMeans` (with one subtask): points are
//! buffered into mini-batches of `global_batch_size`; for each batch, every cluster
//! weight is first multiplied by `decay_factor`, then each cluster that got `m` of
//! the batch's points takes weight `w + m` and moves to
//! `(1 - m / (w + m)) * centroid + (1 / (w + m)) * sum of its points`.

use super::kmeans::{nearest_centroid, KMeansModel, KMeansParams};
use super::rng::SplitMix64;
use crate::api::{online_model_via_persist, MlError, ModelVersion};
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
/// version that moves on every update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineKMeans {
    params: OnlineKMeansParams,
    centroids: Vec<Vec<f64>>,
    weights: Vec<f64>,
    pending: Vec<Vec<f64>>,
    version: ModelVersion,
}

impl OnlineKMeans {
    /// Starts from `centroids` (at least one, equal dimensions) with `weights`.
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

    /// The cluster of `x` under the current centroids.
    pub fn predict_one(&self, x: Features<'_>) -> Result<usize, MlError> {
        self.check_dim(x)?;
        nearest_centroid(&self.centroids, x)
            .map(|(c, _)| c)
            .ok_or(MlError::Empty {
                stage: "OnlineKMeans",
            })
    }

    /// Buffers `x`; when `global_batch_size` points are buffered, updates the model
    /// with them (and the version moves).
    pub fn learn_one(&mut self, x: Features<'_>) -> Result<(), MlError> {
        self.check_dim(x)?;
        self.pending.push(x.to_dense());
        if self.pending.len() >= self.params.global_batch_size {
            let batch = std::mem::take(&mut self.pending);
            self.update(&batch);
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
        }
    }

    fn check_dim(&self, x: Features<'_>) -> Result<(), MlError> {
        let dim = self.centroids[0].len();
        if x.dim() == dim {
            Ok(())
        } else {
            Err(MlError::Dimension {
                expected: dim,
                found: x.dim(),
            })
        }
    }

    /// One decayed mini-batch update.
    fn update(&mut self, batch: &[Vec<f64>]) {
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
        for w in &mut self.weights {
            *w *= self.params.decay_factor;
        }
        for c in 0..k {
            if counts[c] == 0 {
                continue;
            }
            let m = counts[c] as f64;
            self.weights[c] += m;
            let lambda = m / self.weights[c];
            for (x, s) in self.centroids[c].iter_mut().zip(&sums[c]) {
                *x = *x * (1.0 - lambda) + lambda / m * s;
            }
        }
        self.version = self.version.next();
    }
}

impl Persist for OnlineKMeans {
    const KIND: &'static str = "online_kmeans";
    const VERSION: u32 = 1;
}

online_model_via_persist!(OnlineKMeans);

//! Online matrix factorisation as River's `reco` models, all trained by plain SGD on
//! the squared loss, one `(user, item, rating)` at a time:
//!
//! - [`MfKind::Baseline`]: `mean + b_u + b_i`;
//! - [`MfKind::BiasedMf`]: `mean + b_u + b_i + <p_u, q_i>`;
//! - [`MfKind::FunkMf`]: `<p_u, q_i>`.
//!
//! As in River, `learn_one` first adds the rating to the global mean, then predicts,
//! takes the gradient `2 (prediction - rating)` (clipped), and moves every parameter
//! by its gradient at the old values. A user's or item's latent factors are drawn
//! from `N(0, init_std²)` when `learn_one` first meets it (the user first); before
//! that, `predict_one` treats them as zero.

use crate::api::{online_model_via_persist, MlError, ModelVersion};
use crate::clustering::rng::SplitMix64;
use crate::params::{non_negative, positive, ParamError};
use crate::persist::Persist;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Which River model to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MfKind {
    /// Global mean plus user and item biases.
    Baseline,
    /// Biases plus the dot product of latent factors.
    BiasedMf,
    /// The dot product of latent factors only.
    FunkMf,
}

/// Parameters; [`MfParams::baseline`], [`MfParams::biased_mf`] and
/// [`MfParams::funk_mf`] give River's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfParams {
    /// The model.
    pub kind: MfKind,
    /// Latent factors per user and item (ignored by `Baseline`).
    pub n_factors: usize,
    /// SGD step of the biases (> 0).
    pub bias_learning_rate: f64,
    /// SGD step of the latent factors (> 0).
    pub latent_learning_rate: f64,
    /// L2 penalty of the biases (>= 0).
    pub l2_bias: f64,
    /// L2 penalty of the latent factors (>= 0).
    pub l2_latent: f64,
    /// Standard deviation of the initial latent factors (>= 0).
    pub init_std: f64,
    /// Bound on the loss gradient's magnitude (> 0).
    pub clip_gradient: f64,
    /// Seed of the initial latent factors.
    pub seed: u64,
}

impl MfParams {
    /// River's `reco.Baseline()`: SGD step 0.01, no L2.
    pub fn baseline() -> Self {
        Self {
            kind: MfKind::Baseline,
            n_factors: 0,
            bias_learning_rate: 0.01,
            latent_learning_rate: 0.01,
            l2_bias: 0.0,
            l2_latent: 0.0,
            init_std: 0.1,
            clip_gradient: 1e12,
            seed: 0,
        }
    }

    /// River's `reco.BiasedMF()`: 10 factors, SGD step 0.01, factors `N(0, 0.1²)`.
    pub fn biased_mf() -> Self {
        Self {
            kind: MfKind::BiasedMf,
            n_factors: 10,
            ..Self::baseline()
        }
    }

    /// River's `reco.FunkMF()`: 10 factors, SGD step 0.1, factors `N(0, 0.1²)`.
    pub fn funk_mf() -> Self {
        Self {
            kind: MfKind::FunkMf,
            n_factors: 10,
            latent_learning_rate: 0.1,
            ..Self::baseline()
        }
    }

    fn validate(&self) -> Result<(), ParamError> {
        positive("bias_learning_rate", self.bias_learning_rate)?;
        positive("latent_learning_rate", self.latent_learning_rate)?;
        non_negative("l2_bias", self.l2_bias)?;
        non_negative("l2_latent", self.l2_latent)?;
        non_negative("init_std", self.init_std)?;
        positive("clip_gradient", self.clip_gradient)
    }

    fn has_biases(&self) -> bool {
        self.kind != MfKind::FunkMf
    }

    fn has_latents(&self) -> bool {
        self.kind != MfKind::Baseline && self.n_factors > 0
    }
}

/// An online matrix-factorisation model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixFactorization {
    params: MfParams,
    mean_n: f64,
    mean: f64,
    user_bias: FxHashMap<u64, f64>,
    item_bias: FxHashMap<u64, f64>,
    user_factors: FxHashMap<u64, Vec<f64>>,
    item_factors: FxHashMap<u64, Vec<f64>>,
    rng: SplitMix64,
    version: ModelVersion,
}

impl MatrixFactorization {
    /// An empty model with checked `params`.
    pub fn new(params: MfParams) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            rng: SplitMix64::new(params.seed),
            params,
            mean_n: 0.0,
            mean: 0.0,
            user_bias: FxHashMap::default(),
            item_bias: FxHashMap::default(),
            user_factors: FxHashMap::default(),
            item_factors: FxHashMap::default(),
            version: ModelVersion::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &MfParams {
        &self.params
    }

    /// Sets a user's latent factors (e.g. to start from another library's draw).
    pub fn set_user_factors(&mut self, user: u64, factors: Vec<f64>) -> Result<(), MlError> {
        self.check_factors(&factors)?;
        self.user_factors.insert(user, factors);
        Ok(())
    }

    /// Sets an item's latent factors.
    pub fn set_item_factors(&mut self, item: u64, factors: Vec<f64>) -> Result<(), MlError> {
        self.check_factors(&factors)?;
        self.item_factors.insert(item, factors);
        Ok(())
    }

    fn check_factors(&self, factors: &[f64]) -> Result<(), MlError> {
        if factors.len() == self.params.n_factors {
            Ok(())
        } else {
            Err(MlError::Dimension {
                expected: self.params.n_factors,
                found: factors.len(),
            })
        }
    }

    /// The predicted rating of `item` by `user`.
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        let mut y = 0.0;
        if self.params.has_biases() {
            y = self.mean
                + self.user_bias.get(&user).copied().unwrap_or(0.0)
                + self.item_bias.get(&item).copied().unwrap_or(0.0);
        }
        if let (Some(p), Some(q)) = (self.user_factors.get(&user), self.item_factors.get(&item)) {
            y += dot(p, q);
        }
        y
    }

    /// Predicts `(user, item)` pairs with the current parameters.
    pub fn predict_many(&self, pairs: &[(u64, u64)]) -> Vec<f64> {
        pairs.iter().map(|&(u, i)| self.predict_one(u, i)).collect()
    }

    /// Learns `(user, item, rating)` triples in order; stops at the first bad rating
    /// (the ones before it are learnt).
    pub fn learn_many(&mut self, ratings: &[(u64, u64, f64)]) -> Result<(), MlError> {
        ratings
            .iter()
            .try_for_each(|&(u, i, y)| self.learn_one(u, i, y))
    }

    /// Ranks `items` for `user`, best first.
    pub fn rank(&self, user: u64, items: &[u64]) -> Vec<u64> {
        let mut scored: Vec<(u64, f64)> = items
            .iter()
            .map(|&i| (i, self.predict_one(user, i)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored.into_iter().map(|(i, _)| i).collect()
    }

    /// One SGD step on `rating` (finite); the version moves.
    pub fn learn_one(&mut self, user: u64, item: u64, rating: f64) -> Result<(), MlError> {
        if !rating.is_finite() {
            return Err(MlError::Label {
                value: rating,
                allowed: "a finite rating",
            });
        }
        let p = &self.params;
        if p.has_biases() {
            self.mean_n += 1.0;
            self.mean += (1.0 / self.mean_n) * (rating - self.mean);
        }
        if p.has_latents() {
            let (n, std) = (p.n_factors, p.init_std);
            let rng = &mut self.rng;
            self.user_factors
                .entry(user)
                .or_insert_with(|| (0..n).map(|_| rng.normal(0.0, std)).collect());
            self.item_factors
                .entry(item)
                .or_insert_with(|| (0..n).map(|_| rng.normal(0.0, std)).collect());
        }
        let g = (2.0 * (self.predict_one(user, item) - rating))
            .clamp(-self.params.clip_gradient, self.params.clip_gradient);
        let p = &self.params;
        if p.has_biases() {
            for bias in [
                self.user_bias.entry(user).or_insert(0.0),
                self.item_bias.entry(item).or_insert(0.0),
            ] {
                *bias -= p.bias_learning_rate * (g + p.l2_bias * *bias);
            }
        }
        if p.has_latents() {
            if let (Some(pu), Some(qi)) = (
                self.user_factors.get_mut(&user),
                self.item_factors.get_mut(&item),
            ) {
                let (lr, l2) = (p.latent_learning_rate, p.l2_latent);
                for (u, i) in pu.iter_mut().zip(qi.iter_mut()) {
                    let (old_u, old_i) = (*u, *i);
                    *u -= lr * (g * old_i + l2 * old_u);
                    *i -= lr * (g * old_u + l2 * old_i);
                }
            }
        }
        self.version = self.version.next();
        Ok(())
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Persist for MatrixFactorization {
    const KIND: &'static str = "matrix_factorization";
    const VERSION: u32 = 1;
}

online_model_via_persist!(MatrixFactorization);

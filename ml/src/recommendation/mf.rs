//! Online matrix factorisation as River's `reco` models, all trained by plain SGD on
//! the squared loss, one `(user, item, rating)` at a time:
//!
//! - [`MfKind::Baseline`]: `mean + b_u + b_i`;
//! - [`MfKind::BiasedMf`]: `mean + b_u + b_i + <p_u, q_i>`;
//! - [`MfKind::FunkMf`]: `<p_u, q_i>`.
//!
//! As in River, `learn_one` first adds the rating to the global mean, then predicts,
//! takes the gradient `2 (prediction - rating)` (clipped), and moves every parameter
//! by its gradient at the old values. A user's or item's latent factors start at
//! `N(0, init_std²)` draws derived from its id and the seed ([`initial_factors`]) when
//! `learn_one` first meets it; before that, `predict_one` treats them as zero. (River
//! draws from one sequential generator; a start derived from the id is the same
//! wherever and whenever the id is first met, so workers sharing items agree.)
//!
//! Ratings and factors set from outside must be finite. A step is computed aside and
//! applied only when every bias and factor it writes stays within ±[`crate::MAX_PARAMETER`]
//! (and the mean finite): a refused step ([`MlError::Diverged`], a learning rate too high)
//! or a rejected rating leaves the model exactly as it was.

mod items;
mod start;
mod users;

pub use items::{MfLayout, MAX_SHARED_PARAMETERS};
pub use start::{initial_factors, Side};
pub use users::UserState;

use crate::api::{online_model_via_persist, MlError, ModelVersion, RefusalCounter};
use crate::finite::{
    check, check_all, check_parameter, check_statistic, first_non_parameter, Position,
};
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
    /// Seed of the initial latent factors (with each id: [`initial_factors`]).
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

    /// [`MfParams::biased_mf`] with the SGD step of River's documented `BiasedMF` example,
    /// 0.025 for biases and factors: the `matrix_factorization` stage's default (on
    /// MovieLens-100K in time order, progressive RMSE 0.949 against 0.975 at 0.01).
    pub fn biased_mf_stream() -> Self {
        Self {
            bias_learning_rate: 0.025,
            latent_learning_rate: 0.025,
            ..Self::biased_mf()
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
    version: ModelVersion,
    #[serde(skip)]
    refused: RefusalCounter,
}

impl MatrixFactorization {
    /// An empty model with checked `params`.
    pub fn new(params: MfParams) -> Result<Self, MlError> {
        params.validate()?;
        Ok(Self {
            params,
            mean_n: 0.0,
            mean: 0.0,
            user_bias: FxHashMap::default(),
            item_bias: FxHashMap::default(),
            user_factors: FxHashMap::default(),
            item_factors: FxHashMap::default(),
            version: ModelVersion::default(),
            refused: RefusalCounter::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &MfParams {
        &self.params
    }

    /// Sets a user's finite latent factors (e.g. to start from another library's draw).
    pub fn set_user_factors(&mut self, user: u64, factors: Vec<f64>) -> Result<(), MlError> {
        self.check_factors(&factors)?;
        self.user_factors.insert(user, factors);
        Ok(())
    }

    /// Sets an item's finite latent factors.
    pub fn set_item_factors(&mut self, item: u64, factors: Vec<f64>) -> Result<(), MlError> {
        self.check_factors(&factors)?;
        self.item_factors.insert(item, factors);
        Ok(())
    }

    fn check_factors(&self, factors: &[f64]) -> Result<(), MlError> {
        if factors.len() != self.params.n_factors {
            return Err(MlError::Dimension {
                expected: self.params.n_factors,
                found: factors.len(),
            });
        }
        Ok(check_all(factors, |index| Position::Argument {
            name: "factors",
            index,
            entry: None,
        })?)
    }

    /// The predicted rating of `item` by `user`.
    pub fn predict_one(&self, user: u64, item: u64) -> f64 {
        let (pu, qi) = (self.user_factors.get(&user), self.item_factors.get(&item));
        let factors = pu.zip(qi).map(|(p, q)| (p.as_slice(), q.as_slice()));
        self.predict_with(self.mean, self.biases(user, item), factors)
    }

    /// The biases of `user` and `item` (0 before they are learnt).
    fn biases(&self, user: u64, item: u64) -> (f64, f64) {
        (
            self.user_bias.get(&user).copied().unwrap_or(0.0),
            self.item_bias.get(&item).copied().unwrap_or(0.0),
        )
    }

    /// The prediction from a global mean, biases and the user's and item's factors.
    fn predict_with(
        &self,
        mean: f64,
        (user_bias, item_bias): (f64, f64),
        factors: Option<(&[f64], &[f64])>,
    ) -> f64 {
        let mut y = 0.0;
        if self.params.has_biases() {
            y = mean + user_bias + item_bias;
        }
        if let Some((p, q)) = factors {
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

    /// One SGD step on a finite `rating`; the version moves. A refused step (a rating not
    /// finite, a parameter that would leave ±[`crate::MAX_PARAMETER`]) changes nothing.
    /// A refused step is counted in [`crate::OnlineModel::refused_updates`].
    pub fn learn_one(&mut self, user: u64, item: u64, rating: f64) -> Result<(), MlError> {
        let result = self.step(user, item, rating);
        self.refused.note(result)
    }

    /// [`Self::learn_one`] before its refusal is counted.
    fn step(&mut self, user: u64, item: u64, rating: f64) -> Result<(), MlError> {
        check(rating, || Position::Label)?;
        let p = &self.params;
        // The step computed aside: the mean, then the first factors of a new user and item.
        let (mut mean_n, mut mean) = (self.mean_n, self.mean);
        if p.has_biases() {
            mean_n += 1.0;
            mean += (1.0 / mean_n) * (rating - mean);
            check_statistic(STAGE, mean, || "the mean rating".to_string())?;
        }
        let draw = |known: bool, side: Side, id: u64| {
            (p.has_latents() && !known).then(|| initial_factors(p, side, id))
        };
        let new_user = draw(self.user_factors.contains_key(&user), Side::User, user);
        let new_item = draw(self.item_factors.contains_key(&item), Side::Item, item);
        let pu = new_user.as_ref().or_else(|| self.user_factors.get(&user));
        let qi = new_item.as_ref().or_else(|| self.item_factors.get(&item));
        let biases = self.biases(user, item);
        let factors = pu.zip(qi).map(|(p, q)| (p.as_slice(), q.as_slice()));
        let g = (2.0 * (self.predict_with(mean, biases, factors) - rating))
            .clamp(-p.clip_gradient, p.clip_gradient);
        let bias_step = |b: f64| b - p.bias_learning_rate * (g + p.l2_bias * b);
        let (lr, l2) = (p.latent_learning_rate, p.l2_latent);
        let factor_step = |a: f64, b: f64| a - lr * (g * b + l2 * a);
        // Every parameter the step writes is checked before any is written.
        let (user_bias, item_bias) = (bias_step(biases.0), bias_step(biases.1));
        if p.has_biases() {
            check_parameter(STAGE, user_bias, || format!("the bias of user {user}"))?;
            check_parameter(STAGE, item_bias, || format!("the bias of item {item}"))?;
        }
        if let (true, Some(pu), Some(qi)) = (p.has_latents(), pu, qi) {
            let pairs = pu.iter().zip(qi);
            if let Some((k, f)) =
                first_non_parameter(pairs.clone().map(|(&u, &i)| factor_step(u, i)))
            {
                check_parameter(STAGE, f, || format!("factor {k} of user {user}"))?;
            }
            if let Some((k, f)) = first_non_parameter(pairs.map(|(&u, &i)| factor_step(i, u))) {
                check_parameter(STAGE, f, || format!("factor {k} of item {item}"))?;
            }
        }
        (self.mean_n, self.mean) = (mean_n, mean);
        if p.has_biases() {
            self.user_bias.insert(user, user_bias);
            self.item_bias.insert(item, item_bias);
        }
        if p.has_latents() {
            if let Some(f) = new_user {
                self.user_factors.insert(user, f);
            }
            if let Some(f) = new_item {
                self.item_factors.insert(item, f);
            }
            if let (Some(pu), Some(qi)) = (
                self.user_factors.get_mut(&user),
                self.item_factors.get_mut(&item),
            ) {
                for (u, i) in pu.iter_mut().zip(qi.iter_mut()) {
                    (*u, *i) = (factor_step(*u, *i), factor_step(*i, *u));
                }
            }
        }
        self.version = self.version.next();
        Ok(())
    }
}

/// The learner's name in errors.
const STAGE: &str = "MatrixFactorization";

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Persist for MatrixFactorization {
    const KIND: &'static str = "matrix_factorization";
    /// 2: the sequential generator's state left the model (starts are derived from ids).
    const VERSION: u32 = 2;
    const OLDEST_SNAPSHOT: u32 = 2;
}

online_model_via_persist!(MatrixFactorization);

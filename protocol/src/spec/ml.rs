//! The machine-learning stage kinds of a job spec: online feature stages (`standard_scaler`,
//! `feature_hasher`, `vector_assembler`, `one_hot`) and online learners
//! (`logistic_regression`, `linear_regression`, `kmeans`, `matrix_factorization`).
//!
//! Feature stages add one vector column (`output`) to each row. Learners predict first, then
//! learn from the row (progressive validation), and add `cluster` (i64, `kmeans` only),
//! `prediction` (f64; for `kmeans` the cluster index), `probability` (f64,
//! `logistic_regression` only) and `model_version` (i64: the version of the model that made
//! the prediction), each renamed by its `*_col` field ([`LearnerColumns`]) so that learners
//! can be chained. Parameter names and defaults are those of
//! the `quiver-ml` library (Flink ML's for FTRL and online k-means, River's for matrix
//! factorisation). `parse` reads a table, `predict` resolves what a `predict` stage serves,
//! `schema` checks columns and adds the outputs.

mod parse;
mod predict;
mod schema;

pub(super) use parse::{parse, KINDS};
pub(super) use predict::resolve as resolve_predict;
pub(super) use schema::output_schema;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Columns a learner adds for its prediction and the model version that made it.
pub const PREDICTION: &str = "prediction";
/// The probability of class 1 (`logistic_regression`).
pub const PROBABILITY: &str = "probability";
/// The model version that made the prediction.
pub const MODEL_VERSION: &str = "model_version";
/// The cluster index (i64) `kmeans` adds besides `prediction`.
pub const CLUSTER: &str = "cluster";

/// The names of the columns a learner adds: fields `prediction_col`, `probability_col`
/// (`logistic_regression`), `model_version_col` and `cluster_col` (`kmeans`), defaulting to
/// [`PREDICTION`], [`PROBABILITY`], [`MODEL_VERSION`] and [`CLUSTER`]. A stage adds the ones
/// of its kind; the others keep their defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnerColumns {
    /// The prediction column (f64).
    pub prediction: String,
    /// The probability column (f64) of a classifier.
    pub probability: String,
    /// The model version column (i64).
    pub model_version: String,
    /// The cluster column (i64) of `kmeans`.
    pub cluster: String,
}

impl Default for LearnerColumns {
    fn default() -> Self {
        Self {
            prediction: PREDICTION.to_string(),
            probability: PROBABILITY.to_string(),
            model_version: MODEL_VERSION.to_string(),
            cluster: CLUSTER.to_string(),
        }
    }
}

/// Where a stage reads its feature vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FeatureInput {
    /// One vector column (dense or sparse), written as a string: `features = "features"`.
    Vector(String),
    /// Numeric (i64, f64, bool) columns taken in order as a dense vector, written as a list:
    /// `features = ["x1", "x2"]`.
    Columns(Vec<String>),
}

/// `kind = "standard_scaler"`: online standardisation (Welford's running mean and variance).
/// Each row first updates the statistics, then is scaled with them (as River's
/// `StandardScaler` in a learning pipeline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StandardScalerStage {
    /// `columns`: the features to scale.
    pub columns: FeatureInput,
    /// `output`: the dense vector column added to the row.
    pub output: String,
    /// `with_mean`: subtract the running mean (default false, as Flink ML).
    pub with_mean: bool,
    /// `with_std`: divide by the running sample standard deviation (default true).
    pub with_std: bool,
    /// `window`: statistics over the last `window` rows (≥ 2); `None`: over all rows.
    pub window: Option<u64>,
}

/// Default `num_features` of `feature_hasher` (2^18, as Flink ML).
pub const DEFAULT_NUM_FEATURES: u32 = 1 << 18;

/// `kind = "feature_hasher"`: Flink ML's FeatureHasher (stateless): numeric columns add their
/// value at `h("col")`, string, bool and `categorical` columns add 1.0 at `h("col=value")`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureHasherStage {
    /// `columns`: the columns to hash (i64, f64, bool, string).
    pub columns: Vec<String>,
    /// `categorical`: numeric columns among `columns` hashed as categories.
    pub categorical: Vec<String>,
    /// `num_features`: the output dimension (default [`DEFAULT_NUM_FEATURES`]).
    pub num_features: u32,
    /// `output`: the sparse vector column added to the row.
    pub output: String,
}

/// `kind = "vector_assembler"`: concatenates numeric and vector columns into a dense vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VectorAssemblerStage {
    /// `columns`: numeric (i64, f64, bool) or vector columns, in order.
    pub columns: Vec<String>,
    /// `output`: the dense vector column added to the row.
    pub output: String,
}

/// Default `max_categories` of `one_hot`.
pub const DEFAULT_MAX_CATEGORIES: u32 = 1024;

/// `kind = "one_hot"`: online one-hot encoding of a string or i64 column. Categories get
/// indices in order of first appearance (per partition); the output has dimension
/// `max_categories`, and categories met after `max_categories` others encode as all zeros.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneHotStage {
    /// `column`: the categorical column (string or i64).
    pub column: String,
    /// `max_categories`: the number of categories indexed (default
    /// [`DEFAULT_MAX_CATEGORIES`]); the output's dimension.
    pub max_categories: u32,
    /// `output`: the sparse vector column added to the row.
    pub output: String,
}

/// A learner's serving policies (design §6, "Guards and update policies", "Warm-up"):
/// fields `guard`, `update` and `warmup` of a learner with parameter servers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServingPolicy {
    /// Roll a swap back automatically when the version it put in serves worse.
    pub guard: Option<Guard>,
    /// When a stage serving a registered version moves to the newest one.
    pub update: Option<UpdatePolicy>,
    /// `warmup`: predictions a partition runs with a version it loads for a swap, at the
    /// swap's barrier, before the version scores its first record (default
    /// [`DEFAULT_WARMUP`]; 0: none).
    pub warmup: u32,
}

/// Predictions run with a version before it serves, unless `warmup` says otherwise.
pub const DEFAULT_WARMUP: u32 = 16;

impl Default for ServingPolicy {
    fn default() -> Self {
        ServingPolicy {
            guard: None,
            update: None,
            warmup: DEFAULT_WARMUP,
        }
    }
}

impl ServingPolicy {
    /// Whether any policy is set.
    pub fn is_set(&self) -> bool {
        self.guard.is_some() || self.update.is_some()
    }
}

/// `guard = { metric = "loss", max_increase = 0.2, min_records = 1000 }`: after a deploy,
/// canary, promote or A/B, once the new version scored `min_records` labelled records, its
/// mean loss is compared with what it replaced (a canary's and an A/B's other version over
/// the same records' time, else the version served before); worse by more than
/// `max_increase` (relative) rolls the swap back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Guard {
    /// The allowed relative increase of the mean loss (default 0.2: 20%).
    pub max_increase: f64,
    /// Labelled records the new version scores before it is judged (default 1000).
    pub min_records: u64,
}

/// `update = { on = ... }`: when a stage serving a registered version moves to the newest
/// registered version (a stage serving its latest version has nothing to move to).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum UpdatePolicy {
    /// `on = "interval", every = "10m"`: on a time window.
    Interval {
        /// How long a version serves before the newest replaces it.
        every: Duration,
    },
    /// `on = "performance", max_increase = 0.2, min_records = 1000`: when the served
    /// version's mean loss over the last `min_records` labelled records exceeds its mean
    /// loss over its first `min_records` by more than `max_increase` (relative).
    Performance {
        /// The allowed relative increase of the mean loss.
        max_increase: f64,
        /// The records of each window.
        min_records: u64,
    },
    /// `on = "drift", column = "x1", detector = "page_hinkley"`: when a detector on the
    /// values of a numeric input column finds a drift in any partition.
    Drift {
        /// The numeric column watched.
        column: String,
        /// The detector.
        detector: DriftDetectorKind,
    },
}

/// The drift detector of an `update = { on = "drift" }` policy (River's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriftDetectorKind {
    /// `page_hinkley` (default): a change of the mean.
    PageHinkley,
    /// `adwin`: a change of the mean in an adaptive window.
    Adwin,
}

/// The update rule of an online linear learner: field `optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinearOptimizer {
    /// `"sgd"`: plain stochastic gradient descent, `w −= η g` (River's `optim.SGD`).
    Sgd,
    /// `"adagrad"`: each coordinate's step divided by the root of its summed squared
    /// gradients, ε 1e-8 (River's `optim.AdaGrad`).
    AdaGrad,
    /// `"adam"`: bias-corrected moving averages of each coordinate's gradient and squared
    /// gradient, β₁ 0.9, β₂ 0.999, ε 1e-8 (River's `optim.Adam`).
    Adam,
    /// `"ftrl"`: FTRL-Proximal with `alpha`, `beta`, `reg`, `elastic_net` (Flink ML's
    /// `OnlineLogisticRegression`; `logistic_regression` only).
    Ftrl,
}

impl LinearOptimizer {
    /// The name in a spec.
    pub fn name(self) -> &'static str {
        match self {
            LinearOptimizer::Sgd => "sgd",
            LinearOptimizer::AdaGrad => "adagrad",
            LinearOptimizer::Adam => "adam",
            LinearOptimizer::Ftrl => "ftrl",
        }
    }

    /// River's default learning rate of the optimiser (0.01 for SGD, 0.1 for AdaGrad and
    /// Adam); FTRL's rate is `alpha`, so `None`.
    pub fn river_learning_rate(self) -> Option<f64> {
        match self {
            LinearOptimizer::Sgd => Some(0.01),
            LinearOptimizer::AdaGrad | LinearOptimizer::Adam => Some(0.1),
            LinearOptimizer::Ftrl => None,
        }
    }
}

/// Default `clip_gradient` of the linear learners (River's).
pub const DEFAULT_CLIP_GRADIENT: f64 = 1e12;

/// `kind = "logistic_regression"`: online binary logistic regression trained by FTRL-Proximal
/// (Flink ML's `OnlineLogisticRegression`, with its parameter names) or, with `optimizer`,
/// by SGD, AdaGrad or Adam (River's `LogisticRegression` with that optimiser). The defaults
/// are chosen by progressive validation on public data sets against River's
/// (`bench/ml_quality.sh`): FTRL, every example learnt, an intercept, `alpha` 0.2, `beta` 1
/// (Flink ML: batches of 32, no intercept, 0.1 and 0.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionStage {
    /// `features`: a vector column or numeric columns.
    pub features: FeatureInput,
    /// `label`: the 0/1 label column (i64, f64 or bool); null: predict only.
    pub label: String,
    /// `optimizer`: `ftrl` (default), `sgd`, `adagrad` or `adam`. `alpha`, `beta`,
    /// `elastic_net` and a `global_batch_size` above 1 are FTRL's only; `learning_rate` is
    /// the others' only.
    pub optimizer: LinearOptimizer,
    /// `learning_rate` of `sgd`, `adagrad` and `adam`, River's meaning (the logistic loss's
    /// gradient `p − y` is River's): default River's, 0.01 for `sgd`, 0.1 for `adagrad` and
    /// `adam`. With `ftrl` it holds `alpha`, FTRL's per-coordinate rate.
    pub learning_rate: f64,
    /// `clip_gradient`: the loss gradient `p − y` is clipped to ±`clip_gradient` before the
    /// step (default 1e12, River's; as `p − y` is in [−1, 1] only a bound below 1 binds).
    pub clip_gradient: f64,
    /// `alpha` (default 0.2).
    pub alpha: f64,
    /// `beta` (default 1).
    pub beta: f64,
    /// `reg`: regularisation strength (default 0); with `sgd`, `adagrad` and `adam`, an L2
    /// penalty whose gradient is `reg · w` (every weight steps: O(dimension) per example).
    pub reg: f64,
    /// `elastic_net`: share of `reg` that is L1, in [0, 1] (default 0).
    pub elastic_net: f64,
    /// `global_batch_size`: examples per model update (default 1: learn from every example
    /// before the next is predicted, as River; Flink ML's mini-batches use 32).
    pub global_batch_size: u64,
    /// `fit_intercept`: learn an intercept (default true; Flink ML has none).
    pub fit_intercept: bool,
    /// The names of the added columns.
    pub outputs: LearnerColumns,
    /// Fields `guard` and `update` (with parameter servers).
    pub policy: ServingPolicy,
    /// `parameter_shards`: partitions of the parameter servers (default: the stage's
    /// parallelism).
    pub parameter_shards: Option<u32>,
}

/// `kind = "linear_regression"`: least squares updated by one gradient step per example, by
/// SGD (default), AdaGrad or Adam.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearRegressionStage {
    /// `features`: a vector column or numeric columns.
    pub features: FeatureInput,
    /// `label`: the numeric target column; null: predict only.
    pub label: String,
    /// `optimizer`: `sgd` (default), `adagrad` or `adam`.
    pub optimizer: LinearOptimizer,
    /// `learning_rate`: with `sgd` (default 0.01) the step is `learning_rate · (ŷ − y) x`, the
    /// gradient of `½ (ŷ − y)²`, so it is River's `optim.SGD` rate times 2; with `adagrad` and
    /// `adam` (default 0.1, River's) it is River's rate (their steps do not change when the
    /// gradient is scaled, but for ε).
    pub learning_rate: f64,
    /// `clip_gradient`: the loss gradient `ŷ − y` is clipped to ±`clip_gradient` before the
    /// step (default 1e12; River clips its gradient `2 (ŷ − y)` the same way).
    pub clip_gradient: f64,
    /// `l2`: L2 penalty on the weights (default 0).
    pub l2: f64,
    /// `fit_intercept` (default true).
    pub fit_intercept: bool,
    /// `center_label`: predict the running mean of the labels learnt plus the linear model
    /// (default true).
    pub center_label: bool,
    /// The names of the added columns.
    pub outputs: LearnerColumns,
    /// Fields `guard` and `update` (with parameter servers).
    pub policy: ServingPolicy,
    /// `parameter_shards`: partitions of the parameter servers (default: the stage's
    /// parallelism).
    pub parameter_shards: Option<u32>,
}

/// `kind = "kmeans"`: Flink ML's `OnlineKMeans` from `k` random centroids (uniform in
/// [0, 1) per dimension, weight 0, drawn from `seed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansStage {
    /// `features`: a vector column or numeric columns.
    pub features: FeatureInput,
    /// `k`: the number of clusters.
    pub k: u32,
    /// `decay_factor`: weight kept from the past at each update, in [0, 1] (default 0).
    pub decay_factor: f64,
    /// `global_batch_size`: points per model update (default 32).
    pub global_batch_size: u64,
    /// `seed` of the initial centroids (default 0).
    pub seed: u64,
    /// `parameter_shards`: partitions of the parameter servers (default: the stage's
    /// parallelism; only in a job with checkpoints).
    pub parameter_shards: Option<u32>,
    /// The names of the added columns.
    pub outputs: LearnerColumns,
    /// `guard`, `update` and `warmup` of its versions (the loss is the squared distance to
    /// the assigned centroid).
    pub policy: ServingPolicy,
}

/// The River recommender a `matrix_factorization` stage reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MfModel {
    /// `"baseline"`: global mean plus user and item biases.
    Baseline,
    /// `"biased_mf"` (default): biases plus the dot product of latent factors.
    BiasedMf,
    /// `"funk_mf"`: the dot product of latent factors only.
    FunkMf,
}

/// `kind = "matrix_factorization"`: online matrix factorisation of `(user, item, rating)` by
/// SGD, as River's `reco` models, with River's defaults but for biased MF's learning rates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixFactorizationStage {
    /// `user`: the user id column (i64 or string).
    pub user: String,
    /// `item`: the item id column (i64 or string).
    pub item: String,
    /// `rating`: the numeric rating column; null: predict only.
    pub rating: String,
    /// `model` (default `biased_mf`).
    pub model: MfModel,
    /// `n_factors`: latent factors per user and item (default 10; unused by `baseline`).
    pub n_factors: u64,
    /// `bias_learning_rate` (default 0.025 for `biased_mf`, 0.01 otherwise).
    pub bias_learning_rate: f64,
    /// `latent_learning_rate` (default 0.025 for `biased_mf`, 0.1 for `funk_mf`). River's
    /// defaults are 0.01 and 0.1; 0.025 is the rate of River's documented `BiasedMF` example,
    /// which reaches RMSE 0.949 on MovieLens-100K in time order against 0.975 at 0.01.
    pub latent_learning_rate: f64,
    /// `l2_bias` (default 0).
    pub l2_bias: f64,
    /// `l2_latent` (default 0).
    pub l2_latent: f64,
    /// `init_std`: standard deviation of the initial latent factors (default 0.1).
    pub init_std: f64,
    /// `clip_gradient`: bound on the loss gradient (default 1e12).
    pub clip_gradient: f64,
    /// `seed` of the initial latent factors (default 0).
    pub seed: u64,
    /// `parameter_shards`: set, the stage trains one model on that many parameter server
    /// partitions (items and the global mean; only in a job with checkpoints); unset, each
    /// partition keeps its own model.
    pub parameter_shards: Option<u32>,
    /// The names of the added columns.
    pub outputs: LearnerColumns,
    /// `guard`, `update` and `warmup` of its versions (with `parameter_shards`; the loss is
    /// the squared error of a rated row).
    pub policy: ServingPolicy,
}

/// `kind = "recommend"`: online top-K recommendations per user. Learns biased matrix
/// factorisation and item-to-item co-occurrence (Swing-style weights) from
/// `(user, item, strength)` events, and after each event ranks candidates (items that
/// co-occur with the user's recent items, and popular ones, minus those the user has seen)
/// into the user's top `k`. Users are split between two variants for an A/B test:
/// `mf` (ranked by the factorisation's score) and `cooccurrence` (ranked by co-occurrence).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecommendStage {
    /// `user`: the user id column (i64 or string).
    pub user: String,
    /// `item`: the item id column (i64).
    pub item: String,
    /// `strength`: the numeric interaction strength (e.g. view 1 … purchase 5); null: rank
    /// only, learn nothing.
    pub strength: String,
    /// `k`: items per list (default 10).
    pub k: u32,
    /// `history`: recent distinct items kept per user, the seeds of its candidates and the
    /// items it is not recommended again (default 20).
    pub history: u32,
    /// `neighbours`: co-occurring items kept per item (default 50).
    pub neighbours: u32,
    /// `candidates`: candidates scored per list (default 100).
    pub candidates: u32,
    /// `ab_split`: the share of users (by a hash of the id) ranked by the `cooccurrence`
    /// variant; the others by `mf` (default 0.5).
    pub ab_split: f64,
    /// `n_factors`: latent factors of the factorisation (default 10).
    pub n_factors: u64,
    /// `seed` of the initial latent factors (default 0).
    pub seed: u64,
}

/// The columns `recommend` adds: `items` (vector of item ids, best first), `scores`
/// (vector, the items' scores), `variant` (string), `model_version` (i64: updates the
/// partition's model had made) and `hit` (f64: 1 when the row's item was in the list served
/// to the user before the row, 0 when not, null before the user had a list).
pub const RECOMMEND_COLUMNS: [(&str, crate::value::ValueType); 5] = [
    ("items", crate::value::ValueType::Dense),
    ("scores", crate::value::ValueType::Dense),
    ("variant", crate::value::ValueType::Str),
    (MODEL_VERSION, crate::value::ValueType::I64),
    ("hit", crate::value::ValueType::F64),
];

/// Which registered version of its model a `predict` stage serves: fields `alias` and
/// `version` (at most one; neither: the alias `champion`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PredictVersion {
    /// `alias = "NAME"`: the version the alias names, following it when it moves.
    Alias(String),
    /// `version = N`: that registered version (a checkpoint id of the job, or an imported
    /// version's).
    Version(u64),
}

/// The alias a `predict` stage follows when it names neither `alias` nor `version`: the one
/// `quiver model deploy` moves.
pub const DEFAULT_PREDICT_ALIAS: &str = "champion";

/// What a `predict` stage adds to a row besides `model_version`, by its model's learner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Predicts {
    /// `prediction` (a `linear_regression` model).
    #[default]
    Regression,
    /// `prediction` and `probability` (a `logistic_regression` model).
    Classification,
    /// `cluster` and `prediction`, the nearest centroid's index (a `kmeans` model).
    Clustering,
}

/// `kind = "predict"`: scores every row with a registered version of the model of `model`,
/// a learner with parameter servers of the same job, without training; adds what
/// [`Predicts`] says and `model_version`, all null until a version serves (design §6,
/// "Parameter servers, versions and swaps").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictStage {
    /// `model`: the learner stage whose versions score the rows.
    pub model: String,
    /// `alias` / `version`: which version.
    pub version: PredictVersion,
    /// `features`: a vector column or numeric columns of the stage's input; omitted, the
    /// learner's `features` (validation fills it in, so a validated spec has it).
    pub features: Option<FeatureInput>,
    /// What the model adds, filled in by validation from its learner.
    pub predicts: Predicts,
    /// The names of the added columns (`prediction_col`, `probability_col`, `cluster_col`,
    /// `model_version_col`).
    pub outputs: LearnerColumns,
    /// `warmup`: predictions a partition runs with a version it loads, before the version
    /// scores a record (default [`DEFAULT_WARMUP`]).
    pub warmup: u32,
}

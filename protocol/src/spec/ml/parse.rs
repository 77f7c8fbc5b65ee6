//! Reading the table of an ML stage: its fields, their types, ranges and defaults. Columns are
//! checked against the input schema later, by `schema`.

use super::{
    DriftDetectorKind, FeatureHasherStage, FeatureInput, Guard, KMeansStage, LearnerColumns,
    LinearOptimizer, LinearRegressionStage, LogisticRegressionStage, MatrixFactorizationStage,
    MfModel, OneHotStage, PredictStage, PredictVersion, Predicts, RecommendStage, ServingPolicy,
    StandardScalerStage, UpdatePolicy, VectorAssemblerStage, DEFAULT_CLIP_GRADIENT,
    DEFAULT_MAX_CATEGORIES, DEFAULT_NUM_FEATURES, DEFAULT_PREDICT_ALIAS, DEFAULT_WARMUP,
};
use crate::spec::error::SpecError;
use crate::spec::fields::Fields;
use crate::spec::StageKind;
use toml::Value;

/// The ML stage kinds, in the order the spec's list of kinds shows them.
pub(in crate::spec) const KINDS: [&str; 10] = [
    "standard_scaler",
    "feature_hasher",
    "vector_assembler",
    "one_hot",
    "logistic_regression",
    "linear_regression",
    "kmeans",
    "matrix_factorization",
    "predict",
    "recommend",
];

/// Fields every stage accepts except `late` (ML stages have no windows, so no late records).
const COMMON_FIELDS: [&str; 7] = [
    "name",
    "kind",
    "input",
    "parallelism",
    "pool",
    crate::spec::checks::FIELDS[0],
    crate::spec::checks::FIELDS[1],
];
/// How to name a feature input.
const FEATURES_FORMAT: &str = "a vector column, e.g. \"features\", or a non-empty list of \
                               numeric columns, e.g. [\"x1\", \"x2\"]";

/// The range a number field must be in.
#[derive(Clone, Copy)]
enum Range {
    /// `> 0`
    Positive,
    /// `≥ 0`
    NonNegative,
    /// `[0, 1]`
    Unit,
}

impl Range {
    fn contains(self, x: f64) -> bool {
        x.is_finite()
            && match self {
                Range::Positive => x > 0.0,
                Range::NonNegative => x >= 0.0,
                Range::Unit => (0.0..=1.0).contains(&x),
            }
    }

    fn allowed(self) -> &'static str {
        match self {
            Range::Positive => "a number greater than 0",
            Range::NonNegative => "a number ≥ 0",
            Range::Unit => "a number from 0 to 1",
        }
    }
}

/// Reads the table of ML stage `kind` (one of [`KINDS`]); `None` if `kind` is not an ML kind.
pub(in crate::spec) fn parse(
    kind: &str,
    fields: &Fields<'_>,
) -> Option<Result<StageKind, SpecError>> {
    let read = match kind {
        "standard_scaler" => standard_scaler,
        "feature_hasher" => feature_hasher,
        "vector_assembler" => vector_assembler,
        "one_hot" => one_hot,
        "logistic_regression" => logistic_regression,
        "linear_regression" => linear_regression,
        "kmeans" => kmeans,
        "matrix_factorization" => matrix_factorization,
        "predict" => predict,
        "recommend" => recommend,
        _ => return None,
    };
    Some(read(fields))
}

/// Rejects fields other than the common ones and `own`.
fn deny_unknown(fields: &Fields<'_>, own: &[&str]) -> Result<(), SpecError> {
    if let Some(late) = fields.get("late") {
        return Err(fields.invalid(
            "late",
            late,
            "no value on an ML stage: only windowed aggregates have late records; remove `late`",
        ));
    }
    fields.deny_unknown(&[COMMON_FIELDS.as_slice(), own].concat())
}

fn standard_scaler(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &["columns", "output", "with_mean", "with_std", "window"],
    )?;
    Ok(StageKind::StandardScaler(StandardScalerStage {
        columns: features(fields, "columns")?,
        output: output(fields, "dense vector")?,
        with_mean: flag(fields, "with_mean", false)?,
        with_std: flag(fields, "with_std", true)?,
        window: fields.integer("window", 2, u64::MAX)?,
    }))
}

fn feature_hasher(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &["columns", "categorical", "num_features", "output"],
    )?;
    let columns = column_list(fields, "columns", "columns to hash")?;
    let categorical = fields
        .string_list(
            "categorical",
            "a list of numeric columns among `columns` to hash as categories",
        )?
        .unwrap_or_default();
    if let Some(extra) = categorical.iter().find(|c| !columns.contains(c)) {
        return Err(fields.invalid(
            "categorical",
            &Value::String(extra.clone()),
            format!("columns listed in `columns`: {}", columns.join(", ")),
        ));
    }
    let num_features = fields
        .integer("num_features", 1, i32::MAX as u64)?
        .map_or(DEFAULT_NUM_FEATURES, |n| {
            u32::try_from(n).unwrap_or(DEFAULT_NUM_FEATURES)
        });
    Ok(StageKind::FeatureHasher(FeatureHasherStage {
        columns,
        categorical,
        num_features,
        output: output(fields, "sparse vector")?,
    }))
}

fn vector_assembler(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(fields, &["columns", "output"])?;
    Ok(StageKind::VectorAssembler(VectorAssemblerStage {
        columns: column_list(fields, "columns", "numeric or vector columns")?,
        output: output(fields, "dense vector")?,
    }))
}

fn one_hot(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(fields, &["column", "max_categories", "output"])?;
    let max_categories = fields
        .integer("max_categories", 1, 1 << 24)?
        .map_or(DEFAULT_MAX_CATEGORIES, |n| {
            u32::try_from(n).unwrap_or(DEFAULT_MAX_CATEGORIES)
        });
    Ok(StageKind::OneHot(OneHotStage {
        column: column(fields, "column", "the string or i64 column to encode")?,
        max_categories,
        output: output(fields, "sparse vector")?,
    }))
}

fn logistic_regression(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "features",
            "label",
            "optimizer",
            "learning_rate",
            "clip_gradient",
            "alpha",
            "beta",
            "reg",
            "elastic_net",
            "global_batch_size",
            "fit_intercept",
            "prediction_col",
            "probability_col",
            "model_version_col",
            "guard",
            "update",
            "warmup",
            "parameter_shards",
        ],
    )?;
    let optimizer = optimizer(fields, &FTRL_OPTIMIZERS)?.unwrap_or(LinearOptimizer::Ftrl);
    let alpha = number(fields, "alpha", 0.2, Range::Positive)?;
    let elastic_net = number(fields, "elastic_net", 0.0, Range::Unit)?;
    let global_batch_size = fields
        .integer("global_batch_size", 1, 1 << 20)?
        .unwrap_or(1);
    let learning_rate = match optimizer.river_learning_rate() {
        None => {
            if let Some(value) = fields.get("learning_rate") {
                return Err(fields.invalid(
                    "learning_rate",
                    value,
                    "no value with optimizer \"ftrl\", whose rate is `alpha`; or choose \
                     optimizer = \"sgd\", \"adagrad\" or \"adam\"",
                ));
            }
            alpha
        }
        Some(default) => {
            // FTRL's own settings would be silently ignored.
            for key in ["alpha", "beta"] {
                ftrl_only(fields, key, optimizer, |_| true)?;
            }
            ftrl_only(fields, "elastic_net", optimizer, |v| v != 0.0)?;
            ftrl_only(fields, "global_batch_size", optimizer, |v| v != 1.0)?;
            number(fields, "learning_rate", default, Range::Positive)?
        }
    };
    Ok(StageKind::LogisticRegression(LogisticRegressionStage {
        features: features(fields, "features")?,
        label: column(fields, "label", "the 0/1 label column")?,
        optimizer,
        learning_rate,
        clip_gradient: clip_gradient(fields)?,
        alpha,
        beta: number(fields, "beta", 1.0, Range::NonNegative)?,
        reg: number(fields, "reg", 0.0, Range::NonNegative)?,
        elastic_net,
        global_batch_size,
        fit_intercept: flag(fields, "fit_intercept", true)?,
        outputs: learner_columns(fields)?,
        policy: serving_policy(fields)?,
        parameter_shards: parameter_shards(fields)?,
    }))
}

fn linear_regression(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "features",
            "label",
            "optimizer",
            "learning_rate",
            "clip_gradient",
            "l2",
            "fit_intercept",
            "center_label",
            "prediction_col",
            "model_version_col",
            "guard",
            "update",
            "warmup",
            "parameter_shards",
        ],
    )?;
    let optimizer = optimizer(fields, &GRADIENT_OPTIMIZERS)?.unwrap_or(LinearOptimizer::Sgd);
    let default_rate = optimizer.river_learning_rate().unwrap_or(0.01);
    Ok(StageKind::LinearRegression(LinearRegressionStage {
        features: features(fields, "features")?,
        label: column(fields, "label", "the numeric target column")?,
        optimizer,
        learning_rate: number(fields, "learning_rate", default_rate, Range::Positive)?,
        clip_gradient: clip_gradient(fields)?,
        l2: number(fields, "l2", 0.0, Range::NonNegative)?,
        fit_intercept: flag(fields, "fit_intercept", true)?,
        center_label: flag(fields, "center_label", true)?,
        outputs: learner_columns(fields)?,
        policy: serving_policy(fields)?,
        parameter_shards: parameter_shards(fields)?,
    }))
}

fn predict(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "model",
            "alias",
            "version",
            "features",
            "prediction_col",
            "probability_col",
            "cluster_col",
            "model_version_col",
            "warmup",
        ],
    )?;
    let model = column(
        fields,
        "model",
        "the learner stage whose versions score the rows",
    )?;
    let alias = fields.string("alias", "\"NAME\" of an alias, e.g. \"champion\"")?;
    let version = fields.integer("version", 1, i64::MAX as u64)?;
    let version = match (alias, version) {
        (Some(_), Some(_)) => {
            return Err(fields.invalid(
                "version",
                fields.get("version").unwrap_or(&Value::Integer(0)),
                "no value beside `alias`: serve an alias (it follows the alias when it moves) \
                 or a fixed version, not both; remove one",
            ))
        }
        (Some(alias), None) if !crate::models::is_valid_alias(alias) => {
            return Err(fields.invalid(
                "alias",
                &Value::String(alias.to_string()),
                "an alias name: a lowercase letter, then lowercase letters, digits, '_' or '-'",
            ))
        }
        (Some(alias), None) => PredictVersion::Alias(alias.to_string()),
        (None, Some(version)) => PredictVersion::Version(version),
        (None, None) => PredictVersion::Alias(DEFAULT_PREDICT_ALIAS.to_string()),
    };
    let features = match fields.get("features") {
        None => None,
        Some(_) => Some(features(fields, "features")?),
    };
    Ok(StageKind::Predict(PredictStage {
        model,
        version,
        features,
        predicts: Predicts::default(),
        outputs: learner_columns(fields)?,
        warmup: warmup(fields)?,
    }))
}

/// `parameter_shards`: from 1 to 32768 (at most `max_parallelism`, checked with the job).
fn parameter_shards(fields: &Fields<'_>) -> Result<Option<u32>, SpecError> {
    Ok(fields
        .integer("parameter_shards", 1, 32_768)?
        .and_then(|n| u32::try_from(n).ok()))
}

/// The most predictions `warmup` runs per version.
const MAX_WARMUP: u64 = 1_000_000;

/// Fields `guard`, `update` and `warmup` of a learner.
fn serving_policy(fields: &Fields<'_>) -> Result<ServingPolicy, SpecError> {
    let guard = match fields.table("guard", "{ max_increase = 0.2, min_records = 1000 }")? {
        None => None,
        Some(guard) => {
            guard.deny_unknown(&["metric", "max_increase", "min_records"])?;
            guard.choice("metric", &[("loss", ())])?;
            let (max_increase, min_records) = judged(&guard)?;
            Some(Guard {
                max_increase,
                min_records,
            })
        }
    };
    let shape = "{ on = \"interval\" | \"performance\" | \"drift\", ... }";
    let update = match fields.table("update", shape)? {
        None => None,
        Some(update) => {
            let on = update.choice("on", &[("interval", 0), ("performance", 1), ("drift", 2)])?;
            Some(match on {
                None => return Err(update.missing("on", "interval, performance or drift")),
                Some(0) => {
                    update.deny_unknown(&["on", "every"])?;
                    let every = update.duration("every", true)?.ok_or_else(|| {
                        update.missing("every", "how long a version serves, e.g. \"10m\"")
                    })?;
                    UpdatePolicy::Interval { every }
                }
                Some(1) => {
                    update.deny_unknown(&["on", "max_increase", "min_records"])?;
                    let (max_increase, min_records) = judged(&update)?;
                    UpdatePolicy::Performance {
                        max_increase,
                        min_records,
                    }
                }
                Some(_) => {
                    update.deny_unknown(&["on", "column", "detector"])?;
                    let detector = update
                        .choice(
                            "detector",
                            &[
                                ("page_hinkley", DriftDetectorKind::PageHinkley),
                                ("adwin", DriftDetectorKind::Adwin),
                            ],
                        )?
                        .unwrap_or(DriftDetectorKind::PageHinkley);
                    UpdatePolicy::Drift {
                        column: column(&update, "column", "the numeric column to watch")?,
                        detector,
                    }
                }
            })
        }
    };
    Ok(ServingPolicy {
        guard,
        update,
        warmup: warmup(fields)?,
    })
}

/// `warmup`: from 0 to [`MAX_WARMUP`] (default [`DEFAULT_WARMUP`]).
fn warmup(fields: &Fields<'_>) -> Result<u32, SpecError> {
    Ok(fields
        .integer("warmup", 0, MAX_WARMUP)?
        .map_or(DEFAULT_WARMUP, |n| n as u32))
}

/// `max_increase` (default 0.2) and `min_records` (default 1000) of a guard or policy.
fn judged(fields: &Fields<'_>) -> Result<(f64, u64), SpecError> {
    let max_increase = number(fields, "max_increase", 0.2, Range::Positive)?;
    let min_records = fields.integer("min_records", 1, 1 << 40)?.unwrap_or(1000);
    Ok((max_increase, min_records))
}

/// The optimisers of `linear_regression`.
const GRADIENT_OPTIMIZERS: [LinearOptimizer; 3] = [
    LinearOptimizer::Sgd,
    LinearOptimizer::AdaGrad,
    LinearOptimizer::Adam,
];
/// The optimisers of `logistic_regression`, its default first.
const FTRL_OPTIMIZERS: [LinearOptimizer; 4] = [
    LinearOptimizer::Ftrl,
    LinearOptimizer::Sgd,
    LinearOptimizer::AdaGrad,
    LinearOptimizer::Adam,
];

/// The optional `optimizer` field, one of `allowed`.
fn optimizer(
    fields: &Fields<'_>,
    allowed: &[LinearOptimizer],
) -> Result<Option<LinearOptimizer>, SpecError> {
    let options: Vec<_> = allowed.iter().map(|o| (o.name(), *o)).collect();
    fields.choice("optimizer", &options)
}

/// The optional `clip_gradient` field: a bound on the loss gradient, > 0.
fn clip_gradient(fields: &Fields<'_>) -> Result<f64, SpecError> {
    number(
        fields,
        "clip_gradient",
        DEFAULT_CLIP_GRADIENT,
        Range::Positive,
    )
}

/// Refuses FTRL's field `key` with another optimizer when `set` holds for its number (a
/// non-number is refused too).
fn ftrl_only(
    fields: &Fields<'_>,
    key: &str,
    optimizer: LinearOptimizer,
    set: impl Fn(f64) -> bool,
) -> Result<(), SpecError> {
    let Some(value) = fields.get(key) else {
        return Ok(());
    };
    let number = match value {
        Value::Float(x) => Some(*x),
        Value::Integer(n) => Some(*n as f64),
        _ => None,
    };
    if number.is_some_and(|x| !set(x)) {
        return Ok(());
    }
    Err(fields.invalid(
        key,
        value,
        format!(
            "no value with optimizer \"{}\": `{key}` is FTRL's; remove it or set optimizer = \"ftrl\"",
            optimizer.name()
        ),
    ))
}

fn kmeans(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "features",
            "k",
            "decay_factor",
            "global_batch_size",
            "seed",
            "parameter_shards",
            "cluster_col",
            "prediction_col",
            "model_version_col",
            "guard",
            "update",
            "warmup",
        ],
    )?;
    let k = fields
        .integer("k", 1, 1 << 16)?
        .ok_or_else(|| fields.missing("k", "add k = the number of clusters, e.g. 3"))?;
    Ok(StageKind::KMeans(KMeansStage {
        features: features(fields, "features")?,
        k: u32::try_from(k).unwrap_or(1),
        decay_factor: number(fields, "decay_factor", 0.0, Range::Unit)?,
        global_batch_size: fields
            .integer("global_batch_size", 1, 1 << 20)?
            .unwrap_or(32),
        seed: fields.integer("seed", 0, u64::MAX)?.unwrap_or(0),
        parameter_shards: parameter_shards(fields)?,
        outputs: learner_columns(fields)?,
        policy: serving_policy(fields)?,
    }))
}

fn matrix_factorization(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "user",
            "item",
            "rating",
            "model",
            "n_factors",
            "bias_learning_rate",
            "latent_learning_rate",
            "l2_bias",
            "l2_latent",
            "init_std",
            "clip_gradient",
            "seed",
            "parameter_shards",
            "prediction_col",
            "model_version_col",
            "guard",
            "update",
            "warmup",
        ],
    )?;
    let model = fields
        .choice(
            "model",
            &[
                ("baseline", MfModel::Baseline),
                ("biased_mf", MfModel::BiasedMf),
                ("funk_mf", MfModel::FunkMf),
            ],
        )?
        .unwrap_or(MfModel::BiasedMf);
    // River's defaults, but biased MF takes the rates of River's documented example (0.025,
    // `MfParams::biased_mf_stream`).
    let (bias_default, latent_default) = match model {
        MfModel::BiasedMf => (0.025, 0.025),
        MfModel::FunkMf => (0.01, 0.1),
        MfModel::Baseline => (0.01, 0.01),
    };
    Ok(StageKind::MatrixFactorization(MatrixFactorizationStage {
        user: column(fields, "user", "the user id column (i64 or string)")?,
        item: column(fields, "item", "the item id column (i64 or string)")?,
        rating: column(fields, "rating", "the numeric rating column")?,
        model,
        n_factors: fields.integer("n_factors", 1, 1 << 12)?.unwrap_or(10),
        bias_learning_rate: number(fields, "bias_learning_rate", bias_default, Range::Positive)?,
        latent_learning_rate: number(
            fields,
            "latent_learning_rate",
            latent_default,
            Range::Positive,
        )?,
        l2_bias: number(fields, "l2_bias", 0.0, Range::NonNegative)?,
        l2_latent: number(fields, "l2_latent", 0.0, Range::NonNegative)?,
        init_std: number(fields, "init_std", 0.1, Range::NonNegative)?,
        clip_gradient: number(fields, "clip_gradient", 1e12, Range::Positive)?,
        seed: fields.integer("seed", 0, u64::MAX)?.unwrap_or(0),
        parameter_shards: parameter_shards(fields)?,
        outputs: learner_columns(fields)?,
        policy: serving_policy(fields)?,
    }))
}

/// The names of the columns a learner adds (`*_col` fields; `deny_unknown` has already
/// refused those of other kinds).
fn learner_columns(fields: &Fields<'_>) -> Result<LearnerColumns, SpecError> {
    let defaults = LearnerColumns::default();
    Ok(LearnerColumns {
        prediction: column_name(fields, "prediction_col", defaults.prediction)?,
        probability: column_name(fields, "probability_col", defaults.probability)?,
        model_version: column_name(fields, "model_version_col", defaults.model_version)?,
        cluster: column_name(fields, "cluster_col", defaults.cluster)?,
    })
}

/// An optional non-empty column name.
fn column_name(fields: &Fields<'_>, key: &str, default: String) -> Result<String, SpecError> {
    match fields.get(key) {
        None => Ok(default),
        Some(Value::String(name)) if !name.is_empty() => Ok(name.clone()),
        Some(other) => Err(fields.invalid(key, other, "a non-empty column name")),
    }
}

fn recommend(fields: &Fields<'_>) -> Result<StageKind, SpecError> {
    deny_unknown(
        fields,
        &[
            "user",
            "item",
            "strength",
            "k",
            "history",
            "neighbours",
            "candidates",
            "ab_split",
            "n_factors",
            "seed",
        ],
    )?;
    let count = |key, max, default| -> Result<u32, SpecError> {
        Ok(fields.integer(key, 1, max)?.map_or(default, |n| n as u32))
    };
    Ok(StageKind::Recommend(RecommendStage {
        user: column(fields, "user", "the user id column (i64 or string)")?,
        item: column(fields, "item", "the item id column (i64)")?,
        strength: column(
            fields,
            "strength",
            "the numeric interaction strength column",
        )?,
        k: count("k", 100, 10)?,
        history: count("history", 1000, 20)?,
        neighbours: count("neighbours", 1000, 50)?,
        candidates: count("candidates", 10_000, 100)?,
        ab_split: number(fields, "ab_split", 0.5, Range::Unit)?,
        n_factors: fields.integer("n_factors", 1, 1 << 12)?.unwrap_or(10),
        seed: fields.integer("seed", 0, u64::MAX)?.unwrap_or(0),
    }))
}

/// A required column name; `what` says which column, for the hint.
fn column(fields: &Fields<'_>, key: &str, what: &str) -> Result<String, SpecError> {
    let shape = format!("\"COLUMN\": {what}");
    Ok(fields.required_string(key, &shape)?.to_string())
}

/// The required `output` column name; `what` is its type, for the hint.
fn output(fields: &Fields<'_>, what: &str) -> Result<String, SpecError> {
    let name = fields.required_string(
        "output",
        &format!("\"NAME\" of the {what} column this stage adds, e.g. \"features\""),
    )?;
    if name.is_empty() {
        return Err(fields.invalid(
            "output",
            &Value::String(String::new()),
            "a non-empty column name",
        ));
    }
    Ok(name.to_string())
}

/// A required, non-empty list of column names.
fn column_list(fields: &Fields<'_>, key: &str, what: &str) -> Result<Vec<String>, SpecError> {
    let shape = format!("a non-empty list of {what}, e.g. [\"x1\", \"x2\"]");
    let list = fields
        .string_list(key, &shape)?
        .ok_or_else(|| fields.missing(key, format!("add {key} = {shape}")))?;
    if list.is_empty() {
        return Err(fields.invalid(key, &Value::Array(Vec::new()), shape));
    }
    Ok(list)
}

/// A required feature input: a string (a vector column) or a list (numeric columns).
fn features(fields: &Fields<'_>, key: &str) -> Result<FeatureInput, SpecError> {
    match fields.get(key) {
        None => Err(fields.missing(key, format!("add {key} = {FEATURES_FORMAT}"))),
        Some(Value::String(name)) if !name.is_empty() => Ok(FeatureInput::Vector(name.clone())),
        Some(Value::Array(items)) if !items.is_empty() => {
            let names = fields
                .string_list(key, FEATURES_FORMAT)?
                .unwrap_or_default();
            Ok(FeatureInput::Columns(names))
        }
        Some(other) => Err(fields.invalid(key, other, FEATURES_FORMAT)),
    }
}

/// An optional number (integer or float) in `range`.
fn number(fields: &Fields<'_>, key: &str, default: f64, range: Range) -> Result<f64, SpecError> {
    let Some(value) = fields.get(key) else {
        return Ok(default);
    };
    match value {
        Value::Float(x) if range.contains(*x) => Ok(*x),
        Value::Integer(n) if range.contains(*n as f64) => Ok(*n as f64),
        other => Err(fields.invalid(key, other, range.allowed())),
    }
}

/// An optional boolean.
fn flag(fields: &Fields<'_>, key: &str, default: bool) -> Result<bool, SpecError> {
    match fields.get(key) {
        None => Ok(default),
        Some(Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(fields.invalid(key, other, "true or false")),
    }
}

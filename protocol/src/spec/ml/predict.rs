//! What a `predict` stage serves, checked across stages: its `model` names a learner with
//! parameter servers of the same job, and its features have that learner's dimension where
//! both are lists of columns (a vector column's dimension is known only at run time). Fills
//! in the stage's features (the learner's, unless set) and what the model predicts
//! ([`Predicts`]), before schemas are computed.

use super::{FeatureInput, Predicts};
use crate::spec::error::SpecError;
use crate::spec::{StageKind, StageSpec};

/// What a learner with parameter servers gives the `predict` stages serving its model.
struct Model {
    features: FeatureInput,
    predicts: Predicts,
}

/// The model of learner stage `stage`, if it trains on parameter servers (given checkpoints).
fn model_of(stage: &StageSpec) -> Option<Model> {
    match &stage.kind {
        StageKind::LogisticRegression(s) => Some(Model {
            features: s.features.clone(),
            predicts: Predicts::Classification,
        }),
        StageKind::LinearRegression(s) => Some(Model {
            features: s.features.clone(),
            predicts: Predicts::Regression,
        }),
        StageKind::KMeans(s) => Some(Model {
            features: s.features.clone(),
            predicts: Predicts::Clustering,
        }),
        _ => None,
    }
}

/// Checks the `model` of every `predict` stage of `stages` and fills in what it takes from
/// it; `checkpointing`: the job has `checkpoint_interval` (learners have parameter servers
/// and versions only then).
pub(in crate::spec) fn resolve(
    stages: &mut [StageSpec],
    checkpointing: bool,
) -> Result<(), SpecError> {
    let learners: Vec<String> = stages
        .iter()
        .filter(|s| model_of(s).is_some())
        .map(|s| s.name.clone())
        .collect();
    for i in 0..stages.len() {
        let StageKind::Predict(predict) = &stages[i].kind else {
            continue;
        };
        let at = format!("stage \"{}\"", stages[i].name);
        let invalid = |field: &str, value: String, allowed: String| SpecError::Invalid {
            at: at.clone(),
            field: field.to_string(),
            value,
            allowed,
        };
        let known = if learners.is_empty() {
            "none in this job: add a logistic_regression, linear_regression or kmeans stage"
                .to_string()
        } else {
            learners.join(", ")
        };
        let Some(learner) = stages.iter().find(|s| s.name == predict.model) else {
            return Err(invalid(
                "model",
                format!("{:?}", predict.model),
                format!(
                    "the name of a logistic_regression, linear_regression or kmeans stage: {known}"
                ),
            ));
        };
        let Some(model) = model_of(learner) else {
            let why = match learner.kind {
                StageKind::MatrixFactorization(ref s) if s.parameter_shards.is_some() => {
                    "is a matrix_factorization, whose versions predict with the users its own partitions hold"
                }
                _ => "keeps a model per partition, which has no versions to serve",
            };
            return Err(invalid(
                "model",
                format!("{:?}", predict.model),
                format!(
                    "a logistic_regression, linear_regression or kmeans stage, whose versions \
                     are registered from its parameter servers; \"{}\" {why}. Learners of \
                     this job: {known}",
                    learner.name
                ),
            ));
        };
        if !checkpointing {
            return Err(invalid(
                "model",
                format!("{:?}", predict.model),
                "a learner in a job with checkpoints: versions are registered at checkpoints, \
                 so set job.checkpoint_interval (e.g. \"1s\")"
                    .to_string(),
            ));
        }
        if let (Some(FeatureInput::Columns(own)), FeatureInput::Columns(theirs)) =
            (&predict.features, &model.features)
        {
            if own.len() != theirs.len() {
                return Err(invalid(
                    "features",
                    format!("[{}]", own.join(", ")),
                    format!(
                        "{} numeric columns, the dimension of the model of \"{}\" (its \
                         features are [{}]); or omit `features` to read the learner's",
                        theirs.len(),
                        learner.name,
                        theirs.join(", ")
                    ),
                ));
            }
        }
        if let StageKind::Predict(predict) = &mut stages[i].kind {
            predict.features.get_or_insert(model.features);
            predict.predicts = model.predicts;
        }
    }
    Ok(())
}

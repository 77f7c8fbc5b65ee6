//! `kind = "linear_regression"`: least-squares linear regression updated by one gradient step
//! per example (`quiver_ml::linear::StreamingLinearRegressionSgd`) with the spec's `optimizer`
//! (SGD, AdaGrad or Adam), starting from zero weights. Adds `prediction` and `model_version`
//! (a null label: predict only).

use super::columns::data_error;
use super::learner::{MakeModel, Progressive};
use super::learnt::Learnt;
use super::sharing::Sharing;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::OperatorError;
use quiver_ml::linear::{Optimizer, StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_protocol::spec::{LinearOptimizer, LinearRegressionStage, Predicts, StageSpec};
use quiver_protocol::Schema;

/// The library's optimiser for a spec's gradient optimiser (`None` for FTRL, which is not a
/// per-coordinate gradient rule).
pub(super) fn gradient_optimizer(optimizer: LinearOptimizer) -> Option<Optimizer> {
    match optimizer {
        LinearOptimizer::Sgd => Some(Optimizer::Sgd),
        LinearOptimizer::AdaGrad => Some(Optimizer::AdaGrad),
        LinearOptimizer::Adam => Some(Optimizer::Adam),
        LinearOptimizer::Ftrl => None,
    }
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &LinearRegressionStage,
    input: &Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let make = maker(&stage.name, spec)?;
    let learner = Progressive::new(
        stage,
        &spec.features,
        &spec.label,
        input,
        Predicts::Regression,
        Learnt::new(make, sharing),
        state,
    )?
    .with_policy(&spec.policy, input)?;
    Ok(Box::new(learner))
}

/// The maker of the model `spec` (of stage `stage`) describes.
pub(super) fn maker(
    stage: &str,
    spec: &LinearRegressionStage,
) -> Result<MakeModel<StreamingLinearRegressionSgd>, OperatorError> {
    let optimizer = gradient_optimizer(spec.optimizer).ok_or_else(|| {
        data_error(
            stage,
            "optimizer \"ftrl\" is logistic_regression's only; linear_regression takes sgd, adagrad or adam",
        )
    })?;
    let params = StreamingLinearRegressionParams {
        learning_rate: spec.learning_rate,
        l2: spec.l2,
        fit_intercept: spec.fit_intercept,
        center_label: spec.center_label,
        optimizer,
        clip_gradient: spec.clip_gradient,
    };
    params.validate().map_err(|e| data_error(stage, e))?;
    Ok(Box::new(move |dim| {
        StreamingLinearRegressionSgd::new(params.clone(), dim)
    }))
}

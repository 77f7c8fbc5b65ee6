//! `kind = "linear_regression"`: least-squares linear regression updated by one SGD step per
//! example (`quiver_ml::linear::StreamingLinearRegressionSgd`), starting from zero weights.
//! Adds `prediction` and `model_version` (a null label: predict only).

use super::columns::data_error;
use super::learner::{Learnt, Progressive};
use super::sharing::Sharing;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::OperatorError;
use quiver_ml::linear::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_protocol::spec::{LinearRegressionStage, StageSpec};
use quiver_protocol::Schema;

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &LinearRegressionStage,
    input: &Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = StreamingLinearRegressionParams {
        learning_rate: spec.learning_rate,
        l2: spec.l2,
        fit_intercept: spec.fit_intercept,
        center_label: spec.center_label,
    };
    params.validate().map_err(|e| data_error(&stage.name, e))?;
    let make = Box::new(move |dim| StreamingLinearRegressionSgd::new(params.clone(), dim));
    let learner = Progressive::new(
        stage,
        &spec.features,
        &spec.label,
        input,
        false,
        Learnt::new(make, sharing),
        state,
    )?;
    Ok(Box::new(learner))
}

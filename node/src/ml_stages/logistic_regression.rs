//! `kind = "logistic_regression"`: online binary logistic regression trained by FTRL-Proximal
//! (`quiver_ml::linear::OnlineLogisticRegression`, Flink ML's algorithm; the default) or by
//! SGD, AdaGrad or Adam (`quiver_ml::linear::StreamingLogisticRegression`, River's
//! `LogisticRegression`), as the spec's `optimizer` says; the stage's defaults are in
//! `LogisticRegressionStage`. Starts from zero coefficients. Adds `prediction` (0.0 / 1.0),
//! `probability` (of class 1) and `model_version`. Labels must be 0 or 1 (a null label:
//! predict only).

use super::columns::data_error;
use super::learner::{Build, MakeModel, Progressive};
use super::learnt::Learnt;
use super::linear_regression::gradient_optimizer;
use super::sharing::Sharing;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::OperatorError;
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, StreamingLogisticRegression,
    StreamingLogisticRegressionParams,
};
use quiver_ml::{OnlineLearner, Persist, SharedParameters};
use quiver_protocol::spec::{LogisticRegressionStage, Predicts, StageSpec};
use quiver_protocol::Schema;

/// The library parameters of a stage trained by FTRL.
pub(super) fn params(spec: &LogisticRegressionStage) -> FtrlParams {
    FtrlParams {
        alpha: spec.alpha,
        beta: spec.beta,
        reg: spec.reg,
        elastic_net: spec.elastic_net,
        global_batch_size: usize::try_from(spec.global_batch_size).unwrap_or(usize::MAX),
        fit_intercept: spec.fit_intercept,
        clip_gradient: spec.clip_gradient,
    }
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &LogisticRegressionStage,
    input: &Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let train = Train {
        stage,
        spec,
        input,
        state,
        sharing,
    };
    with_model(&stage.name, spec, train)
}

/// Builds `then` with the maker of the model `spec` (of stage `stage`) chooses: FTRL's, or
/// a gradient optimiser's.
pub(super) fn with_model<B: Build>(
    stage: &str,
    spec: &LogisticRegressionStage,
    then: B,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let Some(optimizer) = gradient_optimizer(spec.optimizer) else {
        let params = params(spec);
        params.validate().map_err(|e| data_error(stage, e))?;
        return then.build(Box::new(move |dim| {
            OnlineLogisticRegression::new(params.clone(), dim, None)
        }));
    };
    let params = StreamingLogisticRegressionParams {
        optimizer,
        learning_rate: spec.learning_rate,
        l2: spec.reg,
        fit_intercept: spec.fit_intercept,
        clip_gradient: spec.clip_gradient,
    };
    params.validate().map_err(|e| data_error(stage, e))?;
    then.build(Box::new(move |dim| {
        StreamingLogisticRegression::new(params.clone(), dim)
    }))
}

/// The learner's own partition, of either algorithm.
struct Train<'a> {
    stage: &'a StageSpec,
    spec: &'a LogisticRegressionStage,
    input: &'a Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
}

impl Build for Train<'_> {
    fn build<L>(self, make: MakeModel<L>) -> Result<Box<dyn AddColumns>, OperatorError>
    where
        L: OnlineLearner + Persist + SharedParameters + Send + 'static,
    {
        let learner = Progressive::new(
            self.stage,
            &self.spec.features,
            &self.spec.label,
            self.input,
            Predicts::Classification,
            Learnt::new(make, self.sharing),
            self.state,
        )?
        .with_policy(&self.spec.policy, self.input)?;
        Ok(Box::new(learner))
    }
}

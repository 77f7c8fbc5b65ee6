//! The machine-learning stages of a job: online feature stages and online learners from
//! `quiver-ml`, run per record inside the dataflow.
//!
//! - Feature stages (`standard_scaler`, `feature_hasher`, `vector_assembler`, `one_hot`) add
//!   one vector column to each row.
//! - Learners (`logistic_regression`, `linear_regression`, `kmeans`, `matrix_factorization`)
//!   predict each row with the current model, then learn from it (progressive validation), and
//!   add `prediction` (`cluster` for k-means), `probability` (logistic regression) and
//!   `model_version`: the version of the model that made the prediction.
//! - `predict` scores rows with a registered version of a learner's model, learning nothing
//!   (`predict`: the version its serving table entry pins; null outputs before one does).
//! - A row with a null feature gets null outputs and teaches nothing. A row with a null label
//!   (rating) is predicted but not learnt from.
//! - A NaN or infinite number is read as a null wherever it is: a non-finite feature (a
//!   numeric column, or any entry of a vector column) gives the row null outputs and teaches
//!   nothing (the hasher skips it, as it skips a null); a non-finite label or rating is
//!   predicted but not learnt from. No model or statistic ever absorbs one, so one bad value
//!   cannot poison the rows after it. (The library rejects them, `quiver_ml::finite`; sources
//!   are to reject them from files too, this is the defence inside the stages.)
//! - A learner update that would diverge (a parameter beyond `quiver_ml::MAX_PARAMETER`: a
//!   learning rate too high for the features' scale) is refused by the library and fails the
//!   job with its error naming the row, the parameter and what to change; the model is as it
//!   was before that row.
//! - The stages work on columnar batches (`stage`): each reads its input columns by type once
//!   per batch and then a record at a time from the columns' buffers (`columns`, `features`:
//!   a vector row is borrowed as the library's `Features` without a copy), builds its added
//!   columns with `ColumnBuilder`, and emits the input's columns shared (no copy) followed by
//!   the added ones.
//! - In a job with checkpoints the linear learners and k-means train one model on parameter
//!   servers (`crate::parameters`, `sharing`); otherwise every partition keeps its own model
//!   (as the feature stages keep their own scaler statistics, one-hot categories). Either
//!   way, with parallelism 1 a stage's output is exactly the library's sequential run. The model is created at the first row with features, with
//!   that row's dimension; every later row must have the same dimension.
//! - State per partition is snapshotted as one entry under the first key group of the
//!   partition's key-group range. Restored at another parallelism, a partition continues from
//!   the state stored under its own first key group if it received it, else from the lowest
//!   key group it received (the others' models are dropped until models can be merged).
//! - Matrix factorisation is the one stage with keyed state: its input is partitioned by the
//!   user column (as an aggregate's by its key), and each user's bias and factors are an
//!   entry of the user's key group on the keyed-state layer (incremental checkpoints, restore
//!   by key-group range, `job.state_ttl`), so users move with their key groups on a rescale;
//!   the rest of its model (mean, items, version) is per-partition state as above.
//! - `job.state_ttl` applies to matrix factorisation's users only: the per-partition models
//!   hold no per-key state (one model per partition, sized by the features' dimension;
//!   one-hot indexes at most `max_categories` categories; k-means holds `k` centroids and one
//!   mini-batch).

mod columns;
mod drift_watch;
mod feature_hasher;
mod features;
mod kmeans;
mod learner;
mod learnt;
mod linear_regression;
mod logistic_regression;
mod matrix_factorization;
mod one_hot;
mod predict;
mod recommend;
mod served;
mod sharing;
mod stage;
mod standard_scaler;
mod vector_assembler;

use crate::operator::{KeyGroupState, Operator, OperatorError, SavedState};
use crate::operators::StageContext;
use crate::parameters::{JobServing, WorkerLink};
use crate::state::ttl::{Clock, WallClock};
use learner::Build;
use quiver_ml::{OnlineModel, Persist};
use quiver_protocol::keygroup::key_groups_of;
use quiver_protocol::spec::{JobSpec, StageKind, StageSpec};
use quiver_protocol::{KeyGroup, PartitionId, Schema};
use stage::MlOperator;
use std::sync::Arc;

/// Builds partition `partition` of the ML stage `stage`, reading batches of `input`, with the
/// job's settings `ctx` (its number of key groups; checkpoints and `state_ttl` matter to
/// matrix factorisation's users only). Fails for an aggregate stage.
pub fn build(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
    partition: PartitionId,
) -> Result<Box<dyn Operator>, OperatorError> {
    build_with_clock(stage, input, ctx, partition, Arc::new(WallClock::new()))
}

/// Builds partition `partition` of the learner `stage` as a worker of its parameter servers
/// (`crate::parameters`), reaching them through `link`.
pub(crate) fn build_worker(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
    partition: PartitionId,
    link: WorkerLink,
) -> Result<Box<dyn Operator>, OperatorError> {
    let clock = Arc::new(WallClock::new());
    build_partition(stage, input, ctx, partition, clock, Some(link))
}

/// Builds partition `partition` of the `predict` stage `stage` of job `job`, reading batches
/// of `input`: it serves the versions of its learner's model that `serving` loads.
pub(crate) fn build_predict(
    stage: &StageSpec,
    job: &JobSpec,
    input: &Schema,
    partition: PartitionId,
    serving: Arc<JobServing>,
) -> Result<Box<dyn Operator>, OperatorError> {
    let StageKind::Predict(spec) = &stage.kind else {
        return Err(OperatorError::Config(format!(
            "stage \"{}\" is not a predict stage",
            stage.name
        )));
    };
    let learner = job.stages.iter().find(|s| s.name == spec.model);
    let serve = predict::Serve {
        stage,
        spec,
        input,
        partition: partition.0,
        serving,
    };
    let inner = match learner.map(|l| &l.kind) {
        Some(StageKind::LogisticRegression(l)) => {
            logistic_regression::with_model(&spec.model, l, serve)
        }
        Some(StageKind::LinearRegression(l)) => {
            serve.build(linear_regression::maker(&spec.model, l)?)
        }
        Some(StageKind::KMeans(k)) => serve.clusters(kmeans::maker(k)),
        _ => Err(OperatorError::Config(format!(
            "stage \"{}\": its model \"{}\" is not a learner with parameter servers",
            stage.name, spec.model
        ))),
    }?;
    Ok(Box::new(MlOperator::new(
        &stage.name,
        input.columns.len(),
        inner,
    )))
}

/// As [`build`], the state TTL read on `clock`.
pub(crate) fn build_with_clock(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
    partition: PartitionId,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Operator>, OperatorError> {
    build_partition(stage, input, ctx, partition, clock, None)
}

/// Builds a partition; a learner with `link` as a parameter-server worker.
fn build_partition(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
    partition: PartitionId,
    clock: Arc<dyn Clock>,
    link: Option<WorkerLink>,
) -> Result<Box<dyn Operator>, OperatorError> {
    let sharing = link
        .clone()
        .map(|link| sharing::Sharing::new(&stage.name, link));
    let max_parallelism = ctx.max_parallelism;
    let state = PartitionState::new(&stage.name, max_parallelism, stage.parallelism, partition);
    let inner = match &stage.kind {
        StageKind::StandardScaler(spec) => standard_scaler::build(stage, spec, input, state),
        StageKind::FeatureHasher(spec) => feature_hasher::build(stage, spec, input),
        StageKind::VectorAssembler(spec) => vector_assembler::build(stage, spec, input),
        StageKind::OneHot(spec) => one_hot::build(stage, spec, input, state),
        StageKind::LogisticRegression(spec) => {
            logistic_regression::build(stage, spec, input, state, sharing)
        }
        StageKind::LinearRegression(spec) => {
            linear_regression::build(stage, spec, input, state, sharing)
        }
        StageKind::KMeans(spec) => kmeans::build(stage, spec, input, state, sharing),
        StageKind::MatrixFactorization(spec) => {
            matrix_factorization::build(stage, spec, input, state, ctx, clock, link)
        }
        StageKind::Recommend(spec) => recommend::build(stage, spec, input, state, ctx, clock),
        StageKind::Predict(_) => Err(OperatorError::Config(format!(
            "stage \"{}\": a predict stage serves the job's versions (build_predict)",
            stage.name
        ))),
        StageKind::Aggregate(_) => Err(OperatorError::Data(format!(
            "stage \"{}\": an aggregate is not an ML stage",
            stage.name
        ))),
    }?;
    Ok(Box::new(MlOperator::new(
        &stage.name,
        input.columns.len(),
        inner,
    )))
}

/// Where a partition's ML state is snapshotted: one entry under the first key group of its
/// range.
#[derive(Debug, Clone)]
struct PartitionState {
    stage: String,
    /// The partition's first key group.
    group: KeyGroup,
}

impl PartitionState {
    fn new(stage: &str, max_parallelism: u32, parallelism: u32, partition: PartitionId) -> Self {
        let groups = key_groups_of(partition, max_parallelism, parallelism.max(1));
        PartitionState {
            stage: stage.to_string(),
            group: KeyGroup(groups.start),
        }
    }

    /// The snapshot of a model's bytes (nothing before the model exists).
    fn save<E: std::fmt::Display>(
        &self,
        bytes: Option<Result<Vec<u8>, E>>,
    ) -> Result<Vec<KeyGroupState>, OperatorError> {
        match bytes {
            None => Ok(Vec::new()),
            Some(bytes) => Ok(vec![KeyGroupState {
                group: self.group,
                bytes: bytes.map_err(|e| self.error(e))?,
            }]),
        }
    }

    /// The snapshot of an online model (nothing before the model exists).
    fn save_model<M: OnlineModel>(
        &self,
        model: Option<&M>,
    ) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.save(model.map(OnlineModel::snapshot))
    }

    /// The model to continue from: decoded from the bytes [`Self::pick`] chooses; `None` when
    /// nothing was passed.
    fn restore_model<M: Persist>(&self, states: SavedState) -> Result<Option<M>, OperatorError> {
        self.pick(states)
            .map(|bytes| M::from_snapshot(&bytes).map_err(|e| self.error(e)))
            .transpose()
    }

    /// The bytes to restore from: those under this partition's key group, else those under the
    /// lowest key group passed; `None` when nothing was passed.
    fn pick(&self, states: SavedState) -> Option<Vec<u8>> {
        let states = states.pieces;
        let own = states.iter().position(|s| s.group == self.group);
        let index = own.or_else(|| {
            states
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.group)
                .map(|(i, _)| i)
        })?;
        states.into_iter().nth(index).map(|s| s.bytes)
    }

    /// A state error naming the stage.
    fn error(&self, error: impl std::fmt::Display) -> OperatorError {
        OperatorError::State(format!("stage \"{}\": {error}", self.stage))
    }
}

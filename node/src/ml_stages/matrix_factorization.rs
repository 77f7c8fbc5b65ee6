//! `kind = "matrix_factorization"`: online matrix factorisation of `(user, item, rating)`
//! (`quiver_ml::recommendation::MatrixFactorization`, River's `reco` models). Each row is
//! predicted with the current model, then learnt from (a null rating: predict only); adds
//! `prediction` and `model_version`. The error of each prediction of a row with a rating
//! (made before learning from it: progressive validation) adds to the partition's
//! [`RatingErrors`], which heartbeats carry to the job's report (RMSE, MAE, count); they
//! count since the partition started, so a recovery starts them again. Ids are i64 (used as their 64-bit pattern) or strings
//! (their 64-bit FNV-1a hash of the UTF-8 bytes); a null id gives a null prediction. The
//! input is partitioned by the user column, and each user's state is an entry of the user's
//! key group on the keyed-state layer (`keyed`, `users`): checkpoints copy the users changed
//! since the last confirmed one.
//!
//! With `job.state_ttl`, a user not learnt from (a row with a rating) for the TTL is
//! forgotten: its bias and factors are dropped, and its next row is predicted and learnt as a
//! user the model never saw would be (prediction from the global mean and the item; fresh
//! factors drawn from the model's random state when it learns). Predicting (a null rating)
//! does not keep a user alive. Expired users are cleaned incrementally after each batch,
//! left out of snapshots, dropped on restore, and counted in `state_expired`. The rest of the
//! model (mean, items) is per-partition state and never expires.

mod keyed;
#[cfg(test)]
mod ttl_tests;
mod users;

use super::columns::{data_error, learnt, refused, row_error, version_i64, Ids, InputColumn};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{ChangesCopy, KeyGroupState, OperatorError, SavedState};
use crate::operators::StageContext;
use crate::state::ttl::{Clock, Expiry};
use keyed::UserModel;
use quiver_ml::recommendation::{MatrixFactorization, MfKind, MfParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::keygroup::key_hash_codes;
use quiver_protocol::messages::RatingErrors;
use quiver_protocol::spec::{MatrixFactorizationStage, MfModel, StageSpec};
use quiver_protocol::{CheckpointId, Schema};
use std::sync::Arc;
use users::Users;

/// One partition of a matrix factorisation stage.
struct MfOperator {
    stage: String,
    user: InputColumn,
    item: InputColumn,
    rating: InputColumn,
    /// The library parameters (a fresh model's, on restore without one).
    params: MfParams,
    /// The model and its users.
    keyed: UserModel,
    /// The error of the predictions of rows with a rating, since the partition started.
    errors: RatingErrors,
}

/// The library parameters of a stage.
fn params(spec: &MatrixFactorizationStage) -> MfParams {
    MfParams {
        kind: match spec.model {
            MfModel::Baseline => MfKind::Baseline,
            MfModel::BiasedMf => MfKind::BiasedMf,
            MfModel::FunkMf => MfKind::FunkMf,
        },
        n_factors: usize::try_from(spec.n_factors).unwrap_or(usize::MAX),
        bias_learning_rate: spec.bias_learning_rate,
        latent_learning_rate: spec.latent_learning_rate,
        l2_bias: spec.l2_bias,
        l2_latent: spec.l2_latent,
        init_std: spec.init_std,
        clip_gradient: spec.clip_gradient,
        seed: spec.seed,
    }
}

/// Builds one partition with the job's settings `ctx`, its state TTL read on `clock`.
pub(super) fn build(
    stage: &StageSpec,
    spec: &MatrixFactorizationStage,
    input: &Schema,
    state: PartitionState,
    ctx: &StageContext,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = params(spec);
    let model = MatrixFactorization::new(params.clone()).map_err(|e| data_error(&stage.name, e))?;
    let expiry = ctx.state_ttl.map(|ttl| Expiry::new(ttl, clock));
    let users = Users::new(ctx.max_parallelism, ctx.checkpoints, expiry);
    Ok(Box::new(MfOperator {
        stage: stage.name.clone(),
        user: InputColumn::find(&stage.name, input, &spec.user)?,
        item: InputColumn::find(&stage.name, input, &spec.item)?,
        rating: InputColumn::find(&stage.name, input, &spec.rating)?,
        params,
        keyed: UserModel::new(model, users, state, ctx.checkpoints),
        errors: RatingErrors::default(),
    }))
}

impl AddColumns for MfOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        let users = Ids::of(&self.stage, &self.user, batch)?;
        let items = Ids::of(&self.stage, &self.item, batch)?;
        let ratings = self.rating.numbers(&self.stage, batch)?;
        let codes = key_hash_codes(&[users.column], n);
        let mut predictions = ColumnBuilder::new(ColumnType::F64, n);
        let mut versions = ColumnBuilder::new(ColumnType::I64, n);
        let UserModel {
            model, users: held, ..
        } = &mut self.keyed;
        held.tick();
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let version = model.version().0;
            let (user, item) = (users.get(row)?, items.get(row)?);
            let rating = ratings.finite(row)?;
            let refused = |e| refused(&self.stage, e);
            match (user, item) {
                (Some(user), Some(item)) => {
                    held.read(user, model);
                    let prediction = model.predict_one(user, item);
                    if let Some(rating) = rating {
                        self.errors.note(prediction, rating);
                        let step = model.learn_one(user, item, rating);
                        if learnt(step).map_err(|e| row_error(&self.stage, event_time, e))? {
                            held.write(user, codes[row]);
                        }
                    }
                    predictions.push_f64(prediction).map_err(refused)?;
                }
                _ => predictions.push_null(),
            }
            versions.push_i64(version_i64(version)).map_err(refused)?;
        }
        held.clean(n, model);
        columns.push(predictions.finish());
        columns.push(versions.finish());
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.keyed.snapshot()
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        self.keyed.snapshot_changes(checkpoint)
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        self.keyed.confirm(checkpoint);
    }

    /// Users held, including expired ones the cleanup has not reached yet.
    fn state_entries(&self) -> u64 {
        self.keyed.users.len() as u64
    }

    fn state_expired(&self) -> u64 {
        self.keyed.users.expired_count()
    }

    fn refused_updates(&self) -> u64 {
        self.keyed.model.refused_updates().0
    }

    fn rating_errors(&self) -> RatingErrors {
        self.errors
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        let fresh = MatrixFactorization::new(self.params.clone())
            .map_err(|e| data_error(&self.stage, e))?;
        self.keyed.restore(states, fresh)
    }
}

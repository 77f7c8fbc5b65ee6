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
//!
//! With `parameter_shards` in a job with checkpoints, the partitions are the workers of one
//! model on parameter servers ([`sharing`]): the mean and the items are the shards', pulled
//! and pushed sparsely; users stay here. `model_version` is then the version adopted, and an
//! item id beyond the shards' index space (`MfLayout::max_item`: a string's hash, say) is
//! scored but not learnt, counted as a refused update.
//!
//! A worker serves what the job's serving table says ([`Served`], as the linear learners):
//! its working copy, or registered versions (pinned, a canary, an A/B split by the hash of
//! the user column, so a user sees one version). A version's prediction is its global mean
//! and the item's bias and factors with the user's bias and factors as this partition holds
//! them now (users live here, not on the shards: a version has none), while training goes
//! on on the working copy; `model_version` is the version that predicted the row. Per
//! version it keeps the squared and absolute errors of the rows with a rating.

mod keyed;
mod sharing;
#[cfg(test)]
mod sharing_tests;
#[cfg(test)]
mod ttl_tests;
mod users;

use super::columns::{data_error, learnt, refused, row_error, version_i64, Ids, InputColumn};
use super::drift_watch::DriftWatch;
use super::served::{Outcome, Scorer, Served};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{ChangesCopy, KeyGroupState, OperatorError, SavedState, Wait};
use crate::operators::StageContext;
use crate::parameters::WorkerLink;
use crate::state::ttl::{Clock, Expiry};
use keyed::UserModel;
use quiver_ml::recommendation::{MatrixFactorization, MfKind, MfParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::keygroup::key_hash_codes;
use quiver_protocol::messages::RatingErrors;
use quiver_protocol::models::ServedVersion;
use quiver_protocol::spec::{MatrixFactorizationStage, MfModel, StageSpec};
use quiver_protocol::{Barrier, CheckpointId, Schema};
use sharing::ItemSharing;
use std::sync::Arc;
use std::time::Instant;
use users::Users;

/// What a registered version of the stage is served as: its parameter vector (the mean's
/// count and sum, the items), read beside the partition's users.
type SharedVersion = Arc<Vec<f64>>;

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
    /// Training through parameter servers (`None`: the partition owns its model).
    sharing: Option<ItemSharing>,
    /// Ratings not learnt because their item has no index on the parameter servers.
    unshared: u64,
    /// What a worker of parameter servers serves.
    served: Option<Served<SharedVersion>>,
    /// The detector of a drift policy.
    drift: Option<DriftWatch>,
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

/// Builds one partition with the job's settings `ctx`, its state TTL read on `clock`; with
/// `link`, a worker of the stage's parameter servers.
pub(super) fn build(
    stage: &StageSpec,
    spec: &MatrixFactorizationStage,
    input: &Schema,
    state: PartitionState,
    ctx: &StageContext,
    clock: Arc<dyn Clock>,
    link: Option<WorkerLink>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = params(spec);
    let model = MatrixFactorization::new(params.clone()).map_err(|e| data_error(&stage.name, e))?;
    let expiry = ctx.state_ttl.map(|ttl| Expiry::new(ttl, clock));
    let users = Users::new(ctx.max_parallelism, ctx.checkpoints, expiry);
    let served = link.as_ref().map(|link| {
        let mut served = Served::of_worker(&stage.name, link);
        served.set_warmup(spec.policy.warmup);
        served
    });
    let sharing = link.map(|link| ItemSharing::new(&stage.name, link, model.layout()));
    let shared = sharing.is_some();
    Ok(Box::new(MfOperator {
        stage: stage.name.clone(),
        user: InputColumn::find(&stage.name, input, &spec.user)?,
        item: InputColumn::find(&stage.name, input, &spec.item)?,
        rating: InputColumn::find(&stage.name, input, &spec.rating)?,
        params,
        keyed: UserModel::new(model, users, state, ctx.checkpoints, shared),
        errors: RatingErrors::default(),
        sharing,
        unshared: 0,
        served,
        drift: DriftWatch::new(&stage.name, &spec.policy, input)?,
    }))
}

impl AddColumns for MfOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        if let Some(drift) = &mut self.drift {
            drift.watch(batch)?;
        }
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
        if let Some(sharing) = &mut self.sharing {
            sharing.start(model)?;
        }
        let started = self.served.is_some().then(Instant::now);
        let buckets = (self.served.as_ref()).and_then(|s| s.buckets_of(&[users.column], n));
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let working = match &self.sharing {
                Some(sharing) => sharing.version(),
                None => model.version().0,
            };
            let bucket = buckets.as_ref().map(|b| b[row]);
            let scorer = (self.served.as_ref()).map_or(Scorer::Working, |s| s.scorer(bucket));
            let version = match scorer {
                Scorer::Working => working,
                Scorer::Version(v) => v,
            };
            let (user, item) = (users.get(row)?, items.get(row)?);
            let rating = ratings.finite(row)?;
            let refused = |e| refused(&self.stage, e);
            let mut outcome = None;
            match (user, item) {
                (Some(user), Some(item)) => {
                    held.read(user, model);
                    let shared = match &mut self.sharing {
                        Some(sharing) => sharing.pull(model, item, rating.is_some())?,
                        None => true,
                    };
                    let prediction = match (scorer, &mut self.served) {
                        (Scorer::Version(v), Some(served)) => {
                            let version = served.model_with(v, |s| Ok(s.values.clone()))?;
                            model.predict_with_shared(user, item, version)
                        }
                        _ => model.predict_one(user, item),
                    };
                    outcome = rating.map(|rating| Outcome::of_regression(prediction, rating));
                    if let Some(rating) = rating {
                        self.errors.note(prediction, rating);
                        if !shared {
                            self.unshared += 1;
                        } else if learnt(model.learn_one(user, item, rating))
                            .map_err(|e| row_error(&self.stage, event_time, e))?
                        {
                            held.write(user, codes[row]);
                        }
                    }
                    predictions.push_f64(prediction).map_err(refused)?;
                }
                _ => predictions.push_null(),
            }
            if let Some(served) = &mut self.served {
                served.note((version, scorer == Scorer::Working), outcome);
            }
            versions.push_i64(version_i64(version)).map_err(refused)?;
        }
        held.clean(n, model);
        columns.push(predictions.finish());
        columns.push(versions.finish());
        let working = self.sharing.as_ref().map_or(0, ItemSharing::version);
        if let (Some(served), Some(started)) = (&mut self.served, started) {
            served.end_batch(started.elapsed().as_micros() as u64, working);
        }
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
        self.keyed.model.refused_updates().0 + self.unshared
    }

    fn rating_errors(&self) -> RatingErrors {
        self.errors
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        let fresh = MatrixFactorization::new(self.params.clone())
            .map_err(|e| data_error(&self.stage, e))?;
        let rest = self.keyed.restore(states, fresh)?;
        if let (true, Some(sharing)) = (rest, &mut self.sharing) {
            // A model saved before the stage had parameter servers.
            sharing.seed(&self.keyed.model);
        }
        Ok(())
    }

    fn ready(&mut self) -> Option<Wait> {
        self.sharing.as_ref()?.ready()
    }

    fn on_barrier(&mut self, barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        let pushed = match &mut self.sharing {
            Some(sharing) => Some(sharing.push_then_adopt(&mut self.keyed.model)?),
            None => None,
        };
        if let Some(served) = &mut self.served {
            served.switch(barrier.serving)?;
            let model = &self.keyed.model;
            served.warm_with(
                |s| Ok(s.values.clone()),
                // Only the time matters: the first item's entries and the mean are read.
                |version| {
                    std::hint::black_box(model.predict_with_shared(0, 0, version));
                },
            )?;
        }
        Ok(pushed)
    }

    fn drifts(&self) -> u64 {
        self.drift.as_ref().map_or(0, DriftWatch::detected)
    }

    fn served(&self) -> Vec<ServedVersion> {
        let working = self.sharing.as_ref().map_or(0, ItemSharing::version);
        self.served
            .as_ref()
            .map_or_else(Vec::new, |s| s.report(working))
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        Ok(self
            .sharing
            .as_mut()
            .map(|sharing| sharing.push(&self.keyed.model)))
    }
}

//! `kind = "kmeans"`: online k-means (`quiver_ml::clustering::OnlineKMeans`, Flink ML's
//! decayed mini-batch updates) from `k` random centroids drawn from `seed` (uniform in [0, 1)
//! per dimension, weight 0), created at the first row with that row's dimension. Each row is
//! assigned to its nearest centroid, then learnt from; adds `cluster` (i64), `prediction`
//! (the same index as f64, like every learner's prediction) and `model_version`, named by the
//! spec's `*_col` fields.
//!
//! In a job with checkpoints the partitions are the workers of one model on parameter
//! servers (`crate::parameters`, [`Sharing`]): the vector is the centroids' coordinates then
//! their weights (`quiver_ml::SharedParameters` for `OnlineKMeans`), every worker draws the
//! same initial centroids from `seed`, pushes its change at each barrier and adopts the
//! merged version there; `model_version` is then the version adopted. A worker's pending
//! mini-batch is its own working state and is not checkpointed (as a linear learner's): a
//! recovery replays the records after the restored barrier into an empty mini-batch.
//!
//! A worker serves what the job's serving table says ([`Served`], as the linear learners):
//! its working copy, or registered versions' centroids (pinned, a canary, an A/B split by
//! record hash), which then assign `cluster` and `prediction` while training goes on on the
//! working copy; `model_version` is the version that assigned the row. Per version it keeps
//! the records it assigned and their squared distances to the assigned centroid (the
//! inertia per record is `quiver model status`'s loss).

use super::columns::{learnt, refused, row_error, version_i64};
use super::drift_watch::DriftWatch;
use super::features::FeatureReader;
use super::learner::MakeModel;
use super::learnt::{Learnt, Scorers};
use super::served::{Outcome, Scored};
use super::sharing::Sharing;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::{Features, MlError};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::models::ServedVersion;
use quiver_protocol::spec::{KMeansStage, StageSpec};
use quiver_protocol::{Barrier, Schema};
use std::time::Instant;

/// Weight of each initial random centroid.
const INITIAL_WEIGHT: f64 = 0.0;

/// One partition of a k-means stage.
struct KMeansOperator {
    stage: String,
    features: FeatureReader,
    clusters: Learnt<OnlineKMeans>,
    state: PartitionState,
    /// The detector of a drift policy.
    drift: Option<DriftWatch>,
}

/// A row's cluster and squared distance to its centroid (or why it has none), and the
/// version that assigned it.
type Assignment = (Result<(usize, f64), MlError>, Scored);

/// What makes the stage's model for a feature dimension: `k` random centroids from `seed`
/// (a `predict` stage serving its versions builds them the same way, then reads a version's
/// vector into them).
pub(super) fn maker(spec: &KMeansStage) -> MakeModel<OnlineKMeans> {
    let params = OnlineKMeansParams {
        global_batch_size: usize::try_from(spec.global_batch_size).unwrap_or(usize::MAX),
        decay_factor: spec.decay_factor,
        ..OnlineKMeansParams::default()
    };
    let (k, seed) = (spec.k as usize, spec.seed);
    Box::new(move |dim| OnlineKMeans::random(params.clone(), k, dim, INITIAL_WEIGHT, seed))
}

/// Builds one partition, trained through `sharing` when set.
pub(super) fn build(
    stage: &StageSpec,
    spec: &KMeansStage,
    input: &Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let mut clusters = Learnt::new(maker(spec), sharing);
    if let Some(served) = clusters.served_mut() {
        served.set_warmup(spec.policy.warmup);
    }
    Ok(Box::new(KMeansOperator {
        stage: stage.name.clone(),
        features: FeatureReader::new(&stage.name, &spec.features, input)?,
        clusters,
        state,
        drift: DriftWatch::new(&stage.name, &spec.policy, input)?,
    }))
}

impl Learnt<OnlineKMeans> {
    /// Assigns `x` with what the partition serves (the working copy, or a registered
    /// version's centroids by the record's `bucket`), then learns it on the working copy.
    fn assign(
        &mut self,
        stage: &str,
        x: Features<'_>,
        bucket: Option<u32>,
    ) -> Result<Assignment, OperatorError> {
        let Scorers {
            working,
            version,
            served,
        } = self.scorers(stage, x.dim(), bucket)?;
        let assigned = match served {
            Some((v, centroids)) => (centroids.assign(x), (v, false)),
            None => (working.assign(x), (version, true)),
        };
        if assigned.0.is_ok() {
            if let Err(e) = learnt(working.learn_one(x)) {
                return Ok((Err(e), assigned.1));
            }
        }
        Ok(assigned)
    }
}

impl AddColumns for KMeansOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        if let Some(drift) = &mut self.drift {
            drift.watch(batch)?;
        }
        let n = batch.len();
        let mut features = self.features.bind(batch)?;
        let mut clusters = ColumnBuilder::new(ColumnType::I64, n);
        let mut predictions = ColumnBuilder::new(ColumnType::F64, n);
        let mut versions = ColumnBuilder::new(ColumnType::I64, n);
        let started = self.clusters.served_mut().is_some().then(Instant::now);
        let buckets = self.clusters.served_mut().and_then(|s| s.buckets(batch));
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let (assigned, (version, latest)) = match features.read(row)? {
                None => (None, (self.clusters.version(), true)),
                Some(x) => {
                    let bucket = buckets.as_ref().map(|b| b[row]);
                    let (assigned, scored) = self.clusters.assign(&self.stage, x, bucket)?;
                    let assigned = assigned.map_err(|e| row_error(&self.stage, event_time, e))?;
                    (Some(assigned), scored)
                }
            };
            if let Some(served) = self.clusters.served_mut() {
                let outcome = assigned.map(|(_, distance)| Outcome::of_assignment(distance));
                served.note((version, latest), outcome);
            }
            let refused = |e| refused(&self.stage, e);
            match assigned {
                Some((c, _)) => {
                    clusters
                        .push_i64(i64::try_from(c).unwrap_or(i64::MAX))
                        .map_err(refused)?;
                    predictions.push_f64(c as f64).map_err(refused)?;
                }
                None => {
                    clusters.push_null();
                    predictions.push_null();
                }
            }
            versions.push_i64(version_i64(version)).map_err(refused)?;
        }
        columns.push(clusters.finish());
        columns.push(predictions.finish());
        columns.push(versions.finish());
        let working = self.clusters.version();
        if let (Some(served), Some(started)) = (self.clusters.served_mut(), started) {
            served.end_batch(started.elapsed().as_micros() as u64, working);
        }
        Ok(())
    }

    fn refused_updates(&self) -> u64 {
        self.clusters.refused_updates()
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.clusters.snapshot(&self.state)
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        self.clusters.restore(&self.state, states)
    }

    fn ready(&mut self) -> Option<Wait> {
        self.clusters.ready()
    }

    fn on_barrier(&mut self, barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        self.clusters.on_barrier(barrier, |centroids, zeros| {
            // Only the time matters: centroids that cannot assign zeros fail on rows.
            let _ = std::hint::black_box(centroids.assign(Features::Dense(zeros)));
        })
    }

    fn served(&self) -> Vec<ServedVersion> {
        self.clusters.served()
    }

    fn drifts(&self) -> u64 {
        self.drift.as_ref().map_or(0, DriftWatch::detected)
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        Ok(self.clusters.on_end())
    }
}

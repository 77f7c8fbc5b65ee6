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

use super::columns::{data_error, learnt, refused, row_error, version_i64};
use super::features::FeatureReader;
use super::learner::MakeModel;
use super::served::{Outcome, Scored, Scorer, Served};
use super::sharing::{scoring_version, Sharing};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::{Features, MlError, OnlineModel};
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
    clusters: Clusters,
    state: PartitionState,
}

/// A partition's model: created at the first row with features, trained through parameter
/// servers or on its own.
struct Clusters {
    /// The stage's model for a dimension: its `k` random centroids drawn from `seed`.
    make: MakeModel<OnlineKMeans>,
    model: Option<OnlineKMeans>,
    /// Training through parameter servers (`None`: the partition owns its model).
    sharing: Option<Sharing>,
    /// What a worker of parameter servers serves.
    served: Option<Served<OnlineKMeans>>,
    /// The rows' feature dimension, once a row came.
    dim: Option<usize>,
}

/// A row's cluster and squared distance to its centroid (or why it has none), and the
/// version that assigned it.
type Assignment = (Result<(usize, f64), MlError>, Scored);

/// Builds one partition, trained through `sharing` when set.
pub(super) fn build(
    stage: &StageSpec,
    spec: &KMeansStage,
    input: &Schema,
    state: PartitionState,
    sharing: Option<Sharing>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = OnlineKMeansParams {
        global_batch_size: usize::try_from(spec.global_batch_size).unwrap_or(usize::MAX),
        decay_factor: spec.decay_factor,
        ..OnlineKMeansParams::default()
    };
    let (k, seed) = (spec.k as usize, spec.seed);
    let make: MakeModel<OnlineKMeans> =
        Box::new(move |dim| OnlineKMeans::random(params.clone(), k, dim, INITIAL_WEIGHT, seed));
    let served = sharing
        .as_ref()
        .map(|s| Served::of_worker(s.stage(), s.link()));
    Ok(Box::new(KMeansOperator {
        stage: stage.name.clone(),
        features: FeatureReader::new(&stage.name, &spec.features, input)?,
        clusters: Clusters {
            make,
            model: None,
            sharing,
            served,
            dim: None,
        },
        state,
    }))
}

impl Clusters {
    /// The model of stage `stage` for rows of dimension `dim`, created at the first of them
    /// (from the parameter servers' version when the partition is a worker), and the version
    /// it scores with.
    fn working(&mut self, stage: &str, dim: usize) -> Result<&mut OnlineKMeans, OperatorError> {
        if self.model.is_none() {
            let mut model = (self.make)(dim).map_err(|e| data_error(stage, e))?;
            if let Some(sharing) = &mut self.sharing {
                sharing.start(&mut model)?;
            }
            self.model = Some(model);
            self.dim = Some(dim);
        }
        self.model
            .as_mut()
            .ok_or_else(|| data_error(stage, "the model was not created"))
    }

    /// Assigns `x` with what the partition serves (the working copy, or a registered
    /// version by the record's `bucket`), then learns it on the working copy.
    fn assign(
        &mut self,
        stage: &str,
        x: Features<'_>,
        bucket: Option<u32>,
    ) -> Result<Assignment, OperatorError> {
        let dim = x.dim();
        self.working(stage, dim)?;
        let version = self.version();
        let scorer = self
            .served
            .as_ref()
            .map_or(Scorer::Working, |s| s.scorer(bucket));
        let Clusters {
            make,
            model,
            served,
            ..
        } = self;
        let model = model
            .as_mut()
            .ok_or_else(|| data_error(stage, "the model was not created"))?;
        let assigned = match (scorer, served) {
            (Scorer::Version(v), Some(served)) => {
                let centroids = served.model_with(v, |s| s.learner(dim, make))?;
                (centroids.assign(x), (v, false))
            }
            _ => (model.assign(x), (version, true)),
        };
        if assigned.0.is_ok() {
            if let Err(e) = learnt(model.learn_one(x)) {
                return Ok((Err(e), assigned.1));
            }
        }
        Ok(assigned)
    }

    /// The version rows are scored with.
    fn version(&self) -> u64 {
        scoring_version(self.sharing.as_ref(), self.model.as_ref())
    }
}

impl AddColumns for KMeansOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        let mut features = self.features.bind(batch)?;
        let mut clusters = ColumnBuilder::new(ColumnType::I64, n);
        let mut predictions = ColumnBuilder::new(ColumnType::F64, n);
        let mut versions = ColumnBuilder::new(ColumnType::I64, n);
        let started = self.clusters.served.is_some().then(Instant::now);
        let buckets = self.clusters.served.as_ref().and_then(|s| s.buckets(batch));
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
            if let Some(served) = &mut self.clusters.served {
                let outcome = assigned.map(|(_, distance)| Outcome::of_assignment(distance));
                served.note((version, latest), outcome);
            }
            let cluster = assigned.map(|(c, _)| c);
            let refused = |e| refused(&self.stage, e);
            match cluster {
                Some(c) => {
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
        if let (Some(served), Some(started)) = (&mut self.clusters.served, started) {
            served.end_batch(started.elapsed().as_micros() as u64, working);
        }
        Ok(())
    }

    fn refused_updates(&self) -> u64 {
        self.clusters
            .model
            .as_ref()
            .map_or(0, |m| m.refused_updates().0)
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if self.clusters.sharing.is_some() {
            // The centroids and weights are the shards' state.
            return Ok(Vec::new());
        }
        self.state.save_model(self.clusters.model.as_ref())
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(model) = self.state.restore_model(states)? {
            if let Some(sharing) = &mut self.clusters.sharing {
                // A model saved before the stage had parameter servers.
                sharing.seed(&model);
            }
            self.clusters.model = Some(model);
        }
        Ok(())
    }

    fn ready(&mut self) -> Option<Wait> {
        self.clusters.sharing.as_ref()?.ready()
    }

    fn on_barrier(&mut self, barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        let pushed = match (&mut self.clusters.sharing, &mut self.clusters.model) {
            (Some(sharing), Some(model)) => Some(sharing.push_then_adopt(model)?),
            _ => None,
        };
        let Clusters {
            served, make, dim, ..
        } = &mut self.clusters;
        if let Some(served) = served {
            served.switch(barrier.serving)?;
            if let Some(dim) = *dim {
                let zeros = vec![0.0; dim];
                served.warm_with(
                    |s| s.learner(dim, make),
                    // Only the time matters: centroids that cannot assign zeros fail on rows.
                    |centroids| {
                        let _ = std::hint::black_box(centroids.assign(Features::Dense(&zeros)));
                    },
                )?;
            }
        }
        Ok(pushed)
    }

    fn served(&self) -> Vec<ServedVersion> {
        let working = self.clusters.version();
        self.clusters
            .served
            .as_ref()
            .map_or_else(Vec::new, |s| s.report(working))
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        match (&mut self.clusters.sharing, &self.clusters.model) {
            (Some(sharing), Some(model)) => Ok(Some(sharing.push(model))),
            _ => Ok(None),
        }
    }
}

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

use super::columns::{data_error, learnt, refused, row_error, version_i64};
use super::features::FeatureReader;
use super::sharing::{scoring_version, Sharing};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{KMeansStage, StageSpec};
use quiver_protocol::{Barrier, Schema};

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
    params: OnlineKMeansParams,
    k: usize,
    seed: u64,
    model: Option<OnlineKMeans>,
    /// Training through parameter servers (`None`: the partition owns its model).
    sharing: Option<Sharing>,
}

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
    Ok(Box::new(KMeansOperator {
        stage: stage.name.clone(),
        features: FeatureReader::new(&stage.name, &spec.features, input)?,
        clusters: Clusters {
            params,
            k: spec.k as usize,
            seed: spec.seed,
            model: None,
            sharing,
        },
        state,
    }))
}

impl Clusters {
    /// The model of stage `stage` for rows of dimension `dim`, created at the first of them
    /// (from the parameter servers' version when the partition is a worker), and the version
    /// it scores with.
    fn working(
        &mut self,
        stage: &str,
        dim: usize,
    ) -> Result<(&mut OnlineKMeans, u64), OperatorError> {
        if self.model.is_none() {
            let mut model =
                OnlineKMeans::random(self.params.clone(), self.k, dim, INITIAL_WEIGHT, self.seed)
                    .map_err(|e| data_error(stage, e))?;
            if let Some(sharing) = &mut self.sharing {
                sharing.start(&mut model)?;
            }
            self.model = Some(model);
        }
        let version = self.version();
        let model = self.model.as_mut();
        Ok((
            model.ok_or_else(|| data_error(stage, "the model was not created"))?,
            version,
        ))
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
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let (cluster, version) = match features.read(row)? {
                None => (None, self.clusters.version()),
                Some(x) => {
                    let (model, version) = self.clusters.working(&self.stage, x.dim())?;
                    let bad_row = |e| row_error(&self.stage, event_time, e);
                    let cluster = model.predict_one(x).map_err(bad_row)?;
                    learnt(model.learn_one(x)).map_err(bad_row)?;
                    (Some(cluster), version)
                }
            };
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

    fn on_barrier(&mut self, _barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        match (&mut self.clusters.sharing, &mut self.clusters.model) {
            (Some(sharing), Some(model)) => Ok(Some(sharing.push_then_adopt(model)?)),
            _ => Ok(None),
        }
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        match (&mut self.clusters.sharing, &self.clusters.model) {
            (Some(sharing), Some(model)) => Ok(Some(sharing.push(model))),
            _ => Ok(None),
        }
    }
}

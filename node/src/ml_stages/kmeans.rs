//! `kind = "kmeans"`: online k-means (`quiver_ml::clustering::OnlineKMeans`, Flink ML's
//! decayed mini-batch updates) from `k` random centroids drawn from `seed` (uniform in [0, 1)
//! per dimension, weight 0), created at the first row with that row's dimension. Each row is
//! assigned to its nearest centroid, then learnt from; adds `cluster` (i64), `prediction`
//! (the same index as f64, like every learner's prediction) and `model_version`, named by the
//! spec's `*_col` fields.

use super::columns::{data_error, learnt, refused, row_error, version_i64};
use super::features::FeatureReader;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{KMeansStage, StageSpec};
use quiver_protocol::Schema;

/// Weight of each initial random centroid.
const INITIAL_WEIGHT: f64 = 0.0;

/// One partition of a k-means stage.
struct KMeansOperator {
    stage: String,
    features: FeatureReader,
    params: OnlineKMeansParams,
    k: usize,
    seed: u64,
    model: Option<OnlineKMeans>,
    state: PartitionState,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &KMeansStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = OnlineKMeansParams {
        global_batch_size: usize::try_from(spec.global_batch_size).unwrap_or(usize::MAX),
        decay_factor: spec.decay_factor,
        ..OnlineKMeansParams::default()
    };
    Ok(Box::new(KMeansOperator {
        stage: stage.name.clone(),
        features: FeatureReader::new(&stage.name, &spec.features, input)?,
        params,
        k: spec.k as usize,
        seed: spec.seed,
        model: None,
        state,
    }))
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
                None => (None, self.model.as_ref().map_or(0, |m| m.version().0)),
                Some(x) => {
                    let model = match &mut self.model {
                        Some(model) => model,
                        None => self.model.insert(
                            OnlineKMeans::random(
                                self.params.clone(),
                                self.k,
                                x.dim(),
                                INITIAL_WEIGHT,
                                self.seed,
                            )
                            .map_err(|e| data_error(&self.stage, e))?,
                        ),
                    };
                    let version = model.version().0;
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
        self.model.as_ref().map_or(0, |m| m.refused_updates().0)
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.state.save_model(self.model.as_ref())
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(model) = self.state.restore_model(states)? {
            self.model = Some(model);
        }
        Ok(())
    }
}

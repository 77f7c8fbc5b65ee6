//! `kind = "kmeans"`: online k-means (`quiver_ml::clustering::OnlineKMeans`, Flink ML's
//! decayed mini-batch updates) from `k` random centroids drawn from `seed` (uniform in [0, 1)
//! per dimension, weight 0), created at the first row with that row's dimension. Each row is
//! assigned to its nearest centroid, then learnt from; adds `cluster` (i64) and
//! `model_version`.

use super::features::{data_error, row_error, FeatureReader};
use super::learner::{emit, version_value};
use super::rows::{RowOperator, RowOutput};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::OnlineModel;
use quiver_protocol::spec::{KMeansStage, StageSpec};
use quiver_protocol::{Batch, Schema, Value};

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
) -> Result<Box<dyn RowOperator>, OperatorError> {
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

impl RowOperator for KMeansOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let (cluster, version) = match self.features.read(&record.row)? {
                None => (None, self.model.as_ref().map_or(0, |m| m.version().0)),
                Some(x) => {
                    if self.model.is_none() {
                        let model = OnlineKMeans::random(
                            self.params.clone(),
                            self.k,
                            x.dim(),
                            INITIAL_WEIGHT,
                            self.seed,
                        )
                        .map_err(|e| data_error(&self.stage, e))?;
                        self.model = Some(model);
                    }
                    let Some(model) = self.model.as_mut() else {
                        continue;
                    };
                    let version = model.version().0;
                    let bad_row = |e| row_error(&self.stage, record.event_time, e);
                    let cluster = model.predict_one(x).map_err(bad_row)?;
                    model.learn_one(x).map_err(bad_row)?;
                    (Some(cluster), version)
                }
            };
            record.row.reserve(2);
            record.row.push(cluster.map_or(Value::Null, |c| {
                Value::I64(i64::try_from(c).unwrap_or(i64::MAX))
            }));
            record.row.push(version_value(version));
        }
        emit(batch, out);
        Ok(())
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

//! `kind = "standard_scaler"`: online standardisation
//! (`quiver_ml::feature::OnlineStandardScaler`, Welford's running mean and variance, over all
//! rows or the last `window`). Each row first updates the statistics, then is scaled with them
//! (as River's `StandardScaler` inside a learning pipeline); adds the dense vector `output`.
//! With fewer than two rows seen the standard deviation is 0 and scaled values are 0.

use super::features::{data_error, row_error, FeatureReader};
use super::learner::emit;
use super::rows::{RowOperator, RowOutput};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::feature::{OnlineStandardScaler, StandardScalerParams};
use quiver_protocol::spec::{StageSpec, StandardScalerStage};
use quiver_protocol::{Batch, Schema, Value};
use std::sync::Arc;

/// One partition of a scaler stage.
struct ScalerOperator {
    stage: String,
    features: FeatureReader,
    scaler: OnlineStandardScaler,
    /// The scaled vector, before it is copied into the row.
    scaled: Vec<f64>,
    state: PartitionState,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &StandardScalerStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn RowOperator>, OperatorError> {
    let params = StandardScalerParams {
        with_mean: spec.with_mean,
        with_std: spec.with_std,
        ..StandardScalerParams::default()
    };
    let window = spec
        .window
        .map(|w| usize::try_from(w).unwrap_or(usize::MAX));
    let scaler =
        OnlineStandardScaler::new(params, window).map_err(|e| data_error(&stage.name, e))?;
    Ok(Box::new(ScalerOperator {
        stage: stage.name.clone(),
        features: FeatureReader::new(&stage.name, &spec.columns, input)?,
        scaler,
        scaled: Vec::new(),
        state,
    }))
}

impl RowOperator for ScalerOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let scaled = match self.features.read(&record.row)? {
                None => Value::Null,
                Some(x) => {
                    let bad_row = |e| row_error(&self.stage, record.event_time, e);
                    self.scaler.learn_one(x).map_err(bad_row)?;
                    self.scaled.resize(x.dim(), 0.0);
                    self.scaler
                        .transform_one(x, &mut self.scaled)
                        .map_err(bad_row)?;
                    Value::Dense(Arc::from(self.scaled.as_slice()))
                }
            };
            record.row.push(scaled);
        }
        emit(batch, out);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.state.save_model(Some(&self.scaler))
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(scaler) = self.state.restore_model(states)? {
            self.scaler = scaler;
        }
        Ok(())
    }
}

//! `kind = "standard_scaler"`: online standardisation
//! (`quiver_ml::feature::OnlineStandardScaler`, Welford's running mean and variance, over all
//! rows or the last `window`). Each row is scaled with the statistics of the rows before it,
//! then added to them (`transform_then_learn`: progressive, as the learners predict before
//! they learn, which is how River's `StandardScaler` predicts inside a pipeline). Adds the
//! dense vector `output`. With fewer
//! than two rows seen the standard deviation is 0 and scaled values are 0.

use super::columns::{data_error, learnt, refused, row_error};
use super::features::FeatureReader;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::feature::{OnlineStandardScaler, StandardScalerParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{StageSpec, StandardScalerStage};
use quiver_protocol::Schema;

/// One partition of a scaler stage.
struct ScalerOperator {
    stage: String,
    features: FeatureReader,
    scaler: OnlineStandardScaler,
    /// The scaled vector, before it is copied into the output column.
    scaled: Vec<f64>,
    state: PartitionState,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &StandardScalerStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn AddColumns>, OperatorError> {
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

impl AddColumns for ScalerOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let mut features = self.features.bind(batch)?;
        let mut scaled = ColumnBuilder::new(ColumnType::Dense, batch.len());
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            match features.read(row)? {
                None => scaled.push_null(),
                Some(x) => {
                    self.scaled.resize(x.dim(), 0.0);
                    let step = self.scaler.transform_then_learn(x, &mut self.scaled);
                    learnt(step).map_err(|e| row_error(&self.stage, event_time, e))?;
                    scaled
                        .push_dense(&self.scaled)
                        .map_err(|e| refused(&self.stage, e))?;
                }
            }
        }
        columns.push(scaled.finish());
        Ok(())
    }

    fn refused_updates(&self) -> u64 {
        self.scaler.refused_updates().0
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

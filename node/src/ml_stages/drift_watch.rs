//! A learner's `update = { on = "drift", column = ..., detector = ... }` policy, on the
//! worker: a drift detector fed the values of the watched input column, record by record.
//! The coordinator sees the detections on heartbeats and moves a stage that serves a
//! registered version to the newest one.

use super::columns::{data_error, InputColumn};
use crate::operator::OperatorError;
use quiver_ml::drift::{Adwin, AdwinConfig, DriftDetector, PageHinkley, PageHinkleyConfig};
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::{DriftDetectorKind, ServingPolicy, UpdatePolicy};
use quiver_protocol::Schema;

/// The detector of one learner partition and its detections.
pub(super) struct DriftWatch {
    stage: String,
    column: InputColumn,
    detector: Box<dyn DriftDetector + Send>,
    detected: u64,
}

impl DriftWatch {
    /// The watch `policy` asks for on the rows of `input` (`None`: no drift policy).
    pub(super) fn new(
        stage: &str,
        policy: &ServingPolicy,
        input: &Schema,
    ) -> Result<Option<Self>, OperatorError> {
        let Some(UpdatePolicy::Drift { column, detector }) = &policy.update else {
            return Ok(None);
        };
        let detector: Box<dyn DriftDetector + Send> = match detector {
            DriftDetectorKind::PageHinkley => Box::new(
                PageHinkley::new(PageHinkleyConfig::default()).map_err(|e| data_error(stage, e))?,
            ),
            DriftDetectorKind::Adwin => {
                Box::new(Adwin::new(AdwinConfig::default()).map_err(|e| data_error(stage, e))?)
            }
        };
        Ok(Some(DriftWatch {
            stage: stage.to_string(),
            column: InputColumn::find(stage, input, column)?,
            detector,
            detected: 0,
        }))
    }

    /// Feeds the column's values of `batch` (nulls and non-finite values are skipped).
    pub(super) fn watch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        let values = self.column.numbers(&self.stage, batch)?;
        for row in 0..batch.len() {
            if let Some(x) = values.finite(row)? {
                if self
                    .detector
                    .update(x)
                    .map_err(|e| data_error(&self.stage, e))?
                {
                    self.detected += 1;
                }
            }
        }
        Ok(())
    }

    /// Drifts detected so far.
    pub(super) fn detected(&self) -> u64 {
        self.detected
    }
}

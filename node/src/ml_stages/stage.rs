//! The columnar face of every ML stage: a stage computes the columns it adds to a batch
//! ([`AddColumns`]); [`MlOperator`] emits the input batch's columns, shared (reference-count
//! increments, no copy), followed by the added ones.

use super::columns::data_error;
use crate::operator::{
    ChangesCopy, KeyGroupState, Operator, OperatorError, Output, SavedState, Wait,
};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::messages::RatingErrors;
use quiver_protocol::models::ServedVersion;
use quiver_protocol::{Barrier, CheckpointId};

/// An ML stage: one row out per row in, with the stage's columns added.
pub(super) trait AddColumns: Send + 'static {
    /// Reads `batch` (a record at a time, in order) and appends one column per output of
    /// the stage to `columns`, each as long as the batch.
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError>;

    /// As [`Operator::snapshot`].
    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        Ok(Vec::new())
    }

    /// As [`Operator::restore`].
    fn restore(&mut self, _state: SavedState) -> Result<(), OperatorError> {
        Ok(())
    }

    /// As [`Operator::snapshot_changes`] (`None`: snapshotted whole, as per-partition state
    /// is).
    fn snapshot_changes(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        Ok(None)
    }

    /// As [`Operator::confirm`].
    fn confirm(&mut self, _checkpoint: CheckpointId) {}

    /// As [`Operator::state_entries`]: keyed entries held (0 for per-partition state).
    fn state_entries(&self) -> u64 {
        0
    }

    /// As [`Operator::state_expired`] (0 for per-partition state, which never expires).
    fn state_expired(&self) -> u64 {
        0
    }

    /// As [`Operator::refused_updates`].
    fn refused_updates(&self) -> u64 {
        0
    }

    /// As [`Operator::rating_errors`].
    fn rating_errors(&self) -> RatingErrors {
        RatingErrors::default()
    }

    /// As [`Operator::ready`].
    fn ready(&mut self) -> Option<Wait> {
        None
    }

    /// As [`Operator::on_barrier`]: the parameter changes to push before the barrier.
    fn on_barrier(&mut self, _barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        Ok(None)
    }

    /// As [`Operator::served`].
    fn served(&self) -> Vec<ServedVersion> {
        Vec::new()
    }

    /// As [`Operator::drifts`].
    fn drifts(&self) -> u64 {
        0
    }

    /// As [`Operator::on_end`]: the last parameter changes to push.
    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        Ok(None)
    }
}

/// An [`AddColumns`] stage behind the [`Operator`] API.
pub(super) struct MlOperator {
    stage: String,
    /// Columns of the input schema: an input batch has exactly these.
    input_width: usize,
    inner: Box<dyn AddColumns>,
}

impl MlOperator {
    /// The stage `stage` (its name) over input batches of `input_width` columns.
    pub(super) fn new(stage: &str, input_width: usize, inner: Box<dyn AddColumns>) -> Self {
        MlOperator {
            stage: stage.to_string(),
            input_width,
            inner,
        }
    }
}

impl Operator for MlOperator {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        if batch.columns().len() != self.input_width {
            return Err(data_error(
                &self.stage,
                format!(
                    "the batch has {} columns, the stage's input {}",
                    batch.columns().len(),
                    self.input_width
                ),
            ));
        }
        let mut columns = batch.columns().to_vec();
        self.inner.add_columns(batch, &mut columns)?;
        let emitted = batch
            .derive(columns)
            .map_err(|e| data_error(&self.stage, e))?;
        out.records.push(emitted);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.inner.snapshot()
    }

    fn ready(&mut self) -> Option<Wait> {
        self.inner.ready()
    }

    fn served(&self) -> Vec<ServedVersion> {
        self.inner.served()
    }

    fn drifts(&self) -> u64 {
        self.inner.drifts()
    }

    fn on_barrier(&mut self, barrier: &Barrier, out: &mut Output) -> Result<(), OperatorError> {
        out.params.extend(self.inner.on_barrier(barrier)?);
        Ok(())
    }

    fn on_end(&mut self, out: &mut Output) -> Result<(), OperatorError> {
        out.params.extend(self.inner.on_end()?);
        Ok(())
    }

    fn restore(&mut self, state: SavedState) -> Result<(), OperatorError> {
        self.inner.restore(state)
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        self.inner.snapshot_changes(checkpoint)
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        self.inner.confirm(checkpoint);
    }

    fn state_entries(&self) -> u64 {
        self.inner.state_entries()
    }

    fn state_expired(&self) -> u64 {
        self.inner.state_expired()
    }

    fn refused_updates(&self) -> u64 {
        self.inner.refused_updates()
    }

    fn rating_errors(&self) -> RatingErrors {
        self.inner.rating_errors()
    }
}

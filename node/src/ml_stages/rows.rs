//! The ML stages' row adapter: they still work a record at a time on rows of values
//! ([`RowOperator`]); [`RowAdapter`] gives each the columnar [`Operator`] API by turning the
//! input batch into rows and the rows the stage emits into a batch of the stage's output
//! schema. It goes once the ML stages read and write columns themselves.

use crate::operator::{KeyGroupState, Operator, OperatorError, Output, SavedState};
use quiver_protocol::batch::{self, Batch};
use quiver_protocol::{Record, Schema};

/// An ML stage working on rows: [`Operator`] as it was before batches became columnar.
pub(super) trait RowOperator: Send + 'static {
    /// Processes one batch of input rows, pushing its output rows to `out`.
    fn process_batch(
        &mut self,
        batch: Vec<Record>,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError>;

    /// As [`Operator::snapshot`].
    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        Ok(Vec::new())
    }

    /// As [`Operator::restore`].
    fn restore(&mut self, _state: SavedState) -> Result<(), OperatorError> {
        Ok(())
    }
}

/// What a [`RowOperator`] emits during one call.
#[derive(Debug, Default)]
pub(super) struct RowOutput {
    /// Output rows, in the stage's output schema.
    pub(super) records: Vec<Record>,
}

/// A [`RowOperator`] behind the columnar [`Operator`] API.
pub(super) struct RowAdapter {
    stage: String,
    /// The schema of the rows the stage emits.
    output: Schema,
    rows: Box<dyn RowOperator>,
}

impl RowAdapter {
    /// The stage `stage` (its name), emitting rows of `output`.
    pub(super) fn new(stage: &str, output: Schema, rows: Box<dyn RowOperator>) -> RowAdapter {
        RowAdapter {
            stage: stage.to_string(),
            output,
            rows,
        }
    }
}

impl Operator for RowAdapter {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        let mut rows = RowOutput::default();
        self.rows
            .process_batch(batch::to_records(batch), &mut rows)?;
        if rows.records.is_empty() {
            return Ok(());
        }
        let emitted = batch::from_records(&self.output, &rows.records).map_err(|e| {
            OperatorError::Data(format!(
                "stage \"{}\": an output row does not fit the stage's schema: {e}",
                self.stage
            ))
        })?;
        out.records.push(emitted);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.rows.snapshot()
    }

    fn restore(&mut self, state: SavedState) -> Result<(), OperatorError> {
        self.rows.restore(state)
    }
}

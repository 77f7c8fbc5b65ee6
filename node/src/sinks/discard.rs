//! The `discard` sink: drops every record, counting them (benchmarks).

use crate::operator::{OperatorError, Sink};
use quiver_protocol::batch::Batch;

/// Drops records; counts them.
#[derive(Debug, Default)]
pub struct DiscardSink {
    records: u64,
}

impl DiscardSink {
    /// Records received so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

impl Sink for DiscardSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        self.records += batch.len() as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        tracing::debug!(records = self.records, "discard sink finished");
        Ok(())
    }
}

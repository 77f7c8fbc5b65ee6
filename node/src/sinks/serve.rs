//! The `serve` sink: rows into a table of the process's embedded serving store
//! (`crate::serving`), looked up by the `key` column, the last row per key kept. Without
//! checkpoints a batch is published as it is written; with checkpoints the rows written
//! before barrier `n` are staged in the store and published when checkpoint `n` commits, so
//! the API never shows a row whose checkpoint may still be rolled back. A deployment restored
//! from checkpoint `n` publishes what it staged up to `n` and drops the rest.

use super::json::JsonEncoder;
use super::SinkContext;
use crate::operator::{OperatorError, Sink};
use crate::serving::store::{Tables, Writer};
use quiver_protocol::batch::{Batch, ValueRef};
use quiver_protocol::{CheckpointId, Schema};
use std::sync::Arc;

/// One partition of a `serve` sink.
pub struct ServeSink {
    tables: Arc<Tables>,
    table: String,
    writer: Writer,
    key: usize,
    encoder: JsonEncoder,
    exactly_once: bool,
    /// Rows written since the last barrier (with checkpoints).
    pending: Vec<(String, Arc<str>)>,
    buf: Vec<u8>,
}

impl ServeSink {
    /// The partition `ctx` of sink `sink` writing rows of `input` into `table` by column
    /// `key`, served on `listen`.
    pub fn new(
        sink: &str,
        table: &str,
        key: &str,
        listen: &str,
        input: &Schema,
        ctx: &SinkContext,
    ) -> Result<ServeSink, OperatorError> {
        let key = input.index_of(key).ok_or_else(|| {
            OperatorError::Config(format!("sink \"{sink}\": its input has no column {key:?}"))
        })?;
        let tables = crate::serving::store_at(listen)
            .map_err(|e| OperatorError::Config(format!("sink \"{sink}\": {e}")))?;
        let writer = Writer {
            lineage: ctx.lineage,
            sink: sink.to_string(),
            partition: ctx.partition,
        };
        tables.restore(&writer, ctx.restored.map(|(checkpoint, _)| checkpoint));
        Ok(ServeSink {
            tables,
            table: table.to_string(),
            writer,
            key,
            encoder: JsonEncoder::new(input),
            exactly_once: ctx.exactly_once,
            pending: Vec::new(),
            buf: Vec::new(),
        })
    }
}

/// A key as the API's path names it: an integer's digits, a string as is.
fn key_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::I64(x) => Some(x.to_string()),
        ValueRef::Str(s) => Some(s.to_string()),
        _ => None,
    }
}

impl Sink for ServeSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        let Some(keys) = batch.columns().get(self.key) else {
            return Ok(());
        };
        let mut rows = Vec::with_capacity(batch.len());
        for row in 0..batch.len() {
            // A row without a key cannot be looked up: it is not served.
            let Some(key) = key_text(keys.get(row)) else {
                continue;
            };
            self.buf.clear();
            self.encoder.encode(batch, row, &mut self.buf);
            rows.push((key, Arc::from(String::from_utf8_lossy(&self.buf).as_ref())));
        }
        if self.exactly_once {
            self.pending.extend(rows);
        } else {
            self.tables.publish(&self.table, rows);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        let rows = std::mem::take(&mut self.pending);
        self.tables.publish(&self.table, rows);
        Ok(())
    }

    fn prepare_commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        let rows = std::mem::take(&mut self.pending);
        self.tables
            .stage(&self.writer, checkpoint, &self.table, rows);
        Ok(())
    }

    fn commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        self.tables.commit(&self.writer, checkpoint);
        Ok(())
    }
}

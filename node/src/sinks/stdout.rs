//! The `stdout` sink: one JSON object per line on standard output, a batch per write.

use super::json::JsonEncoder;
use crate::blocking::blocking;
use crate::operator::{OperatorError, Sink};
use quiver_protocol::batch::Batch;
use quiver_protocol::Schema;
use std::io::Write;

/// Writes rows as JSON lines to standard output: each batch is encoded into a reused buffer,
/// then written under one lock of stdout.
#[derive(Debug)]
pub struct StdoutSink {
    encoder: JsonEncoder,
    buf: Vec<u8>,
}

impl StdoutSink {
    /// A sink for rows of `input`.
    pub fn new(input: &Schema) -> StdoutSink {
        StdoutSink {
            encoder: JsonEncoder::new(input),
            buf: Vec::new(),
        }
    }
}

impl Sink for StdoutSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        self.buf.clear();
        self.encoder.encode_lines(batch, &mut self.buf);
        // A reader draining the pipe slowly blocks this write: keep it off the async workers.
        blocking(|| {
            let mut out = std::io::stdout().lock();
            out.write_all(&self.buf).and_then(|()| out.flush())
        })
        .map_err(|e| OperatorError::Io(format!("cannot write to standard output: {e}")))
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        blocking(|| std::io::stdout().lock().flush())
            .map_err(|e| OperatorError::Io(format!("cannot write to standard output: {e}")))
    }
}

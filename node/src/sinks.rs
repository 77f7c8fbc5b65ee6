//! Sinks: [`build_sink`] turns a validated `[[sink]]` into a [`Sink`] partition.
//!
//! Every sink writes a row as one JSON object named by the input schema's columns
//! ([`json::JsonEncoder`]), one per line:
//! - `file`: a folder of part files ([`file::FileSink`]: in-progress files start with `.`,
//!   published by renaming on [`Sink::finish`]);
//! - `stdout`: standard output ([`stdout::StdoutSink`]);
//! - `discard`: drops rows, counting them ([`discard::DiscardSink`]).

pub mod discard;
pub mod file;
pub mod json;
pub mod stdout;

use crate::operator::{OperatorError, Sink};
use quiver_protocol::spec::{SinkKind, SinkSpec};
use quiver_protocol::Schema;

/// Builds partition `partition` of `spec`, writing rows of `input`.
pub fn build_sink(
    spec: &SinkSpec,
    input: &Schema,
    partition: u32,
) -> Result<Box<dyn Sink>, OperatorError> {
    Ok(match &spec.kind {
        SinkKind::File { path } => Box::new(file::FileSink::new(path, input, partition)?),
        SinkKind::Stdout => Box::new(stdout::StdoutSink::new(input)),
        SinkKind::Discard => Box::new(discard::DiscardSink::default()),
    })
}

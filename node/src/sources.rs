//! Sources: readers of a validated `[[source]]`'s splits ([`Source`]), each read a columnar
//! batch of the source's schema built column by column (no row in between).
//!
//! - `file`: CSV with a header line ([`csv::CsvSource`]) or JSON lines
//!   ([`jsonl::JsonlSource`]), typed by the source's schema, the event time taken from the
//!   `event_time` column (else 0). A malformed record fails the job with
//!   `FILE line N: REASON`, or with `bad_records = "skip"` is counted ([`Source::skipped`])
//!   and leaves none of its values in the batch.
//!   Malformed are, besides text that is not of the column's type: an f64 that is not finite
//!   (`NaN`, `inf`, or `1e400`, which overflows; it would poison sums and averages for good),
//!   an event time outside
//!   [`EVENT_TIME_RANGE`](quiver_protocol::record::EVENT_TIME_RANGE) (so window and watermark
//!   arithmetic downstream cannot overflow), and in JSON lines a schema column given twice in
//!   one object. `docs/guarantees.md` ("Malformed and extreme values") lists them with their
//!   tests.
//! - `generator`: the deterministic W1 workload ([`generator::Generator`]).
//! - `kafka`: the partitions of a topic ([`kafka::KafkaReader`]), each message's value a
//!   record read as a JSON-lines line or a CSV line is.
//!
//! A source's input is cut into [`splits`] (a file of a folder, a generator partition, a
//! topic partition), spread
//! over its partitions; each [`Source`] reads one split. Replay `rate`, watermarks per split,
//! idleness and alignment are the runtime's business (`runtime::source_driver`,
//! [`crate::watermark::splits`]), not the reader's.

pub mod csv;
mod fields;
pub mod generator;
pub mod jsonl;
pub mod kafka;
pub mod splits;

use crate::operator::{OperatorError, Source};
use quiver_protocol::spec::SourceSpec;

/// Opens the reader of partition `partition` of `parallelism` of `spec` when that partition
/// reads exactly one split (a single file at parallelism 1, a generator partition): a source
/// read outside the runtime, as tests and tools do. The runtime reads a partition's splits
/// side by side (see [`splits`]). A file is opened (and a CSV header read) here, so a missing
/// file or column fails before any record flows.
pub fn build_source(
    spec: &SourceSpec,
    partition: u32,
    parallelism: u32,
) -> Result<Box<dyn Source>, OperatorError> {
    let mine = splits::assigned(
        splits::splits_of(spec, parallelism)?,
        partition,
        parallelism,
    );
    match mine.as_slice() {
        [split] => splits::open_split(spec, split),
        _ => Err(OperatorError::Data(format!(
            "source \"{}\": partition {partition} of {parallelism} reads {} splits, not one",
            spec.name,
            mine.len()
        ))),
    }
}

#[cfg(test)]
pub(crate) mod file_tests;
#[cfg(test)]
mod malformed_tests;

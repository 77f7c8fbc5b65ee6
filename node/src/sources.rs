//! Sources: [`build_source`] turns a validated `[[source]]` into a [`Source`] partition.
//!
//! - `file`: CSV with a header line ([`csv::CsvSource`]) or JSON lines
//!   ([`jsonl::JsonlSource`]), typed by the source's schema, the event time taken from the
//!   `event_time` column (else 0). A malformed record fails the job with
//!   `FILE line N: REASON`, or with `bad_records = "skip"` is counted ([`Source::skipped`]).
//!   Malformed are, besides text that is not of the column's type: an f64 that is not finite
//!   (`NaN`, `inf`, or `1e400`, which overflows; it would poison sums and averages for good),
//!   an event time outside
//!   [`EVENT_TIME_RANGE`](quiver_protocol::record::EVENT_TIME_RANGE) (so window and watermark
//!   arithmetic downstream cannot overflow), and in JSON lines a schema column given twice in
//!   one object. `docs/guarantees.md` ("Malformed and extreme values") lists them with their
//!   tests. File sources have parallelism 1.
//! - `generator`: the deterministic W1 workload ([`generator::Generator`]).
//!
//! Replay `rate` and watermarks ([`crate::watermark::WatermarkGenerator`]) are the runtime's
//! business, not the source's.

pub mod csv;
mod fields;
pub mod generator;
pub mod jsonl;

use crate::operator::{OperatorError, Source};
use quiver_protocol::spec::{FileFormat, SourceKind, SourceSpec};

/// Builds partition `partition` of `parallelism` of `spec`. A file is opened (and a CSV
/// header read) here, so a missing file or column fails before any record flows.
pub fn build_source(
    spec: &SourceSpec,
    partition: u32,
    parallelism: u32,
) -> Result<Box<dyn Source>, OperatorError> {
    match &spec.kind {
        SourceKind::Generator(g) => Ok(Box::new(generator::Generator::new(
            g,
            &spec.schema,
            partition,
            parallelism,
        )?)),
        SourceKind::File(f) => {
            if parallelism != 1 || partition != 0 {
                return Err(OperatorError::Data(format!(
                    "source \"{}\": a file source has parallelism 1, got partition {partition} of {parallelism}",
                    spec.name
                )));
            }
            let format = match f.format {
                FileFormat::Csv => "csv",
                FileFormat::Jsonl => "jsonl",
            };
            let plan = fields::RowPlan::new(
                &f.path,
                &spec.schema,
                f.event_time.as_deref(),
                f.bad_records,
                format,
            )?;
            Ok(match f.format {
                FileFormat::Csv => Box::new(csv::CsvSource::open(plan, &f.path)?),
                FileFormat::Jsonl => Box::new(jsonl::JsonlSource::open(plan, &f.path)?),
            })
        }
    }
}

#[cfg(test)]
mod file_tests;
#[cfg(test)]
mod malformed_tests;

//! The CSV file source: a header line naming the columns, then one record per line (RFC 4180
//! quoting, via the `csv` crate).
//!
//! Header columns are matched to the schema by name: extra columns are ignored, a schema
//! column missing from the header is an error. Empty lines are skipped, and so is a UTF-8
//! byte-order mark before the header. An f64 field must be finite: `NaN`, `inf` and numbers
//! that overflow (`1e400`) are malformed.

use super::fields::{parse_text, RowPlan};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::{Batch, Record, Value};
use std::fs::File;
use std::io::{Seek, SeekFrom};

/// Reads records from a CSV file with a header line.
pub struct CsvSource {
    plan: RowPlan,
    /// For each field of a line: the schema column it fills, if any.
    targets: Vec<Option<usize>>,
    reader: csv::Reader<File>,
    record: csv::ByteRecord,
    /// Byte offset and line of the reader's start in the file (after a seek).
    base: (u64, u64),
    /// Where the data starts: the line after the header.
    data_start: (u64, u64),
    skipped: u64,
    done: bool,
}

impl std::fmt::Debug for CsvSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSource")
            .field("file", &self.plan.file)
            .field("position", &self.position())
            .finish()
    }
}

fn reader(file: File) -> csv::Reader<File> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(file)
}

impl CsvSource {
    /// Opens the file and reads its header.
    pub(crate) fn open(plan: RowPlan, path: &std::path::Path) -> Result<CsvSource, OperatorError> {
        let file = File::open(path).map_err(|e| plan.open_error(e))?;
        let mut reader = reader(file);
        let mut header = csv::ByteRecord::new();
        let read = reader
            .read_byte_record(&mut header)
            .map_err(|e| plan.io_error("read", e))?;
        if !read {
            return Err(OperatorError::Data(format!(
                "{}: the file is empty; a header line naming the columns ({}) is required",
                plan.file,
                plan.schema.names()
            )));
        }
        let names: Vec<String> = header
            .iter()
            .map(|f| {
                String::from_utf8_lossy(f)
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_string()
            })
            .collect();
        let targets: Vec<Option<usize>> = names.iter().map(|n| plan.schema.index_of(n)).collect();
        if let Some(missing) = plan
            .schema
            .columns
            .iter()
            .find(|c| !names.contains(&c.name))
        {
            return Err(OperatorError::Data(format!(
                "{} line 1: the header has no column \"{}\" (header columns: {})",
                plan.file,
                missing.name,
                names.join(", ")
            )));
        }
        let data_start = (reader.position().byte(), reader.position().line());
        Ok(CsvSource {
            plan,
            targets,
            reader,
            record: csv::ByteRecord::new(),
            base: (0, 1),
            data_start,
            skipped: 0,
            done: false,
        })
    }

    /// Parses the record in `self.record` (at `line`).
    fn parse(&self) -> Result<Record, String> {
        if self.record.len() != self.targets.len() {
            return Err(format!(
                "expected {} fields (as in the header), found {}",
                self.targets.len(),
                self.record.len()
            ));
        }
        let mut row = vec![Value::Null; self.plan.schema.columns.len()];
        for (field, target) in self.record.iter().zip(&self.targets) {
            let Some(i) = *target else { continue };
            let column = &self.plan.schema.columns[i];
            let text = std::str::from_utf8(field)
                .map_err(|_| format!("column \"{}\": not valid UTF-8", column.name))?;
            row[i] = parse_text(text, column.ty)
                .map_err(|e| format!("column \"{}\": {e}", column.name))?;
        }
        let event_time = self.plan.event_time(&row)?;
        Ok(Record { event_time, row })
    }
}

impl Source for CsvSource {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(max.min(4096));
        while batch.len() < max {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| self.plan.io_error("read", e))?;
            if !more {
                self.done = true;
                break;
            }
            match self.parse() {
                Ok(record) => batch.push(record),
                Err(reason) => {
                    let line =
                        self.base.1 + self.record.position().map_or(1, csv::Position::line) - 1;
                    self.plan.bad_record(line, reason, &mut self.skipped)?;
                }
            }
        }
        if batch.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn position(&self) -> SourcePosition {
        let p = self.reader.position();
        SourcePosition::File {
            offset: self.base.0 + p.byte(),
            line: self.base.1 + p.line() - 1,
        }
    }

    fn seek(&mut self, position: SourcePosition) -> Result<(), OperatorError> {
        let (offset, line) = self.plan.file_position(position)?;
        let (offset, line) = if offset < self.data_start.0 {
            self.data_start
        } else {
            (offset, line.max(1))
        };
        let mut file = self
            .reader
            .get_ref()
            .try_clone()
            .map_err(|e| self.plan.io_error("reopen", e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| self.plan.io_error("seek", e))?;
        self.reader = reader(file);
        self.base = (offset, line);
        self.done = false;
        Ok(())
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

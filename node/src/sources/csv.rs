//! The CSV file source: a header line naming the columns, then one record per line (RFC 4180
//! quoting, via the `csv` crate).
//!
//! Header columns are matched to the schema by name: extra columns are ignored, a schema
//! column missing from the header is an error (one the header names twice is filled from its
//! last field; both must be well-formed). Empty lines are skipped, and so is a UTF-8
//! byte-order mark before the header. An f64 field must be finite: `NaN`, `inf` and numbers
//! that overflow (`1e400`) are malformed.
//!
//! Fields are parsed straight into the batch's typed column builders, no row in between.

use super::fields::{parse_text, refused, RecordBatch, RowPlan};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::batch::{Batch, ColumnBuilder};
use quiver_protocol::Schema;
use std::fs::File;
use std::io::{Seek, SeekFrom};

/// What a field of a line is for, by its header column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// Not a schema column: ignored.
    Ignored,
    /// Fills schema column `i`.
    Fills(usize),
    /// Names schema column `i`, which a later field of the header names again and fills:
    /// parsed (a malformed value is a malformed record), then dropped.
    Shadowed(usize),
}

/// Reads records from a CSV file with a header line.
pub struct CsvSource {
    plan: RowPlan,
    /// What each field of a line is for.
    fields: Vec<Field>,
    reader: csv::Reader<File>,
    record: csv::ByteRecord,
    /// The records of the batch being read.
    batch: RecordBatch,
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
        let fields = fields_of(&names, &plan.schema);
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
            batch: RecordBatch::new(&plan.schema),
            plan,
            fields,
            reader,
            record: csv::ByteRecord::new(),
            base: (0, 1),
            data_start,
            skipped: 0,
            done: false,
        })
    }
}

/// What each field of a line is for, given the names of the fields in order (a header).
pub(crate) fn fields_of(names: &[String], schema: &Schema) -> Vec<Field> {
    names
        .iter()
        .enumerate()
        .map(|(at, n)| match schema.index_of(n) {
            None => Field::Ignored,
            Some(i) if names[at + 1..].contains(n) => Field::Shadowed(i),
            Some(i) => Field::Fills(i),
        })
        .collect()
}

/// Parses the fields of `record` into `columns` (of `schema`), one value each.
pub(crate) fn parse(
    record: &csv::ByteRecord,
    fields: &[Field],
    schema: &Schema,
    columns: &mut [ColumnBuilder],
) -> Result<(), String> {
    if record.len() != fields.len() {
        return Err(format!(
            "expected {} fields (as in the header), found {}",
            fields.len(),
            record.len()
        ));
    }
    for (text, field) in record.iter().zip(fields) {
        let (i, fills) = match *field {
            Field::Ignored => continue,
            Field::Fills(i) => (i, true),
            Field::Shadowed(i) => (i, false),
        };
        let column = &schema.columns[i];
        let text = std::str::from_utf8(text)
            .map_err(|_| format!("column \"{}\": not valid UTF-8", column.name))?;
        let cell =
            parse_text(text, column.ty).map_err(|e| format!("column \"{}\": {e}", column.name))?;
        if fills {
            cell.push_to(&mut columns[i]).map_err(refused)?;
        }
    }
    Ok(())
}

impl Source for CsvSource {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        if self.done {
            return Ok(None);
        }
        self.batch.clear();
        while self.batch.len() < max {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| self.plan.io_error("read", e))?;
            if !more {
                self.done = true;
                break;
            }
            let (record, fields, schema) = (&self.record, &self.fields, &self.plan.schema);
            let read = self
                .batch
                .push_record(&self.plan, |columns| parse(record, fields, schema, columns));
            if let Err(reason) = read {
                let line = self.base.1 + self.record.position().map_or(1, csv::Position::line) - 1;
                self.plan.bad_record(line, reason, &mut self.skipped)?;
            }
        }
        if self.batch.is_empty() && self.done {
            return Ok(None);
        }
        self.batch.finish(&self.plan).map(Some)
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

//! The CSV and TSV file source: a header line naming the columns (or, for a file without one,
//! the source's `columns`), then one record per line (RFC 4180 quoting, via the `csv` crate);
//! TSV is the same with tab as the delimiter (MovieLens's `u.data`).
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
enum Field {
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
    delimiter: u8,
    /// Where the column names came from, for messages: "in the header" or "the source's
    /// columns name".
    origin: &'static str,
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

/// How a delimited file is laid out: its delimiter and where its column names come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `b','` (CSV) or `b'\t'` (TSV).
    pub(crate) delimiter: u8,
    /// The fields' names in file order for a file without a header line; `None`: the first
    /// line is the header.
    pub(crate) columns: Option<Vec<String>>,
}

fn reader(file: File, delimiter: u8) -> csv::Reader<File> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(file)
}

/// Reads the header line: the column names it gives.
fn read_header(
    reader: &mut csv::Reader<File>,
    plan: &RowPlan,
) -> Result<Vec<String>, OperatorError> {
    let mut header = csv::ByteRecord::new();
    let read = reader
        .read_byte_record(&mut header)
        .map_err(|e| plan.io_error("read", e))?;
    if !read {
        return Err(OperatorError::Data(format!(
            "{}: the file is empty; a header line naming the columns ({}) is required, or \
             the source's columns = [...] for a file without one",
            plan.file,
            plan.schema.names()
        )));
    }
    Ok(header
        .iter()
        .map(|f| {
            String::from_utf8_lossy(f)
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect())
}

impl CsvSource {
    /// Opens the file laid out as `layout` and reads its header, if it has one.
    pub(crate) fn open(
        plan: RowPlan,
        path: &std::path::Path,
        layout: &Layout,
    ) -> Result<CsvSource, OperatorError> {
        let file = File::open(path).map_err(|e| plan.open_error(e))?;
        let mut reader = reader(file, layout.delimiter);
        let names = match &layout.columns {
            Some(columns) => columns.clone(),
            None => read_header(&mut reader, &plan)?,
        };
        let fields = names
            .iter()
            .enumerate()
            .map(|(at, n)| match plan.schema.index_of(n) {
                None => Field::Ignored,
                Some(i) if names[at + 1..].contains(n) => Field::Shadowed(i),
                Some(i) => Field::Fills(i),
            })
            .collect();
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
            delimiter: layout.delimiter,
            origin: if layout.columns.is_some() {
                "the source's columns name"
            } else {
                "in the header"
            },
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

/// Parses the fields of `record` into `columns` (of `schema`), one value each; `origin` says
/// where the expected fields were named, for messages.
fn parse(
    record: &csv::ByteRecord,
    origin: &str,
    fields: &[Field],
    schema: &Schema,
    columns: &mut [ColumnBuilder],
) -> Result<(), String> {
    if record.len() != fields.len() {
        return Err(format!(
            "expected {} fields (as {origin}), found {}",
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
            let origin = self.origin;
            let read = self.batch.push_record(&self.plan, |columns| {
                parse(record, origin, fields, schema, columns)
            });
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
        self.reader = reader(file, self.delimiter);
        self.base = (offset, line);
        self.done = false;
        Ok(())
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

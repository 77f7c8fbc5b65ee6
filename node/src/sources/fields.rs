//! What the file sources share: the schema they fill, the batch they build a record at a
//! time (all or nothing), typed parsing of text fields, the event time column, and error
//! messages that name the file, the line and the reason.

use crate::operator::{OperatorError, SourcePosition};
use quiver_protocol::batch::{column_type, Batch, ColumnBuilder, WrongType};
use quiver_protocol::record::{EVENT_TIME_RANGE, MAX_EVENT_TIME, MIN_EVENT_TIME};
use quiver_protocol::spec::{BadRecords, TimeUnit};
use quiver_protocol::{Schema, ValueType};
use std::path::Path;

/// The target of a file source: the schema, where the event time is, what to do on bad input.
#[derive(Debug, Clone)]
pub(crate) struct RowPlan {
    /// The file, as named in messages.
    pub(crate) file: String,
    /// The columns to fill, in row order.
    pub(crate) schema: Schema,
    /// The event time column's position (an i64 column), if any.
    pub(crate) event_time: Option<usize>,
    /// What the event time column counts.
    pub(crate) event_time_unit: TimeUnit,
    /// Fail or skip on a malformed record.
    pub(crate) bad_records: BadRecords,
    /// What a record's number counts in messages: "line" (files), "offset" (Kafka).
    pub(crate) unit: &'static str,
}

impl RowPlan {
    /// Plans reading `schema` from `path`, the event time from column `event_time` (in
    /// `event_time_unit`).
    pub(crate) fn new(
        path: &Path,
        schema: &Schema,
        (event_time, event_time_unit): (Option<&str>, TimeUnit),
        bad_records: BadRecords,
        format: &str,
    ) -> Result<RowPlan, OperatorError> {
        RowPlan::named(
            path.display().to_string(),
            "line",
            schema,
            (event_time, event_time_unit),
            bad_records,
            format,
        )
    }

    /// Plans reading `schema` from the input named `file` in messages, whose records are
    /// numbered in `unit`s ("line", "offset").
    pub(crate) fn named(
        file: String,
        unit: &'static str,
        schema: &Schema,
        (event_time, event_time_unit): (Option<&str>, TimeUnit),
        bad_records: BadRecords,
        format: &str,
    ) -> Result<RowPlan, OperatorError> {
        let event_time = match event_time {
            None => None,
            Some(name) => {
                let i = schema.index_of(name).ok_or_else(|| {
                    OperatorError::Data(format!(
                        "{file}: event time column \"{name}\" is not in the schema (columns: {})",
                        schema.names()
                    ))
                })?;
                if schema.columns[i].ty != ValueType::I64 {
                    return Err(OperatorError::Data(format!(
                        "{file}: event time column \"{name}\" must be i64 (milliseconds), found {}",
                        schema.columns[i].ty
                    )));
                }
                Some(i)
            }
        };
        if format != "jsonl" {
            if let Some(c) = schema
                .columns
                .iter()
                .find(|c| matches!(c.ty, ValueType::Dense | ValueType::Sparse))
            {
                return Err(OperatorError::Data(format!(
                    "{file}: column \"{}\" of type {} cannot be read from {format} (allowed: i64, f64, string, bool)",
                    c.name, c.ty
                )));
            }
        }
        Ok(RowPlan {
            file,
            schema: schema.clone(),
            event_time,
            event_time_unit,
            bad_records,
            unit,
        })
    }

    /// The error for a malformed record at `line`.
    pub(crate) fn error(&self, line: u64, reason: impl std::fmt::Display) -> OperatorError {
        OperatorError::Data(format!("{} {} {line}: {reason}", self.file, self.unit))
    }

    /// Handles a malformed record at `line`: the error that fails the job, or (when bad
    /// records are skipped) one more in `skipped`.
    pub(crate) fn bad_record(
        &self,
        line: u64,
        reason: String,
        skipped: &mut u64,
    ) -> Result<(), OperatorError> {
        match self.bad_records {
            BadRecords::Fail => Err(self.error(line, reason)),
            // The first of each input at WARN, so a log shows that records are being skipped;
            // the rest at DEBUG (a file of bad lines would flood it), counted on /metrics.
            BadRecords::Skip if *skipped == 0 => {
                let next = "the next ones of this input are logged at debug level";
                tracing::warn!(file = %self.file, line, %reason, "skipped a malformed record; {next}");
                *skipped += 1;
                Ok(())
            }
            BadRecords::Skip => {
                tracing::debug!(file = %self.file, line, %reason, "skipped a malformed record");
                *skipped += 1;
                Ok(())
            }
        }
    }

    /// The error for a file that cannot be opened: permanent, since a retry finds the same
    /// path.
    pub(crate) fn open_error(&self, e: impl std::fmt::Display) -> OperatorError {
        OperatorError::Config(format!(
            "cannot open {}: {e}; check the source's path (a relative path resolves against \
             the spec's folder)",
            self.file
        ))
    }

    /// The error for a failed `action` ("read", "seek", ...) on the open file: transient.
    pub(crate) fn io_error(&self, action: &str, e: impl std::fmt::Display) -> OperatorError {
        OperatorError::Io(format!("cannot {action} {}: {e}", self.file))
    }

    /// The byte offset and line of a position to seek the file to; only file positions are.
    pub(crate) fn file_position(
        &self,
        position: SourcePosition,
    ) -> Result<(u64, u64), OperatorError> {
        match position {
            SourcePosition::File { offset, line } => Ok((offset, line)),
            other => Err(OperatorError::State(format!(
                "{}: cannot seek a file source to {other:?}",
                self.file
            ))),
        }
    }

    /// The event time of the record just pushed to `columns`: the event time column's in
    /// milliseconds (the column must not be null, and its time must be in
    /// [`EVENT_TIME_RANGE`]), else 0.
    fn event_time(&self, columns: &[ColumnBuilder]) -> Result<i64, String> {
        let Some(i) = self.event_time else {
            return Ok(0);
        };
        let name = &self.schema.columns[i].name;
        let (per_unit, unit) = match self.event_time_unit {
            TimeUnit::Milliseconds => (1, ""),
            TimeUnit::Seconds => (1000, " s"),
        };
        match columns[i].last_i64() {
            Some(t)
                if t.checked_mul(per_unit)
                    .is_some_and(|ms| EVENT_TIME_RANGE.contains(&ms)) =>
            {
                Ok(t * per_unit)
            }
            Some(t) => Err(format!(
                "column \"{name}\" (event time): {t}{unit} is outside the valid range, \
                 {MIN_EVENT_TIME} to {MAX_EVENT_TIME} ms since the epoch"
            )),
            None => Err(format!("column \"{name}\" (event time) is missing")),
        }
    }
}

/// The batch a file source fills, a record at a time: a typed builder per schema column and
/// the records' event times. A record is pushed whole or not at all
/// ([`RecordBatch::push_record`]), so a malformed record leaves nothing behind.
#[derive(Debug)]
pub(crate) struct RecordBatch {
    columns: Vec<ColumnBuilder>,
    event_time: Vec<i64>,
}

impl RecordBatch {
    /// An empty batch of `schema`'s columns.
    pub(crate) fn new(schema: &Schema) -> RecordBatch {
        RecordBatch {
            columns: schema
                .columns
                .iter()
                .map(|c| ColumnBuilder::new(column_type(c.ty), 0))
                .collect(),
            event_time: Vec::new(),
        }
    }

    /// Records kept so far.
    pub(crate) fn len(&self) -> usize {
        self.event_time.len()
    }

    /// Whether no record was kept.
    pub(crate) fn is_empty(&self) -> bool {
        self.event_time.is_empty()
    }

    /// Reads one record: `fill` pushes exactly one value (or null) to every column, then the
    /// record's event time is taken (see `RowPlan`). If `fill` or the event time fails,
    /// every value pushed for the record is taken back and the reason returned.
    pub(crate) fn push_record(
        &mut self,
        plan: &RowPlan,
        fill: impl FnOnce(&mut [ColumnBuilder]) -> Result<(), String>,
    ) -> Result<(), String> {
        let kept = self.len();
        match fill(&mut self.columns).and_then(|()| plan.event_time(&self.columns)) {
            Ok(t) => {
                self.event_time.push(t);
                Ok(())
            }
            Err(reason) => {
                self.columns.iter_mut().for_each(|c| c.truncate(kept));
                Err(reason)
            }
        }
    }

    /// Drops every record (what a failed read had kept).
    pub(crate) fn clear(&mut self) {
        self.columns.iter_mut().for_each(|c| c.truncate(0));
        self.event_time.clear();
    }

    /// The records kept, as a batch; the builders start over.
    pub(crate) fn finish(&mut self, plan: &RowPlan) -> Result<Batch, OperatorError> {
        let rows = self.len();
        let event_time = std::mem::replace(&mut self.event_time, Vec::with_capacity(rows));
        Batch::try_new(
            event_time,
            self.columns.iter_mut().map(|c| c.finish()).collect(),
        )
        .map_err(|e| OperatorError::Data(format!("{}: a reader bug: {e}", plan.file)))
    }
}

/// One field's value as read, borrowing the text it was read from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    /// An empty field, or JSON `null`.
    Null,
    /// An i64.
    I64(i64),
    /// A finite f64.
    F64(f64),
    /// A bool.
    Bool(bool),
    /// A string.
    Str(&'a str),
}

impl Cell<'_> {
    /// Appends the value to `builder`, of its column's type.
    pub(crate) fn push_to(self, builder: &mut ColumnBuilder) -> Result<(), WrongType> {
        match self {
            Cell::Null => {
                builder.push_null();
                Ok(())
            }
            Cell::I64(x) => builder.push_i64(x),
            Cell::F64(x) => builder.push_f64(x),
            Cell::Bool(x) => builder.push_bool(x),
            Cell::Str(x) => builder.push_str(x),
        }
    }
}

/// Why a builder refused a value: a reader pushed a value of another type than its column's
/// (a bug, reported as the record's problem rather than a panic).
pub(crate) fn refused(e: WrongType) -> String {
    format!(
        "a reader bug: a value of another type for a {:?} column",
        e.column
    )
}

/// A value shown in an error message: quoted, escaped, cut after 40 characters. Formatted
/// only when a message is made.
pub(crate) fn shown(text: &str) -> impl std::fmt::Display + '_ {
    struct Shown<'a>(&'a str);
    impl std::fmt::Display for Shown<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self.0.char_indices().nth(40) {
                Some((cut, _)) => write!(f, "{:?}...", &self.0[..cut]),
                None => write!(f, "{:?}", self.0),
            }
        }
    }
    Shown(text)
}

/// The type's name with its article, as in "is not a f64".
pub(crate) fn with_article(ty: ValueType) -> String {
    match ty {
        ValueType::I64 => "an i64".to_string(),
        other => format!("a {other}"),
    }
}

/// `x` if it is finite; else the reason the value written as `written` is malformed (NaN and
/// infinities, also from overflow as in `1e400`, would poison sums and averages for good).
pub(crate) fn finite(x: f64, written: &dyn std::fmt::Display) -> Result<f64, String> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("{written} is not a finite f64"))
    }
}

/// Parses a CSV text field as `ty`. An empty field is null for every type but string.
pub(crate) fn parse_text(text: &str, ty: ValueType) -> Result<Cell<'_>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() && ty != ValueType::Str {
        return Ok(Cell::Null);
    }
    let bad = || format!("{} is not {}", shown(text), with_article(ty));
    Ok(match ty {
        ValueType::I64 => Cell::I64(trimmed.parse().map_err(|_| bad())?),
        ValueType::F64 => Cell::F64(finite(trimmed.parse().map_err(|_| bad())?, &shown(text))?),
        ValueType::Bool => {
            if trimmed.eq_ignore_ascii_case("true") {
                Cell::Bool(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                Cell::Bool(false)
            } else {
                return Err(bad());
            }
        }
        ValueType::Str => Cell::Str(text),
        ValueType::Dense | ValueType::Sparse => return Err(bad()),
    })
}

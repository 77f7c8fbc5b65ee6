//! What the file sources share: the schema they fill, typed parsing of text fields, the event
//! time column, and error messages that name the file, the line and the reason.

use crate::operator::{OperatorError, SourcePosition};
use quiver_protocol::record::{EVENT_TIME_RANGE, MAX_EVENT_TIME, MIN_EVENT_TIME};
use quiver_protocol::spec::BadRecords;
use quiver_protocol::{Row, Schema, Value, ValueType};
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
    /// Fail or skip on a malformed record.
    pub(crate) bad_records: BadRecords,
}

impl RowPlan {
    /// Plans reading `schema` from `path`, the event time from column `event_time`.
    pub(crate) fn new(
        path: &Path,
        schema: &Schema,
        event_time: Option<&str>,
        bad_records: BadRecords,
        format: &str,
    ) -> Result<RowPlan, OperatorError> {
        let file = path.display().to_string();
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
        if format == "csv" {
            if let Some(c) = schema
                .columns
                .iter()
                .find(|c| matches!(c.ty, ValueType::Dense | ValueType::Sparse))
            {
                return Err(OperatorError::Data(format!(
                    "{file}: column \"{}\" of type {} cannot be read from csv (allowed: i64, f64, string, bool)",
                    c.name, c.ty
                )));
            }
        }
        Ok(RowPlan {
            file,
            schema: schema.clone(),
            event_time,
            bad_records,
        })
    }

    /// The error for a malformed record at `line`.
    pub(crate) fn error(&self, line: u64, reason: impl std::fmt::Display) -> OperatorError {
        OperatorError::Data(format!("{} line {line}: {reason}", self.file))
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

    /// The record's event time: the event time column (which must not be null and must be in
    /// [`EVENT_TIME_RANGE`]), else 0.
    pub(crate) fn event_time(&self, row: &Row) -> Result<i64, String> {
        let Some(i) = self.event_time else {
            return Ok(0);
        };
        let name = &self.schema.columns[i].name;
        match row.get(i) {
            Some(Value::I64(t)) if EVENT_TIME_RANGE.contains(t) => Ok(*t),
            Some(Value::I64(t)) => Err(format!(
                "column \"{name}\" (event time): {t} is outside the valid range, {MIN_EVENT_TIME} \
                 to {MAX_EVENT_TIME} ms since the epoch"
            )),
            _ => Err(format!("column \"{name}\" (event time) is missing")),
        }
    }
}

/// A value shown in an error message: quoted, escaped, cut after 40 characters.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
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
pub(crate) fn parse_text(text: &str, ty: ValueType) -> Result<Value, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() && ty != ValueType::Str {
        return Ok(Value::Null);
    }
    let bad = || format!("{} is not {}", shown(text), with_article(ty));
    Ok(match ty {
        ValueType::I64 => Value::I64(trimmed.parse().map_err(|_| bad())?),
        ValueType::F64 => Value::F64(finite(trimmed.parse().map_err(|_| bad())?, &shown(text))?),
        ValueType::Bool => {
            if trimmed.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(bad());
            }
        }
        ValueType::Str => Value::from(text),
        ValueType::Dense | ValueType::Sparse => return Err(bad()),
    })
}

//! The JSON-lines file source: one JSON object per line, fields matched to the schema by name
//! (other fields ignored; a null or missing field is null). Blank lines are skipped.
//!
//! Lines are parsed straight into a row (a serde visitor typed by the schema), without an
//! intermediate JSON tree.

use super::fields::{shown, with_article, RowPlan};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::{Batch, Record, Row, Schema, SparseVector, Value, ValueType};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

/// Reads records from a JSON-lines file.
#[derive(Debug)]
pub struct JsonlSource {
    plan: RowPlan,
    reader: BufReader<File>,
    line_buf: Vec<u8>,
    /// Byte offset and line number of the next unread line.
    offset: u64,
    line: u64,
    skipped: u64,
    done: bool,
}

impl JsonlSource {
    /// Opens the file.
    pub(crate) fn open(
        plan: RowPlan,
        path: &std::path::Path,
    ) -> Result<JsonlSource, OperatorError> {
        let file = File::open(path).map_err(|e| plan.open_error(e))?;
        Ok(JsonlSource {
            plan,
            reader: BufReader::with_capacity(1 << 16, file),
            line_buf: Vec::with_capacity(1024),
            offset: 0,
            line: 1,
            skipped: 0,
            done: false,
        })
    }
}

/// Parses one line into a record.
fn parse_line(plan: &RowPlan, text: &[u8]) -> Result<Record, String> {
    let mut row = vec![Value::Null; plan.schema.columns.len()];
    let mut de = serde_json::Deserializer::from_slice(text);
    RowSeed {
        schema: &plan.schema,
        row: &mut row,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(describe)?;
    let event_time = plan.event_time(&row)?;
    Ok(Record { event_time, row })
}

/// A serde_json error without its "at line 1 column N" suffix, with the column for syntax.
fn describe(e: serde_json::Error) -> String {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    match e.classify() {
        serde_json::error::Category::Data => message.to_string(),
        _ => format!("invalid JSON at column {}: {message}", e.column()),
    }
}

impl Source for JsonlSource {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(max.min(4096));
        while batch.len() < max {
            self.line_buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line_buf)
                .map_err(|e| self.plan.io_error("read", e))?;
            if n == 0 {
                self.done = true;
                break;
            }
            let line = self.line;
            self.offset += n as u64;
            self.line += 1;
            if self.line_buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = self.line_buf.trim_ascii_end();
            match parse_line(&self.plan, text) {
                Ok(record) => batch.push(record),
                Err(reason) => self.plan.bad_record(line, reason, &mut self.skipped)?,
            }
        }
        if batch.is_empty() && self.done {
            return Ok(None);
        }
        Ok(Some(batch))
    }

    fn position(&self) -> SourcePosition {
        SourcePosition::File {
            offset: self.offset,
            line: self.line,
        }
    }

    fn seek(&mut self, position: SourcePosition) -> Result<(), OperatorError> {
        let (offset, line) = self.plan.file_position(position)?;
        self.reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| self.plan.io_error("seek", e))?;
        self.offset = offset;
        self.line = line.max(1);
        self.done = false;
        Ok(())
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Fills a row from a JSON object.
struct RowSeed<'a> {
    schema: &'a Schema,
    row: &'a mut Row,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(column) = map.next_key_seed(KeySeed(self.schema))? {
            match column {
                Some(i) => {
                    let c = &self.schema.columns[i];
                    self.row[i] = map.next_value_seed(ValueSeed {
                        ty: c.ty,
                        name: &c.name,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A field name → its schema column, if any (no allocation for unescaped names).
struct KeySeed<'a>(&'a Schema);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.index_of(name))
    }
}

/// One field's value, checked against its column's type.
struct ValueSeed<'a> {
    ty: ValueType,
    name: &'a str,
}

impl ValueSeed<'_> {
    fn mismatch<E: de::Error>(&self, what: impl fmt::Display) -> E {
        E::custom(format!(
            "column \"{}\": {what} is not {}",
            self.name,
            with_article(self.ty)
        ))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.ty == ValueType::Sparse {
            let name = self.name;
            return Option::<SparseVector>::deserialize(d)
                .map(|v| v.map_or(Value::Null, |v| Value::Sparse(Arc::new(v))))
                .map_err(|e| de::Error::custom(format!("column \"{name}\": {e}")));
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", with_article(self.ty))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        match self.ty {
            ValueType::Bool => Ok(Value::Bool(v)),
            _ => Err(self.mismatch(v)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        match self.ty {
            ValueType::I64 => Ok(Value::I64(v)),
            ValueType::F64 => Ok(Value::F64(v as f64)),
            _ => Err(self.mismatch(v)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match (self.ty, i64::try_from(v)) {
            (ValueType::I64, Ok(x)) => Ok(Value::I64(x)),
            (ValueType::F64, _) => Ok(Value::F64(v as f64)),
            _ => Err(self.mismatch(v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.ty {
            ValueType::F64 => Ok(Value::F64(v)),
            _ => Err(self.mismatch(v)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.ty {
            ValueType::Str => Ok(Value::from(v)),
            _ => Err(self.mismatch(shown(v))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.ty != ValueType::Dense {
            return Err(self.mismatch("an array"));
        }
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        let element = || ValueSeed {
            ty: ValueType::F64,
            name: self.name,
        };
        while let Some(x) = seq.next_element_seed(element())? {
            match x {
                Value::F64(x) => values.push(x),
                _ => return Err(element().mismatch("a null element")),
            }
        }
        Ok(Value::Dense(Arc::from(values)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Value, A::Error> {
        Err(self.mismatch("an object"))
    }
}

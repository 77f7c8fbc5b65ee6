//! The JSON-lines file source: one JSON object per line, fields matched to the schema by name
//! (other fields ignored; a null or missing field is null). Blank lines are skipped, and so is
//! a UTF-8 byte-order mark at the start of the file.
//!
//! Lines are parsed straight into the batch's typed column builders (a serde visitor typed by
//! the schema), without an intermediate JSON tree or row. Numbers for i64 and f64 columns (and
//! vector elements) are read from their text as written: an i64 column takes a whole number
//! however it is written (`1.0`, `-3e2`) if it fits exactly, an f64 must be finite (`1e400`
//! overflows), and messages show the number as written. A schema column given twice in one
//! object is malformed.

use super::fields::{finite, refused, shown, with_article, Cell, RecordBatch, RowPlan};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::batch::{Batch, ColumnBuilder, WrongType};
use quiver_protocol::{Schema, SparseVector, ValueType};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};

/// Reads records from a JSON-lines file.
#[derive(Debug)]
pub struct JsonlSource {
    plan: RowPlan,
    reader: BufReader<File>,
    line_buf: Vec<u8>,
    /// Which schema columns the line being parsed has set (reused from line to line).
    seen: Vec<bool>,
    /// A dense vector's elements as they are read (reused).
    elements: Vec<f64>,
    /// The records of the batch being read.
    batch: RecordBatch,
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
            batch: RecordBatch::new(&plan.schema),
            plan,
            reader: BufReader::with_capacity(1 << 16, file),
            line_buf: Vec::with_capacity(1024),
            seen: Vec::new(),
            elements: Vec::new(),
            offset: 0,
            line: 1,
            skipped: 0,
            done: false,
        })
    }
}

/// The UTF-8 byte-order mark some editors write at the start of a file.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses one line into `columns` (of `schema`), one value each: a column the object does not
/// give is null. `seen` and `elements` are scratch space.
pub(crate) fn parse_line(
    schema: &Schema,
    text: &[u8],
    seen: &mut Vec<bool>,
    elements: &mut Vec<f64>,
    columns: &mut [ColumnBuilder],
) -> Result<(), String> {
    seen.clear();
    seen.resize(columns.len(), false);
    let mut de = serde_json::Deserializer::from_slice(text);
    RowSeed {
        schema,
        columns,
        seen,
        elements,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(describe)?;
    for (column, &seen) in columns.iter_mut().zip(seen.iter()) {
        if !seen {
            column.push_null();
        }
    }
    Ok(())
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
        self.batch.clear();
        while self.batch.len() < max {
            self.line_buf.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line_buf)
                .map_err(|e| self.plan.io_error("read", e))?;
            if n == 0 {
                self.done = true;
                break;
            }
            let (line, at_start) = (self.line, self.offset == 0);
            self.offset += n as u64;
            self.line += 1;
            let mut text = self.line_buf.as_slice();
            if at_start {
                text = text.strip_prefix(UTF8_BOM).unwrap_or(text);
            }
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (schema, seen, elements) = (&self.plan.schema, &mut self.seen, &mut self.elements);
            let read = self.batch.push_record(&self.plan, |columns| {
                parse_line(schema, text.trim_ascii_end(), seen, elements, columns)
            });
            if let Err(reason) = read {
                self.plan.bad_record(line, reason, &mut self.skipped)?;
            }
        }
        if self.batch.is_empty() && self.done {
            return Ok(None);
        }
        self.batch.finish(&self.plan).map(Some)
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

/// Fills one value of each column the JSON object gives.
struct RowSeed<'a> {
    schema: &'a Schema,
    columns: &'a mut [ColumnBuilder],
    /// Columns already set by this object (all `false` at the start).
    seen: &'a mut [bool],
    /// Scratch space for a dense vector's elements.
    elements: &'a mut Vec<f64>,
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
                    if std::mem::replace(&mut self.seen[i], true) {
                        return Err(de::Error::custom(format!(
                            "column \"{}\" appears twice",
                            c.name
                        )));
                    }
                    map.next_value_seed(ValueSeed {
                        target: Target {
                            ty: c.ty,
                            name: &c.name,
                        },
                        builder: &mut self.columns[i],
                        elements: self.elements,
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

/// The schema column a value is read for: its type and name (for messages).
#[derive(Clone, Copy)]
struct Target<'a> {
    ty: ValueType,
    name: &'a str,
}

impl Target<'_> {
    fn mismatch<E: de::Error>(&self, what: impl fmt::Display) -> E {
        E::custom(format!(
            "column \"{}\": {what} is not {}",
            self.name,
            with_article(self.ty)
        ))
    }

    /// The value of an i64 or f64 column from its JSON text as written.
    fn number<E: de::Error>(&self, text: &str) -> Result<Cell<'static>, E> {
        match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => {}
            Some(b'n') => return Ok(Cell::Null),
            Some(b'"') => {
                let s: String = serde_json::from_str(text).map_err(E::custom)?;
                return Err(self.mismatch(shown(&s)));
            }
            Some(b'[') => return Err(self.mismatch("an array")),
            Some(b'{') => return Err(self.mismatch("an object")),
            // `true` or `false`.
            _ => return Err(self.mismatch(text)),
        }
        match self.ty {
            ValueType::I64 => whole_number(text)
                .map(Cell::I64)
                .ok_or_else(|| self.mismatch(text)),
            _ => {
                let x = text.parse().map_err(|_| self.mismatch(text))?;
                finite(x, &text)
                    .map(Cell::F64)
                    .map_err(|e| E::custom(format!("column \"{}\": {e}", self.name)))
            }
        }
    }

    /// A vector element of this column from its JSON text as written: a finite f64.
    fn element<E: de::Error>(&self, text: &str) -> Result<f64, E> {
        let element = Target {
            ty: ValueType::F64,
            name: self.name,
        };
        match element.number(text)? {
            Cell::F64(x) => Ok(x),
            _ => Err(element.mismatch("a null element")),
        }
    }
}

/// One field's value, checked against its column's type and pushed to its column's builder.
struct ValueSeed<'a> {
    target: Target<'a>,
    builder: &'a mut ColumnBuilder,
    /// Scratch space for a dense vector's elements.
    elements: &'a mut Vec<f64>,
}

/// A push the builder refused (see [`refused`]) as a deserialisation error.
fn pushed<E: de::Error>(push: Result<(), WrongType>) -> Result<(), E> {
    push.map_err(|e| E::custom(refused(e)))
}

/// The integer a JSON number's text denotes, when it is whole and fits an i64 exactly: `1.0`,
/// `-3e2`, `922337203685477580.7e1`; `None` for `1.5`, `1e300`. Read from the decimal digits,
/// never through an f64, which is inexact above 2^53.
fn whole_number(text: &str) -> Option<i64> {
    if let Ok(n) = text.parse() {
        return Some(n);
    }
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(0);
    }
    // The value is `digits` × 10^scale. An exponent too long for an i64 makes it too large
    // or fractional: `digits` is not zero.
    let exponent: i64 = exponent.map_or(Some(0), |e| e.parse().ok())?;
    let scale = exponent.checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    let magnitude = if scale >= 0 {
        // More than 19 digits is at least 10^19, beyond i64::MAX (19 digits); the parse below
        // decides those of 19.
        if i64::try_from(digits.len()).ok()?.checked_add(scale)? > 19 {
            return None;
        }
        digits.to_string() + &"0".repeat(usize::try_from(scale).ok()?)
    } else {
        let kept = i64::try_from(digits.len()).ok()?.checked_add(scale)?;
        let kept = usize::try_from(kept).ok()?;
        let (whole, fraction) = digits.split_at(kept);
        if fraction.bytes().any(|b| b != b'0') {
            return None;
        }
        whole.to_string()
    };
    let sign = if negative { "-" } else { "" };
    format!("{sign}{magnitude}").parse().ok()
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let target = self.target;
        match target.ty {
            ValueType::I64 | ValueType::F64 => pushed(
                target
                    .number(<&RawValue>::deserialize(d)?.get())?
                    .push_to(self.builder),
            ),
            ValueType::Sparse => {
                let name = target.name;
                let Some(v) = Option::<SparseJson<'_>>::deserialize(d)
                    .map_err(|e| de::Error::custom(format!("column \"{name}\": {e}")))?
                else {
                    self.builder.push_null();
                    return Ok(());
                };
                let values = v
                    .values
                    .iter()
                    .map(|raw| target.element(raw.get()))
                    .collect::<Result<Vec<f64>, D::Error>>()?;
                let vector = SparseVector {
                    dim: v.dim,
                    indices: v.indices,
                    values,
                };
                if let Some(why) = vector.invalid() {
                    return Err(de::Error::custom(format!("column \"{name}\": {why}")));
                }
                pushed(
                    self.builder
                        .push_sparse(vector.dim, &vector.indices, &vector.values),
                )
            }
            _ => d.deserialize_any(self),
        }
    }
}

/// A sparse vector as JSON writes it (the fields of [`SparseVector`]), its values kept as
/// written until they are checked.
#[derive(Deserialize)]
struct SparseJson<'a> {
    dim: u32,
    indices: Vec<u32>,
    #[serde(borrow)]
    values: Vec<&'a RawValue>,
}

/// Strings, booleans and dense vectors; numbers reach it only for other columns' types.
impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", with_article(self.target.ty))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.builder.push_null();
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.target.ty {
            ValueType::Bool => pushed(self.builder.push_bool(v)),
            _ => Err(self.target.mismatch(v)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        Err(self.target.mismatch(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        Err(self.target.mismatch(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        Err(self.target.mismatch(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.target.ty {
            ValueType::Str => pushed(self.builder.push_str(v)),
            _ => Err(self.target.mismatch(shown(v))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.target.ty != ValueType::Dense {
            return Err(self.target.mismatch("an array"));
        }
        self.elements.clear();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            self.elements.push(self.target.element(raw.get())?);
        }
        pushed(self.builder.push_dense(self.elements))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        Err(self.target.mismatch("an object"))
    }
}

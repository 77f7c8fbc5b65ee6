//! Rows of a columnar batch as JSON objects, written by hand into a reusable buffer: each
//! row's object reads every column at that row (no value is built per row).
//!
//! `{"col1":v1,"col2":v2,...}` with the schema's column names in order:
//! - null → `null`, bools → `true`/`false`, i64 → decimal (`itoa`: Rust's `Display` digits
//!   without the formatting machinery);
//! - f64 → the shortest text that parses back to the same float (Rust's `{:?}`, e.g. `1.0`,
//!   `0.1`, `1e300`); NaN and infinities, which JSON cannot hold, → `null`;
//! - strings escaped per RFC 8259 (`"`, `\`, and control characters);
//! - dense vectors → arrays of numbers; sparse vectors → `{"dim":D,"indices":[..],"values":[..]}`.
//!
//! A batch with fewer columns than the schema writes `null` for the missing columns.

use quiver_protocol::batch::{Batch, Column, ColumnData};
use quiver_protocol::Schema;
use std::io::Write;

/// Encodes rows of batches of one schema.
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    /// Per column, what precedes its value: `{"name":` for the first, `,"name":` after.
    prefixes: Vec<Vec<u8>>,
}

impl JsonEncoder {
    /// An encoder for rows of `schema`.
    pub fn new(schema: &Schema) -> JsonEncoder {
        let prefixes = schema
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut p = Vec::with_capacity(c.name.len() + 4);
                p.push(if i == 0 { b'{' } else { b',' });
                write_str(&c.name, &mut p);
                p.push(b':');
                p
            })
            .collect();
        JsonEncoder { prefixes }
    }

    /// Appends row `row` of `batch` (whose columns follow the schema) as one JSON object to
    /// `buf`.
    ///
    /// # Panics
    /// If `row` is not a row of `batch`.
    pub fn encode(&self, batch: &Batch, row: usize, buf: &mut Vec<u8>) {
        if self.prefixes.is_empty() {
            buf.push(b'{');
        }
        for (i, prefix) in self.prefixes.iter().enumerate() {
            buf.extend_from_slice(prefix);
            match batch.columns().get(i) {
                Some(column) => write_cell(column, row, buf),
                None => buf.extend_from_slice(b"null"),
            }
        }
        buf.push(b'}');
    }

    /// Appends every row of `batch` (whose columns follow the schema) to `buf`, one JSON
    /// object and a newline per row.
    pub fn encode_lines(&self, batch: &Batch, buf: &mut Vec<u8>) {
        for row in 0..batch.len() {
            self.encode(batch, row, buf);
            buf.push(b'\n');
        }
    }
}

/// Row `i` of `column` as a message key: a string's own bytes, any other value as its JSON
/// text; `None` for a null.
pub fn key_bytes(column: &Column, i: usize) -> Option<Vec<u8>> {
    if !column.is_valid(i) {
        return None;
    }
    let mut key = Vec::new();
    match &column.data {
        ColumnData::Str(s) => key.extend_from_slice(s.get(i).as_bytes()),
        _ => write_cell(column, i, &mut key),
    }
    Some(key)
}

/// Appends row `i` of `column` as JSON.
fn write_cell(column: &Column, i: usize, buf: &mut Vec<u8>) {
    if !column.is_valid(i) {
        buf.extend_from_slice(b"null");
        return;
    }
    match &column.data {
        ColumnData::Bool(v) if v[i] => buf.extend_from_slice(b"true"),
        ColumnData::Bool(_) => buf.extend_from_slice(b"false"),
        ColumnData::I64(v) => write_int(v[i], buf),
        ColumnData::F64(v) => write_f64(v[i], buf),
        ColumnData::Str(s) => write_str(s.get(i), buf),
        ColumnData::Dense(d) => write_f64s(d.get(i), buf),
        ColumnData::Sparse(s) => {
            let (dim, indices, values) = s.get(i);
            buf.extend_from_slice(b"{\"dim\":");
            write_int(dim, buf);
            buf.extend_from_slice(b",\"indices\":[");
            for (i, &x) in indices.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_int(x, buf);
            }
            buf.extend_from_slice(b"],\"values\":");
            write_f64s(values, buf);
            buf.push(b'}');
        }
    }
}

/// Appends an integer in decimal.
fn write_int(x: impl itoa::Integer, buf: &mut Vec<u8>) {
    buf.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

fn write_f64(x: f64, buf: &mut Vec<u8>) {
    if x.is_finite() {
        // Writing into a `Vec` cannot fail.
        let _infallible = write!(buf, "{x:?}");
    } else {
        buf.extend_from_slice(b"null");
    }
}

fn write_f64s(values: &[f64], buf: &mut Vec<u8>) {
    buf.push(b'[');
    for (i, x) in values.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_f64(*x, buf);
    }
    buf.push(b']');
}

/// Appends `s` as a JSON string literal.
pub fn write_str(s: &str, buf: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        buf.extend_from_slice(&bytes[run..i]);
        if escape.is_empty() {
            buf.extend_from_slice(b"\\u00");
            buf.push(HEX[usize::from(b >> 4)]);
            buf.push(HEX[usize::from(b & 0xf)]);
        } else {
            buf.extend_from_slice(escape);
        }
        run = i + 1;
    }
    buf.extend_from_slice(&bytes[run..]);
    buf.push(b'"');
}

#[cfg(test)]
mod tests;

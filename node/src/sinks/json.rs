//! Rows as JSON objects, written by hand into a reusable buffer.
//!
//! `{"col1":v1,"col2":v2,...}` with the schema's column names in order:
//! - null → `null`, bools → `true`/`false`, i64 → decimal;
//! - f64 → the shortest text that parses back to the same float (Rust's `{:?}`, e.g. `1.0`,
//!   `0.1`, `1e300`); NaN and infinities, which JSON cannot hold, → `null`;
//! - strings escaped per RFC 8259 (`"`, `\`, and control characters);
//! - dense vectors → arrays of numbers; sparse vectors → `{"dim":D,"indices":[..],"values":[..]}`.
//!
//! A row shorter than the schema writes `null` for the missing columns.

use quiver_protocol::{Schema, Value};
use std::io::Write;

/// Encodes rows of one schema.
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

    /// Appends `row` as one JSON object to `buf`.
    pub fn encode(&self, row: &[Value], buf: &mut Vec<u8>) {
        if self.prefixes.is_empty() {
            buf.push(b'{');
        }
        for (i, prefix) in self.prefixes.iter().enumerate() {
            buf.extend_from_slice(prefix);
            write_value(row.get(i).unwrap_or(&Value::Null), buf);
        }
        buf.push(b'}');
    }

    /// Appends `row` as one JSON object and a newline to `buf`.
    pub fn encode_line(&self, row: &[Value], buf: &mut Vec<u8>) {
        self.encode(row, buf);
        buf.push(b'\n');
    }
}

/// Appends one value as JSON.
pub fn write_value(value: &Value, buf: &mut Vec<u8>) {
    match value {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::I64(x) => write_display(buf, format_args!("{x}")),
        Value::F64(x) => write_f64(*x, buf),
        Value::Str(s) => write_str(s, buf),
        Value::Dense(v) => write_f64s(v, buf),
        Value::Sparse(v) => {
            buf.extend_from_slice(b"{\"dim\":");
            write_display(buf, format_args!("{}", v.dim));
            buf.extend_from_slice(b",\"indices\":[");
            for (i, x) in v.indices.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_display(buf, format_args!("{x}"));
            }
            buf.extend_from_slice(b"],\"values\":");
            write_f64s(&v.values, buf);
            buf.push(b'}');
        }
    }
}

/// Writing into a `Vec` cannot fail.
fn write_display(buf: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    let _infallible = buf.write_fmt(args);
}

fn write_f64(x: f64, buf: &mut Vec<u8>) {
    if x.is_finite() {
        write_display(buf, format_args!("{x:?}"));
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

//! Compact grouping keys: a single i64 or string column gets its own key type, anything else
//! (several columns, other types, no column) the general [`ValuesKey`].
//!
//! A key is read from a row into a reusable slot, so looking a key up allocates nothing; only
//! a key seen for the first time is cloned into the state.

use quiver_protocol::keygroup::{canonical_f64, java_hash_code, key_hash_code};
use quiver_protocol::{Value, ValueType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A key of an aggregate stage.
pub(crate) trait GroupKey:
    Hash + Eq + Clone + Default + Serialize + DeserializeOwned + Send + 'static
{
    /// Reads the key columns `columns` of `row` into `slot`; `Err` names what was wrong.
    fn read(row: &[Value], columns: &[usize], slot: &mut Self) -> Result<(), String>;

    /// Appends the key's values to an output row.
    fn write(&self, row: &mut Vec<Value>);

    /// The fixed key hash code (`quiver_protocol::keygroup`) that picks the key group.
    fn hash_code(&self) -> i32;
}

fn column(row: &[Value], index: usize) -> Result<&Value, String> {
    row.get(index).ok_or_else(|| {
        format!(
            "the row has {} values, the key column is at position {index}",
            row.len()
        )
    })
}

fn wrong_type(expected: ValueType, found: &Value) -> String {
    format!(
        "key column: expected {expected}, found {}",
        found.value_type().map_or("null", |t| t.name())
    )
}

/// A single i64 key column (null allowed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct I64Key(pub(crate) Option<i64>);

impl GroupKey for I64Key {
    #[inline]
    fn read(row: &[Value], columns: &[usize], slot: &mut Self) -> Result<(), String> {
        slot.0 = match column(row, columns[0])? {
            Value::I64(x) => Some(*x),
            Value::Null => None,
            other => return Err(wrong_type(ValueType::I64, other)),
        };
        Ok(())
    }

    #[inline]
    fn write(&self, row: &mut Vec<Value>) {
        row.push(self.0.map_or(Value::Null, Value::I64));
    }

    fn hash_code(&self) -> i32 {
        java_hash_code(&self.0.map_or(Value::Null, Value::I64))
    }
}

/// A single string key column (null allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct StrKey(pub(crate) Option<Arc<str>>);

impl GroupKey for StrKey {
    #[inline]
    fn read(row: &[Value], columns: &[usize], slot: &mut Self) -> Result<(), String> {
        match column(row, columns[0])? {
            Value::Str(s) => slot.0 = Some(s.clone()),
            Value::Null => slot.0 = None,
            other => return Err(wrong_type(ValueType::Str, other)),
        }
        Ok(())
    }

    #[inline]
    fn write(&self, row: &mut Vec<Value>) {
        row.push(self.0.clone().map_or(Value::Null, Value::Str));
    }

    fn hash_code(&self) -> i32 {
        java_hash_code(&self.0.clone().map_or(Value::Null, Value::Str))
    }
}

/// Any number of key columns of any type. Floats are read as their [`canonical_f64`] (`-0.0`
/// as `0.0`, every NaN as one NaN), so one number is one key, hashed, compared and written
/// alike; otherwise equality and hashing are exact: floats compare by their bits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ValuesKey(pub(crate) Vec<Value>);

impl GroupKey for ValuesKey {
    fn read(row: &[Value], columns: &[usize], slot: &mut Self) -> Result<(), String> {
        slot.0.clear();
        for &c in columns {
            slot.0.push(match column(row, c)? {
                Value::F64(x) => Value::F64(canonical_f64(*x)),
                other => other.clone(),
            });
        }
        Ok(())
    }

    fn write(&self, row: &mut Vec<Value>) {
        row.extend(self.0.iter().cloned());
    }

    fn hash_code(&self) -> i32 {
        key_hash_code(self.0.iter())
    }
}

impl PartialEq for ValuesKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| same(a, b))
    }
}

impl Eq for ValuesKey {}

impl Hash for ValuesKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in &self.0 {
            hash_value(v, state);
        }
    }
}

/// The bits a float is compared and hashed by: those of its [`canonical_f64`] (keys restored
/// from state read before keys were canonical may still hold `-0.0`).
fn bits(x: f64) -> u64 {
    canonical_f64(x).to_bits()
}

/// Exact equality: floats by [`bits`], so that it agrees with [`hash_value`].
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => bits(*x) == bits(*y),
        (Value::Dense(x), Value::Dense(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| bits(*p) == bits(*q))
        }
        (Value::Sparse(x), Value::Sparse(y)) => {
            x.dim == y.dim
                && x.indices == y.indices
                && x.values.len() == y.values.len()
                && x.values
                    .iter()
                    .zip(&y.values)
                    .all(|(p, q)| bits(*p) == bits(*q))
        }
        _ => a == b,
    }
}

fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    match v {
        Value::Null => state.write_u8(0),
        Value::Bool(b) => state.write_u8(1 + u8::from(*b)),
        Value::I64(x) => {
            state.write_u8(3);
            state.write_i64(*x);
        }
        Value::F64(x) => {
            state.write_u8(4);
            state.write_u64(bits(*x));
        }
        Value::Str(s) => {
            state.write_u8(5);
            s.hash(state);
        }
        Value::Dense(x) => {
            state.write_u8(6);
            x.iter().for_each(|p| state.write_u64(bits(*p)));
        }
        Value::Sparse(x) => {
            state.write_u8(7);
            state.write_u32(x.dim);
            x.indices.hash(state);
            x.values.iter().for_each(|p| state.write_u64(bits(*p)));
        }
    }
}

//! Typed values, rows and schemas: what a record carries.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A sparse vector: `indices` strictly increasing, all below `dim`, one value each.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct SparseVector {
    /// The vector's dimension.
    pub dim: u32,
    /// Positions of the non-zero entries, strictly increasing.
    pub indices: Vec<u32>,
    /// Values at `indices`.
    pub values: Vec<f64>,
}

impl SparseVector {
    /// Why the vector breaks its invariants (one value per index, indices strictly
    /// increasing and below `dim`), if it does.
    pub fn invalid(&self) -> Option<String> {
        if self.indices.len() != self.values.len() {
            return Some(format!(
                "a sparse vector has {} indices but {} values",
                self.indices.len(),
                self.values.len()
            ));
        }
        if let Some(&i) = self.indices.iter().find(|&&i| i >= self.dim) {
            return Some(format!(
                "sparse vector index {i} is not below its dim {}",
                self.dim
            ));
        }
        self.indices.windows(2).find(|w| w[0] >= w[1]).map(|w| {
            format!(
                "sparse vector indices must increase: {} then {}",
                w[0], w[1]
            )
        })
    }
}

/// One typed value of a row. Cheap to clone: strings and vectors are shared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum Value {
    /// Missing value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    I64(i64),
    /// A 64-bit float.
    F64(f64),
    /// A UTF-8 string.
    Str(Arc<str>),
    /// A dense vector.
    Dense(Arc<[f64]>),
    /// A sparse vector.
    Sparse(Arc<SparseVector>),
}

impl Value {
    /// The value as a float, when it is numeric (`I64` or `F64`) or a boolean (0 / 1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::F64(x) => Some(*x),
            Value::I64(x) => Some(*x as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    }

    /// The type of this value; `None` for `Null`.
    pub fn value_type(&self) -> Option<ValueType> {
        Some(match self {
            Value::Null => return None,
            Value::Bool(_) => ValueType::Bool,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
            Value::Str(_) => ValueType::Str,
            Value::Dense(_) => ValueType::Dense,
            Value::Sparse(_) => ValueType::Sparse,
        })
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(Arc::from(s))
    }
}

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValueType {
    /// `bool`
    Bool,
    /// `i64`
    I64,
    /// `f64`
    F64,
    /// `string`
    Str,
    /// `vector` (dense)
    Dense,
    /// `sparse_vector`
    Sparse,
}

impl ValueType {
    /// Every type, with the name a job spec uses for it.
    pub const NAMES: [(&'static str, ValueType); 6] = [
        ("bool", ValueType::Bool),
        ("i64", ValueType::I64),
        ("f64", ValueType::F64),
        ("string", ValueType::Str),
        ("vector", ValueType::Dense),
        ("sparse_vector", ValueType::Sparse),
    ];

    /// Parses a job-spec type name (`i64`, `f64`, `string`, `bool`, `vector`, `sparse_vector`).
    pub fn parse(name: &str) -> Option<ValueType> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    /// The job-spec name of this type.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Whether the type is a number (usable by `sum`, `avg`, scalers).
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::I64 | ValueType::F64)
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The values of one record, in schema order.
pub type Row = Vec<Value>;

/// A named, typed column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name, as written in specs and output.
    pub name: String,
    /// Column type.
    pub ty: ValueType,
}

/// The columns of a stream, in row order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Schema {
    /// Columns in row order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// A schema from `(name, type)` pairs.
    pub fn new<'a>(columns: impl IntoIterator<Item = (&'a str, ValueType)>) -> Schema {
        Schema {
            columns: columns
                .into_iter()
                .map(|(name, ty)| Column {
                    name: name.to_string(),
                    ty,
                })
                .collect(),
        }
    }

    /// The position of a column by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names joined with ", " (for error messages).
    pub fn names(&self) -> String {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

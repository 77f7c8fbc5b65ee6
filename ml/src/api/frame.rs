//! [`Frame`]: the batch that [`crate::Transformer`]s and [`crate::Estimator`]s work on.
//!
//! A frame is a list of named, equally long, typed columns (like a small data frame).
//! Stages read the columns named in their params and return a new frame with their
//! output columns added (or replaced, when the name already exists). Missing floats
//! are `NaN`: the stages made for missing values handle them (see [`crate::finite`]),
//! every other stage rejects them, and every stage rejects an infinity.

use crate::api::MlError;
use crate::vector::Vector;

/// One typed column.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// 64-bit floats; `NaN` marks a missing value (an infinity is never valid).
    F64(Vec<f64>),
    /// 64-bit integers.
    I64(Vec<i64>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Strings.
    Str(Vec<String>),
    /// Vectors (dense or sparse).
    Vector(Vec<Vector>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Vector(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The column type's name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Column::F64(_) => "f64",
            Column::I64(_) => "i64",
            Column::Bool(_) => "bool",
            Column::Str(_) => "string",
            Column::Vector(_) => "vector",
        }
    }

    /// The value at `row` as a float when the column is numeric or boolean.
    pub fn f64_at(&self, row: usize) -> Option<f64> {
        match self {
            Column::F64(v) => v.get(row).copied(),
            Column::I64(v) => v.get(row).map(|&x| x as f64),
            Column::Bool(v) => v.get(row).map(|&b| f64::from(u8::from(b))),
            Column::Str(_) | Column::Vector(_) => None,
        }
    }
}

/// Named, equally long columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    names: Vec<String>,
    columns: Vec<Column>,
}

impl Frame {
    /// An empty frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a column, builder style.
    pub fn with(mut self, name: impl Into<String>, column: Column) -> Result<Self, MlError> {
        self.set(name, column)?;
        Ok(self)
    }

    /// Adds a column, or replaces the column of that name. Its length must equal the
    /// frame's number of rows (any length for the first column).
    pub fn set(&mut self, name: impl Into<String>, column: Column) -> Result<(), MlError> {
        let name = name.into();
        let existing = self.names.iter().position(|n| *n == name);
        let others = self
            .columns
            .iter()
            .enumerate()
            .find(|(i, _)| Some(*i) != existing);
        if let Some((_, c)) = others {
            if c.len() != column.len() {
                return Err(MlError::ColumnLength {
                    name,
                    expected: c.len(),
                    found: column.len(),
                });
            }
        }
        match existing {
            Some(i) => self.columns[i] = column,
            None => {
                self.names.push(name);
                self.columns.push(column);
            }
        }
        Ok(())
    }

    /// Number of rows (0 for a frame without columns).
    pub fn num_rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    /// Column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Result<&Column, MlError> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
            .ok_or_else(|| MlError::MissingColumn {
                name: name.to_string(),
                available: self.names.clone(),
            })
    }

    /// The float column called `name`.
    pub fn f64s(&self, name: &str) -> Result<&[f64], MlError> {
        match self.column(name)? {
            Column::F64(v) => Ok(v),
            other => Err(type_error(name, "f64", other)),
        }
    }

    /// The string column called `name`.
    pub fn strs(&self, name: &str) -> Result<&[String], MlError> {
        match self.column(name)? {
            Column::Str(v) => Ok(v),
            other => Err(type_error(name, "string", other)),
        }
    }

    /// The vector column called `name`.
    pub fn vectors(&self, name: &str) -> Result<&[Vector], MlError> {
        match self.column(name)? {
            Column::Vector(v) => Ok(v),
            other => Err(type_error(name, "vector", other)),
        }
    }

    /// A numeric column (f64, i64 or bool) read as floats.
    pub fn numeric(&self, name: &str) -> Result<Vec<f64>, MlError> {
        let c = self.column(name)?;
        match c {
            Column::F64(v) => Ok(v.clone()),
            Column::I64(_) | Column::Bool(_) => {
                Ok((0..c.len()).filter_map(|r| c.f64_at(r)).collect())
            }
            other => Err(type_error(name, "f64, i64 or bool", other)),
        }
    }
}

fn type_error(name: &str, expected: &'static str, found: &Column) -> MlError {
    MlError::ColumnType {
        name: name.to_string(),
        expected,
        found: found.type_name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_rejects_a_column_of_another_length() {
        let f = Frame::new().with("a", Column::F64(vec![1.0, 2.0])).unwrap();
        let err = f.clone().with("b", Column::I64(vec![1])).unwrap_err();
        assert!(matches!(
            err,
            MlError::ColumnLength {
                expected: 2,
                found: 1,
                ..
            }
        ));
        // Replacing the only column may change the length.
        let f = f.with("a", Column::Bool(vec![true])).unwrap();
        assert_eq!(f.num_rows(), 1);
        assert_eq!(f.numeric("a").unwrap(), vec![1.0]);
        assert!(matches!(f.strs("a"), Err(MlError::ColumnType { .. })));
        assert!(matches!(f.f64s("zz"), Err(MlError::MissingColumn { .. })));
    }
}

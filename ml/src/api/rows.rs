//! [`Frame::from_rows`]: a frame built row by row from [`Cell`]s, as a data set is usually
//! at hand (a list of records), instead of column by column.

use crate::api::{Column, Frame, MlError};
use crate::vector::Vector;

/// One value of a row given to [`Frame::from_rows`].
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// A float (NaN: missing).
    F64(f64),
    /// An integer.
    I64(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
    /// A vector (dense or sparse).
    Vector(Vector),
}

impl Cell {
    /// An empty column of this cell's type.
    fn empty_column(&self) -> Column {
        match self {
            Cell::F64(_) => Column::F64(Vec::new()),
            Cell::I64(_) => Column::I64(Vec::new()),
            Cell::Bool(_) => Column::Bool(Vec::new()),
            Cell::Str(_) => Column::Str(Vec::new()),
            Cell::Vector(_) => Column::Vector(Vec::new()),
        }
    }

    /// Appends the cell to `column`; gives it back when the column has another type.
    fn push_to(self, column: &mut Column) -> Result<(), Cell> {
        match (column, self) {
            (Column::F64(c), Cell::F64(v)) => c.push(v),
            (Column::I64(c), Cell::I64(v)) => c.push(v),
            (Column::Bool(c), Cell::Bool(v)) => c.push(v),
            (Column::Str(c), Cell::Str(v)) => c.push(v),
            (Column::Vector(c), Cell::Vector(v)) => c.push(v),
            (_, cell) => return Err(cell),
        }
        Ok(())
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Self {
        Cell::F64(v)
    }
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::I64(v)
    }
}

impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}

impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Str(v.to_string())
    }
}

impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Str(v)
    }
}

impl From<Vec<f64>> for Cell {
    fn from(v: Vec<f64>) -> Self {
        Cell::Vector(Vector::Dense(v))
    }
}

impl From<&[f64]> for Cell {
    fn from(v: &[f64]) -> Self {
        Cell::Vector(Vector::Dense(v.to_vec()))
    }
}

impl From<Vector> for Cell {
    fn from(v: Vector) -> Self {
        Cell::Vector(v)
    }
}

impl Frame {
    /// A frame with the columns `names`, filled row by row: each row has one cell per
    /// name, and a column takes the type of its first row's cell. A row of another length
    /// is [`MlError::Length`], a cell of another type than its column's
    /// [`MlError::ColumnType`]. Without rows the columns are empty f64 columns.
    ///
    /// ```
    /// use quiver_ml::{Cell, Frame};
    /// let data = [(vec![5.1, 3.5], 0.0), (vec![6.3, 3.3], 1.0)];
    /// let frame = Frame::from_rows(
    ///     &["features", "label"],
    ///     data.iter().map(|(x, y)| [Cell::from(x.clone()), Cell::from(*y)]),
    /// )
    /// .unwrap();
    /// assert_eq!(frame.num_rows(), 2);
    /// ```
    pub fn from_rows<R>(names: &[&str], rows: impl IntoIterator<Item = R>) -> Result<Frame, MlError>
    where
        R: IntoIterator<Item = Cell>,
    {
        let mut columns: Vec<Option<Column>> = vec![None; names.len()];
        for row in rows {
            let row: Vec<Cell> = row.into_iter().collect();
            if row.len() != names.len() {
                return Err(MlError::Length {
                    what: "a row's cells and the column names",
                    left: row.len(),
                    right: names.len(),
                });
            }
            for (cell, (name, column)) in row.into_iter().zip(names.iter().zip(&mut columns)) {
                let column = column.get_or_insert_with(|| cell.empty_column());
                cell.push_to(column).map_err(|cell| MlError::ColumnType {
                    name: name.to_string(),
                    expected: column.type_name(),
                    found: cell.empty_column().type_name(),
                })?;
            }
        }
        let mut frame = Frame::new();
        for (name, column) in names.iter().zip(columns) {
            frame.set(*name, column.unwrap_or(Column::F64(Vec::new())))?;
        }
        Ok(frame)
    }
}

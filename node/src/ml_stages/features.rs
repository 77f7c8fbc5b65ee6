//! Reading an ML stage's feature vectors from a batch: a vector column's rows borrowed from
//! its buffers (a dense row is a slice of the column's flat `f64` buffer, a sparse row a view
//! of its CSR arrays: no copy), or numeric columns gathered into one reused buffer. A null,
//! NaN or infinite feature gives no vector.

use super::columns::{InputColumn, Numbers, Vectors};
use crate::operator::OperatorError;
use quiver_ml::Features;
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::FeatureInput;
use quiver_protocol::Schema;

/// Where the features come from.
#[derive(Debug)]
enum Source {
    /// A dense or sparse vector column, borrowed.
    Vector(InputColumn),
    /// Numeric columns, gathered into `FeatureReader::buffer`.
    Columns(Vec<InputColumn>),
}

/// Reads feature vectors of a stage's input batches without allocating per row.
#[derive(Debug)]
pub(super) struct FeatureReader {
    stage: String,
    source: Source,
    buffer: Vec<f64>,
}

impl FeatureReader {
    /// A reader of `features` in batches of `input`.
    pub(super) fn new(
        stage: &str,
        features: &FeatureInput,
        input: &Schema,
    ) -> Result<Self, OperatorError> {
        let source = match features {
            FeatureInput::Vector(name) => Source::Vector(InputColumn::find(stage, input, name)?),
            FeatureInput::Columns(names) => {
                Source::Columns(InputColumn::find_all(stage, input, names)?)
            }
        };
        let width = match &source {
            Source::Columns(columns) => columns.len(),
            Source::Vector(_) => 0,
        };
        Ok(FeatureReader {
            stage: stage.to_string(),
            source,
            buffer: Vec::with_capacity(width),
        })
    }

    /// The features of `batch`, to read a row at a time.
    pub(super) fn bind<'b>(
        &'b mut self,
        batch: &'b Batch,
    ) -> Result<BatchFeatures<'b>, OperatorError> {
        let columns = match &self.source {
            Source::Vector(column) => Bound::Vector(column.vectors(&self.stage, batch)?),
            Source::Columns(columns) => Bound::Columns(
                columns
                    .iter()
                    .map(|c| c.numbers(&self.stage, batch))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(BatchFeatures {
            columns,
            buffer: &mut self.buffer,
        })
    }
}

/// The feature columns of one batch.
enum Bound<'b> {
    Vector(Vectors<'b>),
    Columns(Vec<Numbers<'b>>),
}

/// The features of one batch ([`FeatureReader::bind`]).
pub(super) struct BatchFeatures<'b> {
    columns: Bound<'b>,
    buffer: &'b mut Vec<f64>,
}

impl BatchFeatures<'_> {
    /// The features of row `row`; `None` when a feature is null, NaN or infinite. A sparse
    /// vector whose indices do not increase or reach its dimension is an error.
    pub(super) fn read(&mut self, row: usize) -> Result<Option<Features<'_>>, OperatorError> {
        match &self.columns {
            Bound::Vector(column) => {
                let x = match column.get(row)? {
                    None => return Ok(None),
                    Some(x) => x,
                };
                if let Features::Sparse(view) = x {
                    if !view.is_well_formed() {
                        return Err(column.unexpected(
                            row,
                            "a sparse vector with increasing indices below its dimension",
                        ));
                    }
                }
                Ok(x.check_finite().is_ok().then_some(x))
            }
            Bound::Columns(columns) => {
                self.buffer.clear();
                for column in columns {
                    match column.finite(row)? {
                        Some(x) => self.buffer.push(x),
                        None => return Ok(None),
                    }
                }
                Ok(Some(Features::Dense(self.buffer)))
            }
        }
    }
}

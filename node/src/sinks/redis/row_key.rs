//! A row's Redis key: the sink's key template (`rec:{user}`) with each column replaced by
//! the row's value — a string as it is, an i64 in decimal, a bool as `true` / `false`.

use crate::operator::OperatorError;
use quiver_protocol::batch::{Batch, ColumnData};
use quiver_protocol::spec::{KeyPart, KeyTemplate};
use quiver_protocol::Schema;

/// A key template with its columns resolved to positions in the input schema.
#[derive(Debug, Clone)]
pub(super) struct RowKey {
    parts: Vec<Part>,
    /// The sink, for messages.
    sink: String,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    /// A column's position and name.
    Column(usize, String),
}

impl RowKey {
    /// Resolves `template` against `schema` (the spec was validated against it, so a missing
    /// column means the two disagree: a configuration error).
    pub(super) fn new(
        sink: &str,
        template: &KeyTemplate,
        schema: &Schema,
    ) -> Result<RowKey, OperatorError> {
        let parts = template
            .parts
            .iter()
            .map(|part| match part {
                KeyPart::Text(text) => Ok(Part::Text(text.clone())),
                KeyPart::Column(name) => schema
                    .index_of(name)
                    .map(|i| Part::Column(i, name.clone()))
                    .ok_or_else(|| {
                        OperatorError::Config(format!(
                            "sink {sink:?}: the key names column {name:?}, which its input ({}) \
                             does not have",
                            schema.names()
                        ))
                    }),
            })
            .collect::<Result<_, _>>()?;
        Ok(RowKey {
            parts,
            sink: sink.to_string(),
        })
    }

    /// Replaces `out` with the key of row `row` of `batch`. A null (or, against a validated
    /// spec impossible, a float or vector) in a key column is bad data.
    pub(super) fn render(
        &self,
        batch: &Batch,
        row: usize,
        out: &mut String,
    ) -> Result<(), OperatorError> {
        out.clear();
        for part in &self.parts {
            let (i, name) = match part {
                Part::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Part::Column(i, name) => (*i, name),
            };
            let bad = |what: &str| {
                OperatorError::Data(format!(
                    "sink {:?}: row {row} of a batch has {what} in key column {name:?}; a key \
                     needs a string, i64 or bool value",
                    self.sink
                ))
            };
            let column = batch.columns().get(i).ok_or_else(|| bad("no value"))?;
            if !column.is_valid(row) {
                return Err(bad("null"));
            }
            match &column.data {
                ColumnData::Str(s) => out.push_str(s.get(row)),
                ColumnData::I64(v) => out.push_str(itoa::Buffer::new().format(v[row])),
                ColumnData::Bool(v) => out.push_str(if v[row] { "true" } else { "false" }),
                _ => return Err(bad("a float or vector")),
            }
        }
        Ok(())
    }
}

//! `kind = "one_hot"`: online one-hot encoding of a string or i64 column. Categories get
//! indices 0, 1, 2, ... in order of first appearance in this partition; the output is a
//! sparse vector of dimension `max_categories` with 1.0 at the category's index. Once
//! `max_categories` categories are indexed, new ones encode as all zeros (and are not
//! remembered). A null value gives a null output. The category table is the partition's
//! state (with parallelism > 1 each partition numbers categories on its own).

use super::features::InputColumn;
use super::learner::emit;
use super::rows::{RowOperator, RowOutput};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_protocol::spec::{OneHotStage, StageSpec};
use quiver_protocol::{Batch, Schema, SparseVector, Value};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest snapshot read back (64 MiB).
const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// A category as snapshotted.
#[derive(Debug, Serialize, Deserialize)]
enum Category {
    Str(String),
    I64(i64),
}

/// One partition of a one-hot stage.
struct OneHotOperator {
    stage: String,
    column: InputColumn,
    max_categories: u32,
    strings: FxHashMap<Arc<str>, u32>,
    integers: FxHashMap<i64, u32>,
    /// Categories in index order (for snapshots).
    order: Vec<Value>,
    state: PartitionState,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &OneHotStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn RowOperator>, OperatorError> {
    Ok(Box::new(OneHotOperator {
        stage: stage.name.clone(),
        column: InputColumn::find(&stage.name, input, &spec.column)?,
        max_categories: spec.max_categories,
        strings: FxHashMap::default(),
        integers: FxHashMap::default(),
        order: Vec::new(),
        state,
    }))
}

impl OneHotOperator {
    /// The index of a category, indexing it if it is new and there is room.
    fn index(&mut self, value: &Value) -> Result<Option<u32>, OperatorError> {
        let known = match value {
            Value::Str(s) => self.strings.get(&**s).copied(),
            Value::I64(x) => self.integers.get(x).copied(),
            other => {
                return Err(self
                    .column
                    .unexpected(&self.stage, other, "a string or i64"))
            }
        };
        let next = self.order.len() as u32;
        if known.is_some() || next >= self.max_categories {
            return Ok(known);
        }
        match value {
            Value::Str(s) => self.strings.insert(s.clone(), next),
            Value::I64(x) => self.integers.insert(*x, next),
            _ => return Ok(None),
        };
        self.order.push(value.clone());
        Ok(Some(next))
    }
}

impl RowOperator for OneHotOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let value = self.column.of(&record.row);
            let encoded = if matches!(value, Value::Null) {
                Value::Null
            } else {
                let (indices, values) = match self.index(value)? {
                    Some(i) => (vec![i], vec![1.0]),
                    None => (Vec::new(), Vec::new()),
                };
                Value::Sparse(Arc::new(SparseVector {
                    dim: self.max_categories,
                    indices,
                    values,
                }))
            };
            record.row.push(encoded);
        }
        emit(batch, out);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if self.order.is_empty() {
            return Ok(Vec::new());
        }
        let categories: Vec<Category> = self
            .order
            .iter()
            .filter_map(|v| match v {
                Value::Str(s) => Some(Category::Str(s.to_string())),
                Value::I64(x) => Some(Category::I64(*x)),
                _ => None,
            })
            .collect();
        self.state.save(Some(bincode::serde::encode_to_vec(
            &categories,
            bincode::config::standard(),
        )))
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        let Some(bytes) = self.state.pick(states) else {
            return Ok(());
        };
        let config = bincode::config::standard().with_limit::<MAX_SNAPSHOT_BYTES>();
        let (categories, _): (Vec<Category>, usize) =
            bincode::serde::decode_from_slice(&bytes, config).map_err(|e| self.state.error(e))?;
        self.strings.clear();
        self.integers.clear();
        self.order.clear();
        for category in categories {
            let value = match category {
                Category::Str(s) => Value::Str(Arc::from(s)),
                Category::I64(x) => Value::I64(x),
            };
            self.index(&value)?;
        }
        Ok(())
    }
}

//! `kind = "one_hot"`: online one-hot encoding of a string or i64 column. Categories get
//! indices 0, 1, 2, ... in order of first appearance in this partition; the output is a
//! sparse vector of dimension `max_categories` with 1.0 at the category's index. Once
//! `max_categories` categories are indexed, new ones encode as all zeros (and are not
//! remembered). A null value gives a null output. The category table is the partition's
//! state (with parallelism > 1 each partition numbers categories on its own).

use super::columns::{refused, InputColumn};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnData, ColumnType};
use quiver_protocol::spec::{OneHotStage, StageSpec};
use quiver_protocol::Schema;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Largest snapshot read back (64 MiB).
const MAX_SNAPSHOT_BYTES: usize = 64 << 20;

/// A category, as snapshotted.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Category {
    Str(String),
    I64(i64),
}

/// A category borrowed from a batch.
#[derive(Debug, Clone, Copy)]
enum CategoryRef<'b> {
    Str(&'b str),
    I64(i64),
}

/// One partition of a one-hot stage.
struct OneHotOperator {
    stage: String,
    column: InputColumn,
    max_categories: u32,
    strings: FxHashMap<Box<str>, u32>,
    integers: FxHashMap<i64, u32>,
    /// Categories in index order (for snapshots).
    order: Vec<Category>,
    state: PartitionState,
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &OneHotStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn AddColumns>, OperatorError> {
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
    fn index(&mut self, category: CategoryRef<'_>) -> Option<u32> {
        let known = match category {
            CategoryRef::Str(s) => self.strings.get(s).copied(),
            CategoryRef::I64(x) => self.integers.get(&x).copied(),
        };
        let next = self.order.len() as u32;
        if known.is_some() || next >= self.max_categories {
            return known;
        }
        match category {
            CategoryRef::Str(s) => {
                self.strings.insert(Box::from(s), next);
                self.order.push(Category::Str(s.to_string()));
            }
            CategoryRef::I64(x) => {
                self.integers.insert(x, next);
                self.order.push(Category::I64(x));
            }
        }
        Some(next)
    }
}

impl AddColumns for OneHotOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let column = self.column.of(&self.stage, batch)?;
        let mut encoded = ColumnBuilder::new(ColumnType::Sparse, batch.len());
        for row in 0..batch.len() {
            if !column.is_valid(row) {
                encoded.push_null();
                continue;
            }
            let category = match &column.data {
                ColumnData::Str(v) => CategoryRef::Str(v.get(row)),
                ColumnData::I64(v) => CategoryRef::I64(v[row]),
                _ => {
                    return Err(self.column.unexpected(
                        &self.stage,
                        column.get(row),
                        "a string or i64",
                    ))
                }
            };
            let pushed = match self.index(category) {
                Some(i) => encoded.push_sparse(self.max_categories, &[i], &[1.0]),
                None => encoded.push_sparse(self.max_categories, &[], &[]),
            };
            pushed.map_err(|e| refused(&self.stage, e))?;
        }
        columns.push(encoded.finish());
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if self.order.is_empty() {
            return Ok(Vec::new());
        }
        self.state.save(Some(bincode::serde::encode_to_vec(
            &self.order,
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
        for category in &categories {
            self.index(match category {
                Category::Str(s) => CategoryRef::Str(s),
                Category::I64(x) => CategoryRef::I64(*x),
            });
        }
        Ok(())
    }
}

//! A parameter shard (`NAME/params`): the parameters whose keys fall in its key groups, each
//! the sum of the changes the learner's workers pushed. Entries live on the keyed-state
//! layer (`crate::state`): a checkpoint copies the parameters changed since the last
//! confirmed one, a restore merges each key group's chain, and a rescale moves key groups.
//!
//! The changes pushed in an epoch merge at the barrier that ends it: per parameter their sum,
//! or their mean for a parameter the learner averages (`quiver_ml::SharedParameters`).
//! At every barrier the shard publishes the values that changed since its last version,
//! then a record saying it completed version `checkpoint`; when its task starts it publishes
//! every value it holds (restored or none) as the version it was restored from (0 for a
//! fresh start), so its workers never score with a partial model.

use crate::operator::{ChangesCopy, KeyGroupState, Operator, OperatorError, Output, SavedState};
use crate::state::pieces::{decode, encode, ordered_i64, split_ordered_i64};
use crate::state::{ChangeLog, DeltaCopy, KeyedEntry, LayerKey, Restored};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::keygroup::{key_group, key_hash_codes};
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::{Barrier, CheckpointId, KeyGroup, PartitionId};
use std::collections::{BTreeSet, HashMap};

#[cfg(test)]
mod tests;

/// A parameter key as the layer stores it: ordered big-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ParameterKey(i64);

impl LayerKey for ParameterKey {
    fn encode_key(&self, out: &mut Vec<u8>) -> Result<(), String> {
        out.extend_from_slice(&ordered_i64(self.0));
        Ok(())
    }
}

/// Parameters read back from a checkpoint's pieces of a learner's shards.
pub(crate) struct SavedParameters {
    /// Each parameter's value and key group.
    pub(crate) values: Vec<(i64, f64, KeyGroup)>,
    /// The newest checkpoint the pieces were taken at (0 when none says).
    pub(crate) checkpoint: i64,
}

impl SavedParameters {
    /// The values as a vector by parameter index (parameters never written are 0); a
    /// negative index or one of 2^31 and beyond is refused.
    pub(crate) fn into_vector(self, name: &str) -> Result<Vec<f64>, OperatorError> {
        let mut vector = Vec::new();
        for (key, value, _) in self.values {
            let i = usize::try_from(key)
                .ok()
                .filter(|&i| i < 1 << 31)
                .ok_or_else(|| {
                    OperatorError::State(format!("\"{name}\": parameter index {key} out of range"))
                })?;
            if i >= vector.len() {
                vector.resize(i + 1, 0.0);
            }
            vector[i] = value;
        }
        Ok(vector)
    }
}

/// Merges the chains of `pieces` (of the shards `name`) into their parameters.
pub(crate) fn read_parameters(
    name: &str,
    pieces: Vec<KeyGroupState>,
) -> Result<SavedParameters, OperatorError> {
    let error = |what: String| OperatorError::State(format!("\"{name}\": {what}"));
    let mut saved = SavedParameters {
        values: Vec::new(),
        checkpoint: 0,
    };
    for group in Restored::merge(name, pieces)? {
        if let Some(meta) = &group.meta {
            let checkpoint: u64 = decode(meta).map_err(error)?;
            saved.checkpoint = saved
                .checkpoint
                .max(i64::try_from(checkpoint).unwrap_or(i64::MAX));
        }
        for (key, value) in group.entries {
            let (key, rest) = split_ordered_i64(&key).map_err(error)?;
            if !rest.is_empty() {
                return Err(error(format!(
                    "a parameter key with {} extra bytes",
                    rest.len()
                )));
            }
            let value: f64 = decode(&value).map_err(error)?;
            saved.values.push((key, value, group.group));
        }
    }
    Ok(saved)
}

/// One partition of a learner's shards.
pub(crate) struct ParameterShard {
    /// `NAME/params`, for errors and state.
    name: String,
    /// This shard's index (its partition).
    shard: i64,
    max_parallelism: u32,
    /// Each parameter's value and key group.
    values: HashMap<i64, (f64, KeyGroup)>,
    /// Parameters changed since the last published version.
    unpublished: BTreeSet<i64>,
    /// Parameters changed since the last barrier (with their key groups).
    unsnapshotted: Vec<(i64, KeyGroup)>,
    /// Changes of unconfirmed checkpoints.
    log: ChangeLog<(i64, KeyGroup)>,
    /// The checkpoint the values were restored from (0: a fresh start).
    restored: i64,
    /// Changes refused because the sum would not be finite.
    refused: u64,
    /// The changes received since the last barrier, merged at the next one.
    pending: HashMap<i64, Pending>,
}

/// The changes of one parameter received in an epoch.
#[derive(Clone, Copy)]
struct Pending {
    sum: f64,
    /// How many pushes changed it.
    count: u32,
    /// Apply their mean (else their sum).
    averaged: bool,
    group: KeyGroup,
}

impl ParameterShard {
    /// Shard `partition` of the learner's shards `name`.
    pub(crate) fn new(name: &str, partition: PartitionId, max_parallelism: u32) -> Self {
        ParameterShard {
            name: name.to_string(),
            shard: i64::from(partition.0),
            max_parallelism,
            values: HashMap::new(),
            unpublished: BTreeSet::new(),
            unsnapshotted: Vec::new(),
            log: ChangeLog::default(),
            restored: 0,
            refused: 0,
            pending: HashMap::new(),
        }
    }

    /// Merges the changes of the epoch that ends: per parameter the sum of its changes, or
    /// their mean for an averaged one (`quiver_ml::SharedParameters::averaged`).
    fn merge_pending(&mut self) {
        for (key, p) in std::mem::take(&mut self.pending) {
            let change = if p.averaged {
                p.sum / f64::from(p.count)
            } else {
                p.sum
            };
            let entry = self.values.entry(key).or_insert((0.0, p.group));
            let merged = entry.0 + change;
            if !merged.is_finite() {
                self.refused += 1;
                continue;
            }
            entry.0 = merged;
            if self.unpublished.insert(key) {
                self.unsnapshotted.push((key, p.group));
            }
        }
    }

    fn error(&self, what: impl std::fmt::Display) -> OperatorError {
        OperatorError::State(format!("\"{}\": {what}", self.name))
    }

    /// The version records of `parameters` (their current values) and the record that ends
    /// `version`.
    fn publish<'a>(&self, parameters: impl Iterator<Item = &'a i64>, version: i64) -> Batch {
        let (mut keys, mut values) = (Vec::new(), Vec::new());
        for &p in parameters {
            if let Some(&(value, _)) = self.values.get(&p) {
                keys.push(p);
                values.push(value);
            }
        }
        keys.push(-1);
        values.push(0.0);
        let n = keys.len();
        let columns = vec![
            Column::i64(vec![self.shard; n]),
            Column::i64(vec![version; n]),
            Column::i64(keys),
            Column::f64(values),
        ];
        // Four columns of equal length always make a batch.
        Batch::try_new(vec![0; n], columns).unwrap_or_else(|_| unreachable!())
    }
}

impl Operator for ParameterShard {
    fn process_batch(&mut self, batch: &Batch, _out: &mut Output) -> Result<(), OperatorError> {
        let columns = batch.columns();
        let (Some(keys), Some(changes), Some(averaged)) = (
            columns.first().and_then(|c| c.as_i64()),
            columns.get(1).and_then(|c| c.as_f64()),
            columns.get(2).and_then(|c| c.as_i64()),
        ) else {
            return Err(self.error("a batch without (parameter, change, averaged) columns"));
        };
        let codes = key_hash_codes(&[&columns[0]], batch.len());
        for (i, code) in codes.into_iter().enumerate() {
            let group = key_group(code, self.max_parallelism);
            let p = self.pending.entry(keys[i]).or_insert(Pending {
                sum: 0.0,
                count: 0,
                averaged: averaged[i] != 0,
                group,
            });
            p.sum += changes[i];
            p.count += 1;
        }
        Ok(())
    }

    fn on_barrier(&mut self, barrier: &Barrier, out: &mut Output) -> Result<(), OperatorError> {
        let version = i64::try_from(barrier.checkpoint.0).map_err(|e| self.error(e))?;
        self.merge_pending();
        out.records
            .push(self.publish(self.unpublished.iter(), version));
        self.unpublished.clear();
        Ok(())
    }

    fn on_start(&mut self, out: &mut Output) -> Result<(), OperatorError> {
        let mut all: Vec<i64> = self.values.keys().copied().collect();
        all.sort_unstable();
        out.records.push(self.publish(all.iter(), self.restored));
        Ok(())
    }

    fn on_end(&mut self, out: &mut Output) -> Result<(), OperatorError> {
        self.merge_pending();
        if !self.unpublished.is_empty() {
            out.records
                .push(self.publish(self.unpublished.iter(), self.restored));
            self.unpublished.clear();
        }
        Ok(())
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        let fresh = std::mem::take(&mut self.unsnapshotted);
        let entries = self
            .log
            .capture(checkpoint, fresh)
            .map(|&(key, group)| {
                let value = self.values.get(&key).map(|&(v, _)| v);
                (
                    group,
                    KeyedEntry {
                        key: ParameterKey(key),
                        value,
                    },
                )
            })
            .collect();
        let mut meta = Vec::new();
        encode(&checkpoint.0, &mut meta).map_err(|e| self.error(e))?;
        Ok(Some(Box::new(DeltaCopy {
            operator: self.name.clone(),
            kind: PieceKind::Delta,
            meta,
            drop_below: None,
            entries,
            live: self.values.len(),
        })))
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        self.log.confirm(checkpoint);
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        let entries = self
            .values
            .iter()
            .map(|(&key, &(value, group))| {
                (
                    group,
                    KeyedEntry {
                        key: ParameterKey(key),
                        value: Some(value),
                    },
                )
            })
            .collect();
        DeltaCopy {
            operator: self.name.clone(),
            kind: PieceKind::Base,
            meta: Vec::new(),
            drop_below: None,
            entries,
            live: self.values.len(),
        }
        .encode_full()
    }

    fn restore(&mut self, state: SavedState) -> Result<(), OperatorError> {
        let restored = read_parameters(&self.name, state.pieces)?;
        self.restored = self.restored.max(restored.checkpoint);
        for (key, value, group) in restored.values {
            self.values.insert(key, (value, group));
        }
        Ok(())
    }

    fn restored_from(&mut self, checkpoint: CheckpointId) {
        // A shard whose key groups hold no parameter restores no header: its (empty) state
        // is still the checkpoint's, and its first version must say so, or the workers'
        // oldest-shard version would be 0 for a restored model.
        self.restored = self
            .restored
            .max(i64::try_from(checkpoint.0).unwrap_or(i64::MAX));
    }

    fn refused_updates(&self) -> u64 {
        self.refused
    }

    fn state_entries(&self) -> u64 {
        self.values.len() as u64
    }
}

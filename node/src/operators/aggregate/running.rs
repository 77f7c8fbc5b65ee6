//! The running aggregate: no window, one updated row per input record. Its output batch
//! shares the input's event times and key columns and adds one column per aggregate. With a
//! state TTL ([`super::ttl`]) a key's state expires a TTL after its last write.
//!
//! Its state is one table of the keyed-state layer: key → `(accumulators, last write)`; the
//! last write is milliseconds since the Unix epoch, `None` when the stage keeps state forever.
//! A checkpoint copies the keys written or expired since the last confirmed one.

use super::acc_columns::Hit;
use super::accumulator::Acc;
use super::key::{canonical_column, GroupKey};
use super::table::{hash, AccTable};
use super::{arrange, Core};
use crate::operator::{ChangesCopy, KeyGroupState, Operator, OperatorError, Output, SavedState};
use crate::state::pieces::decode;
use crate::state::ttl::Expiry;
use crate::state::{ChangeLog, KeyedEntry};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder};
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::CheckpointId;

/// A key's saved value: its accumulators and last write.
type Saved = (Vec<Acc>, Option<i64>);

/// One key of a checkpoint: its value, `None` once it expired.
type Entry<K> = KeyedEntry<K, Saved>;

/// Keyed running aggregates: after each record, the key's row with the updated aggregates.
pub(crate) struct RunningAggregate<K: GroupKey> {
    core: Core,
    table: AccTable<K>,
    /// Last writes and cleanup, with a state TTL.
    expiry: Option<Expiry>,
    /// Changed keys of unconfirmed checkpoints (a job with checkpoints).
    log: Option<ChangeLog<K>>,
}

impl<K: GroupKey> RunningAggregate<K> {
    /// A running aggregate keeping state forever (`expiry: None`) or until it expires.
    pub(crate) fn new(core: Core, expiry: Option<Expiry>) -> RunningAggregate<K> {
        let table = AccTable::new(&core.initial);
        RunningAggregate {
            table: table.tracked(core.tracked),
            log: core.tracked.then(ChangeLog::default),
            core,
            expiry,
        }
    }

    /// The saved value of `key` (`None`: absent or expired) at the last tick.
    fn saved(&self, key: &K) -> Option<Saved> {
        let (slot, accs) = self.table.get(key)?;
        match &self.expiry {
            Some(e) => {
                let written = e.written(slot);
                (!e.expired(written)).then(|| (accs.to_vec(), Some(written)))
            }
            None => Some((accs.to_vec(), None)),
        }
    }
}

impl<K: GroupKey> Operator for RunningAggregate<K> {
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError> {
        let n = batch.len();
        let input = self.core.input::<K>(batch)?;
        let mut aggregates = self.core.aggregate_builders(n);
        if let Some(expiry) = &mut self.expiry {
            expiry.tick();
        }
        // Four passes: every row's hash entry read (`peek`), then the key and accumulators
        // of the slot it names (`touch`), then every row's slot found (and, with a TTL, its
        // expired state reset), then the accumulators updated an aggregate at a time. The
        // first two loops are small and their iterations independent, so the CPU overlaps
        // the cache misses of many rows (a large table misses on the probe, the key and the
        // accumulators); the others find the lines in cache.
        let hashes: Vec<u64> = (0..n).map(|row| hash(&input.key(row))).collect();
        let table = &self.table;
        let mut warmed = 0;
        let peeked: Vec<usize> = hashes
            .iter()
            .filter_map(|&h| {
                let found = table.peek(h);
                if found.is_none() {
                    warmed ^= table.warm_insert(h);
                }
                found
            })
            .collect();
        std::hint::black_box(peeked.iter().fold(warmed, |acc, &s| acc ^ table.touch(s)));
        let mut hits = Vec::with_capacity(n);
        for (row, &key_hash) in hashes.iter().enumerate() {
            let (mut accs, slot, new) = self
                .table
                .find_or_insert(input.key(row), key_hash)
                .map_err(|e| self.core.state_error(e))?;
            if let Some(expiry) = &mut self.expiry {
                if expiry.write(slot, new) {
                    accs.reset();
                }
            }
            // Slots and rows fit in u32: the table holds at most u32::MAX keys, a batch
            // fewer rows.
            hits.push(Hit {
                slot: slot as u32,
                row: row as u32,
            });
        }
        self.core
            .accumulate_rows(self.table.accs_mut(), &hits, &input, Some(&mut aggregates))?;
        if let Some(expiry) = &mut self.expiry {
            let table = &mut self.table;
            expiry.clean(n, |slot| {
                table.swap_remove(slot);
            });
        }
        if n > 0 {
            let mut columns: Vec<Column> = self
                .core
                .key_columns
                .iter()
                .map(|&c| canonical_column(batch.column(c)))
                .collect();
            columns.extend(aggregates.into_iter().map(ColumnBuilder::build));
            let emitted = batch.derive(columns).map_err(|e| self.core.data_error(e))?;
            out.records.push(emitted);
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Output) -> Result<(), OperatorError> {
        self.core.advance_watermark(watermark);
        Ok(())
    }

    /// Keys held, including expired ones the cleanup has not reached yet.
    fn state_entries(&self) -> u64 {
        self.table.len() as u64
    }

    fn state_expired(&self) -> u64 {
        self.expiry.as_ref().map_or(0, Expiry::expired_count)
    }

    fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        if let Some(expiry) = &mut self.expiry {
            expiry.tick();
        }
        let fresh = self.table.take_changed();
        let Some(mut log) = self.log.take() else {
            return Ok(None);
        };
        let entries = log
            .capture(checkpoint, fresh)
            .map(|key| {
                let entry = Entry {
                    key: key.clone(),
                    value: self.saved(key),
                };
                (self.core.group(key), entry)
            })
            .collect();
        self.log = Some(log);
        let live = self.table.len();
        Ok(Some(Box::new(self.core.copy(
            PieceKind::Delta,
            None,
            entries,
            live,
        ))))
    }

    fn confirm(&mut self, checkpoint: CheckpointId) {
        if let Some(log) = &mut self.log {
            log.confirm(checkpoint);
        }
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if let Some(expiry) = &mut self.expiry {
            expiry.tick();
        }
        let entries = self
            .table
            .iter()
            .filter_map(|(key, _, _)| {
                let value = Some(self.saved(&key)?);
                let group = self.core.group(&key);
                Some((group, Entry { key, value }))
            })
            .collect();
        self.core
            .copy(PieceKind::Base, None, entries, self.table.len())
            .encode_full()
    }

    fn restore(&mut self, saved: SavedState) -> Result<(), OperatorError> {
        let SavedState { pieces, order } = saved;
        let reordered = order.is_some();
        let order = order.as_deref();
        let (table, expiry) = (&mut self.table, &mut self.expiry);
        let now = expiry.as_mut().map_or(0, Expiry::tick);
        self.core.restore_chains(pieces, |key, value| {
            let key: K = decode(key)?;
            let (accs, written): Saved = decode(value)?;
            let accs = arrange(order, accs)?;
            let Some(e) = expiry.as_mut() else {
                table.insert(key, &accs)?;
                return Ok(());
            };
            // State from a stage without TTL starts its life now.
            let written = written.unwrap_or(now);
            if e.expired(written) {
                // Gone: the next checkpoint removes it from the stored chain too.
                table.note_removed(key);
            } else {
                let (slot, new) = table.insert(key, &accs)?;
                e.set(slot, new, written);
            }
            Ok(())
        })?;
        if reordered {
            // Stored in another order: the next checkpoint writes every entry anew.
            self.table.mark_all();
        }
        Ok(())
    }
}

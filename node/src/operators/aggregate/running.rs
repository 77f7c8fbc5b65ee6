//! The running aggregate: no window, one updated row per input record. Its output batch
//! shares the input's event times and key columns and adds one column per aggregate. With a
//! state TTL ([`super::ttl`]) a key's state expires a TTL after its last write.
//!
//! A key group's snapshot holds `(key, accumulators, last write)` per live key; the last write
//! is milliseconds since the Unix epoch, `None` when the stage keeps state forever.

use super::accumulator::Acc;
use super::key::{canonical_column, GroupKey};
use super::table::{hash, AccTable};
use super::ttl::Expiry;
use super::{arrange, Core};
use crate::operator::{
    ClonedState, KeyGroupState, Operator, OperatorError, Output, SavedState, StateCopy,
};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder};

/// Keyed running aggregates: after each record, the key's row with the updated aggregates.
#[derive(Clone)]
pub(crate) struct RunningAggregate<K> {
    core: Core,
    table: AccTable<K>,
    /// Last writes and cleanup, with a state TTL.
    expiry: Option<Expiry>,
}

impl<K: GroupKey> RunningAggregate<K> {
    /// A running aggregate keeping state forever (`expiry: None`) or until it expires.
    pub(crate) fn new(core: Core, expiry: Option<Expiry>) -> RunningAggregate<K> {
        let width = core.plans.len();
        let table = match expiry {
            Some(_) => AccTable::removable(width),
            None => AccTable::new(width),
        };
        RunningAggregate {
            core,
            table,
            expiry,
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
        for row in 0..n {
            let key = input.key(row);
            let (accs, slot, new) = self
                .table
                .find_or_insert(key, hash(&key), &self.core.initial);
            if let Some(expiry) = &mut self.expiry {
                if expiry.write(slot, new) {
                    accs.clone_from_slice(&self.core.initial);
                }
            }
            self.core.accumulate(accs, &input, row);
            self.core.push_aggregates(&mut aggregates, accs)?;
        }
        if let Some(expiry) = &mut self.expiry {
            expiry.clean(&mut self.table, n);
        }
        if n > 0 {
            let mut columns: Vec<Column> = self
                .core
                .key_columns
                .iter()
                .map(|&c| canonical_column(batch.column(c)))
                .collect();
            columns.extend(aggregates.iter_mut().map(ColumnBuilder::finish));
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

    fn snapshot_copy(&mut self) -> Result<Box<dyn StateCopy>, OperatorError> {
        Ok(Box::new(ClonedState(self.clone())))
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if let Some(expiry) = &mut self.expiry {
            expiry.tick();
        }
        let expiry = self.expiry.as_ref();
        self.table
            .by_group_with(self.core.max_parallelism, |key, slot, accs| match expiry {
                Some(e) => {
                    let written = e.written(slot);
                    (!e.expired(written)).then_some((key, accs, Some(written)))
                }
                None => Some((key, accs, None)),
            })
            .into_iter()
            .map(|(group, entries)| self.core.encode(group, entries))
            .collect()
    }

    fn restore(&mut self, saved: SavedState) -> Result<(), OperatorError> {
        let SavedState {
            pieces: state,
            order,
        } = saved;
        let order = order.as_deref();
        let (table, expiry) = (&mut self.table, &mut self.expiry);
        let now = expiry.as_mut().map_or(0, Expiry::tick);
        self.core
            .decode(state, |entries: Vec<(K, Vec<Acc>, Option<i64>)>| {
                for (key, accs, written) in entries {
                    let accs = arrange(order, accs)?;
                    let Some(e) = expiry.as_mut() else {
                        table.insert(key, &accs)?;
                        continue;
                    };
                    // State from a stage without TTL starts its life now.
                    let written = written.unwrap_or(now);
                    if !e.expired(written) {
                        let (slot, new) = table.insert(key, &accs)?;
                        e.set(slot, new, written);
                    }
                }
                Ok(())
            })
    }
}

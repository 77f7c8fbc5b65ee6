//! The running aggregate: no window, one updated row per input record.

use super::accumulator::Acc;
use super::key::GroupKey;
use super::table::AccTable;
use super::Core;
use crate::operator::{KeyGroupState, Operator, OperatorError, Output};
use quiver_protocol::{Batch, Record};

/// Keyed running aggregates: after each record, the key's row with the updated aggregates.
pub(crate) struct RunningAggregate<K> {
    core: Core<K>,
    table: AccTable<K>,
}

impl<K: GroupKey> RunningAggregate<K> {
    pub(crate) fn new(core: Core<K>) -> RunningAggregate<K> {
        let table = AccTable::new(core.plans.len());
        RunningAggregate { core, table }
    }
}

impl<K: GroupKey> Operator for RunningAggregate<K> {
    fn process_batch(&mut self, batch: Batch, out: &mut Output) -> Result<(), OperatorError> {
        out.records.reserve(batch.len());
        for record in batch {
            self.core.read_key(&record.row)?;
            let accs = self.table.slot(&self.core.key, &self.core.initial);
            Core::<K>::accumulate(&self.core.name, &self.core.plans, accs, &record.row)?;
            out.records.push(Record {
                event_time: record.event_time,
                row: self.core.output_row(&self.core.key, None, accs),
            });
        }
        Ok(())
    }

    fn on_watermark(&mut self, watermark: i64, _out: &mut Output) -> Result<(), OperatorError> {
        self.core.watermark = self.core.watermark.max(watermark);
        Ok(())
    }

    fn state_entries(&self) -> u64 {
        self.table.len() as u64
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.table
            .by_group(self.core.max_parallelism)
            .into_iter()
            .map(|(group, entries)| self.core.encode(group, entries))
            .collect()
    }

    fn restore(&mut self, state: Vec<KeyGroupState>) -> Result<(), OperatorError> {
        let table = &mut self.table;
        self.core.decode(state, |entries: Vec<(K, Vec<Acc>)>| {
            entries
                .into_iter()
                .try_for_each(|(key, accs)| table.insert(key, &accs))
        })
    }
}

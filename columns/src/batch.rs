//! The batch: rows as typed columns plus event time, shared by reference, and when its
//! oldest record was read (for source-to-sink latency).

use crate::column::{Column, Values};
use std::fmt;
use std::sync::Arc;

/// `len` records: an event time each and one value per column. Cloning shares every buffer
/// (two reference-count increments), so fanning a batch out to several consumers copies no
/// value; a consumer that wants to change a column builds a new one.
///
/// Two batches are equal when they hold the same records: the read stamp
/// ([`Batch::read_at_us`]) is metadata about their journey and not compared.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    len: usize,
    event_time: Values<i64>,
    columns: Arc<[Column]>,
    read_at_us: Option<i64>,
}

impl PartialEq for Batch {
    fn eq(&self, other: &Batch) -> bool {
        self.len == other.len
            && self.event_time == other.event_time
            && self.columns == other.columns
    }
}

/// A batch whose parts do not fit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError(pub String);

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BatchError {}

impl Batch {
    /// A batch from its event times and columns, each as long as `event_time`.
    pub fn try_new(event_time: Vec<i64>, columns: Vec<Column>) -> Result<Batch, BatchError> {
        let len = event_time.len();
        if let Some((i, c)) = columns.iter().enumerate().find(|(_, c)| c.len() != len) {
            return Err(BatchError(format!(
                "column {i} has {} rows, the batch {len}",
                c.len()
            )));
        }
        Ok(Batch {
            len,
            event_time: event_time.into(),
            columns: columns.into(),
            read_at_us: None,
        })
    }

    /// A batch of the same records (same event times, shared) with other columns, each as
    /// long as this batch: what an operator emitting one row per input row returns.
    pub fn derive(&self, columns: Vec<Column>) -> Result<Batch, BatchError> {
        if let Some((i, c)) = columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.len() != self.len)
        {
            return Err(BatchError(format!(
                "column {i} has {} rows, the batch {}",
                c.len(),
                self.len
            )));
        }
        Ok(Batch {
            len: self.len,
            event_time: self.event_time.clone(),
            columns: columns.into(),
            read_at_us: self.read_at_us,
        })
    }

    /// When the oldest of these records was read by its source: wall-clock µs since the Unix
    /// epoch (`None`: not stamped, e.g. a window's output or a test's batch). Slices, splits
    /// and derived batches keep it; a concatenation keeps the oldest.
    #[inline]
    pub fn read_at_us(&self) -> Option<i64> {
        self.read_at_us
    }

    /// This batch stamped as read at `read_at_us` (see [`Batch::read_at_us`]).
    pub fn with_read_at_us(mut self, read_at_us: Option<i64>) -> Batch {
        self.read_at_us = read_at_us;
        self
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch has no record.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Event times (ms since the epoch), one per record.
    #[inline]
    pub fn event_time(&self) -> &[i64] {
        &self.event_time
    }

    /// The columns, in schema order.
    #[inline]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Column `i`.
    #[inline]
    pub fn column(&self, i: usize) -> &Column {
        &self.columns[i]
    }

    /// Splits the batch by `partition[row]` (each below `parts`) into `parts` batches, rows
    /// in their original order; an empty partition gets an empty batch.
    ///
    /// # Panics
    /// If `partition` is not one entry per row or an entry is not below `parts` (the caller
    /// computed them from its own key groups).
    pub fn scatter(&self, partition: &[u32], parts: usize) -> Vec<Batch> {
        assert_eq!(partition.len(), self.len, "one partition per row");
        let mut counts = vec![0usize; parts];
        for &p in partition {
            counts[p as usize] += 1;
        }
        let mut rows: Vec<Vec<u32>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
        for (i, &p) in partition.iter().enumerate() {
            rows[p as usize].push(i as u32);
        }
        rows.iter().map(|r| self.take(r)).collect()
    }

    /// The records `range` (a frame too large to send is split this way).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Batch {
        let rows: Vec<u32> = (range.start as u32..range.end.min(self.len) as u32).collect();
        self.take(&rows)
    }

    /// The batches one after the other, as one batch; their columns must have the same types.
    pub fn concat(batches: &[Batch]) -> Result<Batch, BatchError> {
        match batches {
            [] => Ok(Batch::default()),
            [one] => Ok(one.clone()),
            [first, ..] => {
                let types: Vec<_> = first.columns.iter().map(Column::ty).collect();
                if let Some(b) = batches
                    .iter()
                    .find(|b| b.columns.iter().map(Column::ty).ne(types.iter().copied()))
                {
                    return Err(BatchError(format!(
                        "cannot concatenate batches of other columns ({:?} and {:?})",
                        types,
                        b.columns.iter().map(Column::ty).collect::<Vec<_>>()
                    )));
                }
                let event_time: Vec<i64> = batches
                    .iter()
                    .flat_map(|b| b.event_time.iter().copied())
                    .collect();
                let columns = (0..types.len())
                    .map(|c| Column::concat(batches.iter().map(|b| &b.columns[c])))
                    .collect::<Vec<_>>();
                let oldest = batches.iter().filter_map(Batch::read_at_us).min();
                Ok(Batch::try_new(event_time, columns)?.with_read_at_us(oldest))
            }
        }
    }

    /// The records `rows` (in that order) as a new batch.
    pub fn take(&self, rows: &[u32]) -> Batch {
        Batch {
            len: rows.len(),
            event_time: rows
                .iter()
                .map(|&i| self.event_time[i as usize])
                .collect::<Vec<_>>()
                .into(),
            columns: self.columns.iter().map(|c| c.gather(rows)).collect(),
            read_at_us: self.read_at_us,
        }
    }
}

#[cfg(test)]
mod tests;

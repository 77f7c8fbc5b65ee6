//! An output gate: where one operator output meets one downstream operator. It splits records
//! over the downstream partitions (forward, by key group, round-robin), buffers them until the
//! task flushes, and keeps records and control elements (watermarks, barriers, end) in order.

use super::sender::ChannelSender;
use super::RuntimeError;
use quiver_protocol::keygroup::{key_group, key_hash_code, partition_of};
use quiver_protocol::plan::Partitioning;
use quiver_protocol::{Record, StreamElement};

/// Records per batch at most; larger outputs are cut.
pub(crate) const MAX_BATCH: usize = 1024;

/// One downstream partition's end of a gate.
struct Destination {
    sender: ChannelSender,
    records: Vec<Record>,
    queue: Vec<StreamElement>,
}

impl Destination {
    fn seal(&mut self) {
        if !self.records.is_empty() {
            self.queue
                .push(StreamElement::Records(std::mem::take(&mut self.records)));
        }
    }
}

/// Routes one output to the partitions of one downstream operator.
pub(crate) struct OutputGate {
    partitioning: Partitioning,
    max_parallelism: u32,
    destinations: Vec<Destination>,
    next: usize,
}

impl OutputGate {
    /// A gate over connected senders, one per downstream partition (one for forward).
    pub(crate) fn new(
        partitioning: Partitioning,
        max_parallelism: u32,
        senders: Vec<ChannelSender>,
    ) -> OutputGate {
        OutputGate {
            partitioning,
            max_parallelism,
            destinations: senders
                .into_iter()
                .map(|sender| Destination {
                    sender,
                    records: Vec::new(),
                    queue: Vec::new(),
                })
                .collect(),
            next: 0,
        }
    }

    /// Buffers records for their partitions.
    pub(crate) fn push_records(&mut self, records: Vec<Record>) {
        let n = self.destinations.len() as u32;
        match &self.partitioning {
            Partitioning::Hash { key_columns } if n > 1 => {
                let max_parallelism = self.max_parallelism;
                for record in records {
                    let code = key_hash_code(key_columns.iter().map(|&c| &record.row[c]));
                    let group = key_group(code, max_parallelism);
                    let p = partition_of(group, max_parallelism, n).0 as usize;
                    let d = &mut self.destinations[p];
                    d.records.push(record);
                    if d.records.len() >= MAX_BATCH {
                        d.seal();
                    }
                }
            }
            Partitioning::Rebalance if n > 1 => {
                let p = self.next;
                self.next = (self.next + 1) % n as usize;
                self.buffer_all(p, records);
            }
            _ => self.buffer_all(0, records),
        }
    }

    fn buffer_all(&mut self, p: usize, records: Vec<Record>) {
        let d = &mut self.destinations[p];
        if !d.records.is_empty() {
            d.seal();
        }
        if records.len() <= MAX_BATCH {
            d.records = records;
        } else {
            for chunk in records.chunks(MAX_BATCH) {
                d.queue.push(StreamElement::Records(chunk.to_vec()));
            }
        }
    }

    /// Queues a control element for every partition, after the records buffered so far.
    pub(crate) fn push_control(&mut self, element: StreamElement) {
        for d in &mut self.destinations {
            d.seal();
            d.queue.push(element.clone());
        }
    }

    /// Sends everything buffered, waiting for credits; returns the records sent.
    pub(crate) async fn flush(&mut self) -> Result<u64, RuntimeError> {
        let mut sent = 0u64;
        for d in &mut self.destinations {
            d.seal();
            for element in d.queue.drain(..) {
                if let StreamElement::Records(batch) = &element {
                    sent += batch.len() as u64;
                }
                d.sender.send(element).await?;
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests;

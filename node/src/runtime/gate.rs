//! An output gate: where one operator output meets one downstream operator. It splits records
//! over the downstream partitions (forward, by key group, round-robin, to all), buffers them until the
//! task flushes, and keeps records and control elements (watermarks, barriers, end) in order.

use super::sender::ChannelSender;
use super::RuntimeError;
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::keygroup::{key_hash_codes, KeyGroupRouter};
use quiver_protocol::plan::Partitioning;
use quiver_protocol::StreamElement;

/// Records per batch at most; larger outputs are cut.
pub(crate) const MAX_BATCH: usize = 1024;

/// One downstream partition's end of a gate.
struct Destination {
    sender: ChannelSender,
    /// Pieces of batches not sent yet, `rows` records in all: collected into batches of up
    /// to [`MAX_BATCH`] records when sealed.
    pieces: Vec<Batch>,
    rows: usize,
    queue: Vec<StreamElement>,
}

impl Destination {
    /// Queues a whole batch as it is (cut at [`MAX_BATCH`]), after what was collected.
    fn add_whole(&mut self, batch: Batch) {
        self.seal();
        self.add(batch);
        self.seal();
    }

    /// Collects a piece of a batch (a partition's share of a scatter).
    fn add(&mut self, piece: Batch) {
        if piece.is_empty() {
            return;
        }
        self.rows += piece.len();
        self.pieces.push(piece);
        if self.rows >= MAX_BATCH {
            self.seal();
        }
    }

    /// Queues what was collected, as batches of at most [`MAX_BATCH`] records.
    fn seal(&mut self) {
        if self.pieces.is_empty() {
            return;
        }
        let pieces = std::mem::take(&mut self.pieces);
        self.rows = 0;
        let whole = match Batch::concat(&pieces) {
            Ok(whole) => whole,
            // Pieces of one output share its columns; if they ever do not, send them apart.
            Err(_) => {
                self.queue
                    .extend(pieces.into_iter().map(StreamElement::Records));
                return;
            }
        };
        let mut start = 0;
        while start < whole.len() {
            let end = (start + MAX_BATCH).min(whole.len());
            let part = if start == 0 && end == whole.len() {
                whole.clone()
            } else {
                whole.slice(start..end)
            };
            self.queue.push(StreamElement::Records(part));
            start = end;
        }
    }
}

/// The pieces of the last batch a hash gate split, kept while the batch goes through the
/// rest of its routes: a gate that splits it the same way (same key columns, partitions and
/// max parallelism — the keyed consumers of one source) takes them instead of hashing and
/// copying the batch again.
#[derive(Default)]
pub(crate) struct Scatters {
    last: Option<Scattered>,
}

struct Scattered {
    key_columns: Vec<usize>,
    parts: usize,
    max_parallelism: u32,
    pieces: Vec<Batch>,
}

impl Scatters {
    /// The pieces of `records` split by `key_columns` over `parts` partitions: those kept,
    /// when the last split was the same, else `split()` (then kept).
    fn of(
        &mut self,
        key_columns: &[usize],
        parts: usize,
        max_parallelism: u32,
        split: impl FnOnce() -> Vec<Batch>,
    ) -> Vec<Batch> {
        match &self.last {
            Some(s)
                if s.key_columns == key_columns
                    && s.parts == parts
                    && s.max_parallelism == max_parallelism =>
            {
                s.pieces.clone()
            }
            _ => {
                let pieces = split();
                self.last = Some(Scattered {
                    key_columns: key_columns.to_vec(),
                    parts,
                    max_parallelism,
                    pieces: pieces.clone(),
                });
                pieces
            }
        }
    }
}

/// Routes one output to the partitions of one downstream operator.
pub(crate) struct OutputGate {
    partitioning: Partitioning,
    max_parallelism: u32,
    /// The partition of a key's hash code (hash partitioning).
    router: KeyGroupRouter,
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
            router: KeyGroupRouter::new(max_parallelism, senders.len() as u32),
            destinations: senders
                .into_iter()
                .map(|sender| Destination {
                    sender,
                    pieces: Vec::new(),
                    rows: 0,
                    queue: Vec::new(),
                })
                .collect(),
            next: 0,
        }
    }

    /// Buffers a batch for its partitions: split by key group (hash: small shares are
    /// collected into batches of up to [`MAX_BATCH`]; the split is shared through
    /// `scatters` with the other gates the same batch goes to), whole to the next partition
    /// (rebalance), to every partition (broadcast, shared) or to the one (forward).
    pub(crate) fn push_records(&mut self, records: Batch, scatters: &mut Scatters) {
        let n = self.destinations.len();
        match &self.partitioning {
            Partitioning::Hash { key_columns } if n > 1 => {
                let pieces = scatters.of(key_columns, n, self.max_parallelism, || {
                    records.scatter(&self.partitions_of(&records, key_columns), n)
                });
                for (d, piece) in self.destinations.iter_mut().zip(pieces) {
                    d.add(piece);
                }
            }
            Partitioning::Rebalance if n > 1 => {
                let p = self.next;
                self.next = (self.next + 1) % n;
                self.destinations[p].add_whole(records);
            }
            Partitioning::Broadcast => {
                for d in &mut self.destinations {
                    d.add_whole(records.clone());
                }
            }
            _ => self.destinations[0].add_whole(records),
        }
    }

    /// The partition of every record: the key group of its key columns' values (hashed a
    /// column at a time, in place).
    fn partitions_of(&self, records: &Batch, key_columns: &[usize]) -> Vec<u32> {
        let columns: Vec<&Column> = key_columns.iter().map(|&c| records.column(c)).collect();
        key_hash_codes(&columns, records.len())
            .into_iter()
            .map(|code| self.router.partition(code))
            .collect()
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
            for element in &d.queue {
                if let StreamElement::Records(batch) = element {
                    sent += batch.len() as u64;
                }
            }
            d.sender.send_all(d.queue.drain(..)).await?;
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests;

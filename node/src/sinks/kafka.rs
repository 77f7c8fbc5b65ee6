//! The `kafka` sink: one message per row, its value the row's JSON object, its key the
//! `key` column's value (a string's bytes, another value's JSON text; no key without `key`
//! or for a null). A keyed message goes to the partition Kafka's default partitioner gives
//! its key ([`murmur2`]); without a key, sink partition `p` writes target partition
//! `p mod partitions`, so each sink partition's rows stay in order.
//!
//! **Without checkpoints** rows are published as they come, at every [`Sink::write_batch`];
//! a job without checkpoints that restarts publishes its rows again.
//!
//! **With checkpoints** the sink publishes exactly once per checkpoint through a two-phase
//! commit whose staging lives in the brokers ([`staging`]), so it survives the node:
//! - rows written since the last barrier are kept in memory; at barrier `c`
//!   ([`Sink::prepare_commit`]) they are appended to the sink partition's staging log, each
//!   with its sequence number, followed by a `staged` record holding their count and the
//!   target partitions' end offsets; the barrier is acknowledged only after the broker took
//!   them;
//! - when checkpoint `c` completed ([`Sink::commit`]) the rows staged up to `c` are published
//!   to the topic, each with a header `quiver-id: LINEAGE/SINK/PARTITION/GENERATION/
//!   CHECKPOINT/SEQUENCE`, then a `published` record is appended to the log;
//! - a deployment restored from checkpoint `r` of generation `g` first fences the log, then
//!   reads it from where nothing was left unsettled and publishes every checkpoint `≤ r` of
//!   generation `g` that has its `staged` record and no `published` one: it reads the target
//!   partitions from the end offsets the `staged` record holds, skips the rows whose
//!   `quiver-id` is there already (a publish cut short by the failure) and publishes the rest.
//!   Staged checkpoints after `r`, or of other generations, never completed and are ignored.
//!
//! Record batches, to the topic and to the staging log alike, are compressed with the sink's
//! `compression` codec (none by default).
//!
//! Limits: a deployment's publish still under way when the next deployment restores (a
//! commit already running when its generation was cancelled) checks its cancellation and the
//! fence before each produce and stops, but one produce in flight at that moment can land
//! after the restore's check and be published twice (at most one request, 1 MiB; closing
//! that needs Kafka's transactional producer, which rskafka does not have). The staging log
//! keeps what it holds (delete a finished job's `quiver-staging-*` topics, or give them a
//! retention); the sink cannot be rescaled (its staging topic has one partition per sink
//! partition). Readers of the topic see a checkpoint's rows when it completes: latency is the
//! checkpoint interval.

mod murmur2;
mod staging;

use super::json::{key_bytes, JsonEncoder};
use super::SinkContext;
use crate::blocking::{blocking, Cancellation};
use crate::kafka::{self, CALL_TIMEOUT};
use crate::operator::{OperatorError, Sink};
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::KafkaCompression;
use quiver_protocol::{CheckpointId, Schema};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient};
use rskafka::record::Record;
use staging::{Kind, Mark};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// The header naming a published row.
const ID_HEADER: &str = "quiver-id";

/// A produce request carries at most about this many bytes of messages.
const PRODUCE_BYTES: usize = 1 << 20;

/// A row as a message.
#[derive(Debug, Clone)]
struct Row {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

/// What a sink partition staged at a barrier and has not published yet.
#[derive(Debug)]
struct Staged {
    /// The log offset of its first record.
    start: i64,
    rows: Vec<Row>,
}

/// The exactly-once state of a sink partition (with checkpoints).
#[derive(Debug)]
struct Transaction {
    log: Arc<PartitionClient>,
    /// How the records appended to the log are compressed.
    compression: Compression,
    generation: u64,
    /// The log's next offset as this partition knows it (it is the log's only writer).
    next: i64,
    /// Rows written since the last barrier.
    open: Vec<Row>,
    /// Staged checkpoints not published yet.
    pending: BTreeMap<CheckpointId, Staged>,
    /// Set when the deployment is cancelled: its publish stops before the next produce.
    cancelled: Cancellation,
}

/// Writes rows to a Kafka topic.
pub struct KafkaSink {
    /// `kafka sink "NAME" (topic "T" on BROKERS)`, for messages.
    name: String,
    encoder: JsonEncoder,
    /// The key column's position.
    key: Option<usize>,
    targets: Vec<Arc<PartitionClient>>,
    /// How record batches are compressed.
    compression: Compression,
    /// `LINEAGE/SINK/PARTITION/`: how this partition's published rows are named.
    id_prefix: String,
    partition: u32,
    /// `None`: publish as rows come (no checkpoints).
    transaction: Option<Transaction>,
}

impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("sink", &self.name)
            .finish()
    }
}

impl KafkaSink {
    /// The partition of sink `sink` described by `ctx`, writing rows of `input` to `topic`
    /// on `brokers`, keyed by column `key`, in batches compressed with `compression`. With
    /// `ctx.exactly_once` it first settles what the restored checkpoint staged (module doc).
    pub fn new(
        sink: &str,
        brokers: &[String],
        topic: &str,
        key: Option<&str>,
        compression: KafkaCompression,
        input: &Schema,
        ctx: &SinkContext,
    ) -> Result<KafkaSink, OperatorError> {
        let name = format!(
            "kafka sink \"{sink}\" (topic \"{topic}\" on {})",
            brokers.join(", ")
        );
        let key = match key {
            None => None,
            Some(column) => Some(input.index_of(column).ok_or_else(|| {
                OperatorError::Config(format!(
                    "{name}: key column \"{column}\" is not a column of its input ({})",
                    input.names()
                ))
            })?),
        };
        let client = kafka::connect(brokers)?;
        let targets = kafka::partitions(&client, brokers, topic)?
            .into_iter()
            .map(|p| kafka::partition_client(&client, topic, p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut this = KafkaSink {
            name,
            encoder: JsonEncoder::new(input),
            key,
            targets,
            compression: codec(compression),
            id_prefix: format!("{:x}/{sink}/{}/", ctx.lineage, ctx.partition),
            partition: ctx.partition,
            transaction: None,
        };
        if ctx.exactly_once {
            let topic = staging::topic_name(ctx.lineage, sink)?;
            let log = staging::open(&client, brokers, &topic, ctx.parallelism, ctx.partition)?;
            this.transaction = Some(this.recover(log, ctx)?);
        }
        Ok(this)
    }

    /// The target partition of `row`.
    fn target_of(&self, row: &Row) -> usize {
        match &row.key {
            Some(key) if self.key.is_some() => murmur2::partition_of(key, self.targets.len()),
            _ => self.partition as usize % self.targets.len().max(1),
        }
    }

    /// The rows of `batch` as messages.
    fn rows(&self, batch: &Batch) -> Vec<Row> {
        (0..batch.len())
            .map(|i| {
                let mut value = Vec::new();
                self.encoder.encode(batch, i, &mut value);
                let key = self
                    .key
                    .and_then(|k| batch.columns().get(k))
                    .and_then(|column| key_bytes(column, i));
                Row { key, value }
            })
            .collect()
    }

    /// Publishes `rows` to the target topic, with their ids when `ids` names them
    /// (`GENERATION/CHECKPOINT/` and each row's sequence number, from `first`), checking
    /// `fence` before each produce.
    fn publish(
        &self,
        rows: impl Iterator<Item = (u64, Row)>,
        ids: Option<&str>,
        fence: &dyn Fn() -> Result<(), OperatorError>,
    ) -> Result<(), OperatorError> {
        let mut by_target: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
        for (seq, row) in rows {
            let mut headers = BTreeMap::new();
            if let Some(ids) = ids {
                let id = format!("{}{ids}{seq}", self.id_prefix);
                headers.insert(ID_HEADER.to_string(), id.into_bytes());
            }
            let target = self.target_of(&row);
            by_target.entry(target).or_default().push(Record {
                key: row.key,
                value: Some(row.value),
                headers,
                timestamp: chrono::Utc::now(),
            });
        }
        for (target, records) in by_target {
            for chunk in chunks(records) {
                fence()?;
                produce(&self.targets[target], chunk, self.compression)?;
            }
        }
        Ok(())
    }

    /// Settles the log for the deployment `ctx` describes (module doc).
    fn recover(
        &self,
        log: Arc<PartitionClient>,
        ctx: &SinkContext,
    ) -> Result<Transaction, OperatorError> {
        let generation = ctx.generation.0;
        let end = staging::offset(&log, OffsetAt::Latest)?;
        let mut tx = Transaction {
            log,
            compression: self.compression,
            generation,
            next: end,
            open: Vec::new(),
            pending: BTreeMap::new(),
            cancelled: ctx.cancelled.clone(),
        };
        let Some((restored, restored_by)) = ctx.restored else {
            return Ok(tx);
        };
        let low = staging::offset(&tx.log, OffsetAt::Earliest)?;
        let start = staging::scan_start(&tx.log, low, end, restored_by.0)?;
        tx.append(vec![tx.mark(Kind::Fence, 0, 0, start)], start)?;
        let mut checkpoints: BTreeMap<u64, Unsettled> = BTreeMap::new();
        for record in staging::read(&tx.log, start, end)? {
            let Some(mark) = Mark::of(&record) else {
                continue;
            };
            if mark.generation != restored_by.0 || mark.checkpoint > restored.0 {
                continue;
            }
            let entry = checkpoints.entry(mark.checkpoint).or_default();
            match mark.kind {
                Kind::Row => {
                    let row = Row {
                        key: record.record.key,
                        value: record.record.value.unwrap_or_default(),
                    };
                    entry.rows.insert(mark.n, row);
                }
                Kind::Staged => {
                    entry.count = Some(mark.n);
                    entry.targets = target_offsets(record.record.value.as_deref());
                }
                Kind::Published => entry.published = true,
                Kind::Fence => {}
            }
        }
        for (checkpoint, unsettled) in checkpoints {
            let Some(count) = unsettled.count.filter(|_| !unsettled.published) else {
                continue;
            };
            if unsettled.rows.len() as u64 != count {
                return Err(OperatorError::State(format!(
                    "{}: the staging log holds {} of the {count} rows staged at checkpoint \
                     {checkpoint}",
                    self.name,
                    unsettled.rows.len()
                )));
            }
            let ids = format!("{}/{checkpoint}/", restored_by.0);
            let there = self.published_ids(&unsettled.targets, &ids)?;
            let missing = unsettled
                .rows
                .into_iter()
                .filter(|(seq, _)| !there.contains(seq));
            self.publish(missing, Some(&ids), &|| Ok(()))?;
            // Marked as the restored generation's, as its own publish would have been.
            let marker = Transaction::record(Mark {
                kind: Kind::Published,
                generation: restored_by.0,
                checkpoint,
                n: 0,
                settled: start,
            });
            tx.append(vec![marker], start)?;
        }
        Ok(tx)
    }

    /// The sequence numbers of this partition's rows named `ids` (`GENERATION/CHECKPOINT/`)
    /// in the target partitions from the offsets `from` on.
    fn published_ids(&self, from: &[i64], ids: &str) -> Result<BTreeSet<u64>, OperatorError> {
        let prefix = format!("{}{ids}", self.id_prefix);
        let mut seen = BTreeSet::new();
        for (i, target) in self.targets.iter().enumerate() {
            let end = staging::offset(target, OffsetAt::Latest)?;
            let start = from.get(i).copied().unwrap_or(0);
            for record in staging::read(target, start, end)? {
                let seq: Option<u64> = record
                    .record
                    .headers
                    .get(ID_HEADER)
                    .and_then(|id| std::str::from_utf8(id).ok())
                    .and_then(|id| id.strip_prefix(&prefix))
                    .and_then(|seq| seq.parse().ok());
                seen.extend(seq);
            }
        }
        Ok(seen)
    }
}

/// What a restore found in the log for one checkpoint.
#[derive(Debug, Default)]
struct Unsettled {
    rows: BTreeMap<u64, Row>,
    count: Option<u64>,
    targets: Vec<i64>,
    published: bool,
}

/// The target partitions' end offsets a `staged` record holds (`o0,o1,...`).
fn target_offsets(value: Option<&[u8]>) -> Vec<i64> {
    let text = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .unwrap_or("");
    text.split(',').filter_map(|o| o.parse().ok()).collect()
}

/// The client's codec for `compression`.
fn codec(compression: KafkaCompression) -> Compression {
    match compression {
        KafkaCompression::None => Compression::NoCompression,
        KafkaCompression::Gzip => Compression::Gzip,
        KafkaCompression::Lz4 => Compression::Lz4,
        KafkaCompression::Snappy => Compression::Snappy,
        KafkaCompression::Zstd => Compression::Zstd,
    }
}

/// `records` cut into produce requests of about [`PRODUCE_BYTES`].
fn chunks(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut chunks = vec![Vec::new()];
    let mut bytes = 0;
    for record in records {
        let size = record.approximate_size();
        if bytes + size > PRODUCE_BYTES && !chunks[chunks.len() - 1].is_empty() {
            chunks.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        let last = chunks.len() - 1;
        chunks[last].push(record);
    }
    chunks
}

/// Appends `records` to `partition` in batches compressed with `compression`; returns the
/// offset after the last.
fn produce(
    partition: &Arc<PartitionClient>,
    records: Vec<Record>,
    compression: Compression,
) -> Result<i64, OperatorError> {
    let p = partition.clone();
    let offsets = kafka::call(
        || {
            format!(
                "produce to topic \"{}\" partition {}",
                partition.topic(),
                partition.partition()
            )
        },
        CALL_TIMEOUT,
        async move { p.produce(records, compression).await },
    )?;
    Ok(offsets.last().map_or(0, |o| o + 1))
}

impl Transaction {
    /// A staging record of this generation, without key or value.
    fn mark(&self, kind: Kind, checkpoint: u64, n: u64, settled: i64) -> Record {
        Transaction::record(Mark {
            kind,
            generation: self.generation,
            checkpoint,
            n,
            settled,
        })
    }

    /// A staging record marked `mark`, without key or value.
    fn record(mark: Mark) -> Record {
        let mut headers = BTreeMap::new();
        headers.insert(staging::HEADER.to_string(), mark.encode());
        Record {
            key: None,
            value: None,
            headers,
            timestamp: chrono::Utc::now(),
        }
    }

    /// Nothing below this log offset is left to publish now.
    fn settled(&self) -> i64 {
        self.pending.values().next().map_or(self.next, |s| s.start)
    }

    /// Appends `records` to the log; `floor` bounds what the log's next offset is taken to
    /// be from below.
    fn append(&mut self, records: Vec<Record>, floor: i64) -> Result<(), OperatorError> {
        for chunk in chunks(records) {
            self.next = produce(&self.log, chunk, self.compression)?.max(floor);
        }
        Ok(())
    }

    /// Fails when this deployment was cancelled, or when another deployment wrote to the log
    /// since this one last did: it took the partition over, and publishing is its business now.
    fn check_fence(&self, name: &str) -> Result<(), OperatorError> {
        if self.cancelled.is_cancelled() {
            return Err(OperatorError::Io(format!(
                "{name}: the deployment was cancelled; it stops publishing (the next one \
                 publishes the rest)"
            )));
        }
        let end = staging::offset(&self.log, OffsetAt::Latest)?;
        if end == self.next {
            Ok(())
        } else {
            Err(OperatorError::Io(format!(
                "{name}: another deployment took the sink partition over (its staging log \
                 moved from offset {} to {end}); this one stops publishing",
                self.next
            )))
        }
    }
}

impl Sink for KafkaSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        let rows = self.rows(batch);
        match &mut self.transaction {
            Some(tx) => {
                tx.open.extend(rows);
                Ok(())
            }
            None => {
                let rows = rows.into_iter().map(|row| (0, row));
                blocking(|| self.publish(rows, None, &|| Ok(())))
            }
        }
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        match &self.transaction {
            Some(tx) if !tx.open.is_empty() => Err(OperatorError::Io(format!(
                "{}: {} rows after the final barrier, which no checkpoint covers",
                self.name,
                tx.open.len()
            ))),
            _ => Ok(()),
        }
    }

    fn prepare_commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        let Some(tx) = self.transaction.as_mut() else {
            return Ok(());
        };
        if tx.open.is_empty() {
            return Ok(());
        }
        let targets = &self.targets;
        blocking(|| {
            let mut ends = Vec::with_capacity(targets.len());
            for target in targets {
                ends.push(staging::offset(target, OffsetAt::Latest)?.to_string());
            }
            let rows = std::mem::take(&mut tx.open);
            let (start, settled) = (tx.next, tx.settled());
            let mut records: Vec<Record> = rows
                .iter()
                .zip(0..)
                .map(|(row, seq)| {
                    let mut record = tx.mark(Kind::Row, checkpoint.0, seq, settled);
                    record.key = row.key.clone();
                    record.value = Some(row.value.clone());
                    record
                })
                .collect();
            let mut end = tx.mark(Kind::Staged, checkpoint.0, rows.len() as u64, settled);
            end.value = Some(ends.join(",").into_bytes());
            records.push(end);
            tx.append(records, start)?;
            tx.pending.insert(checkpoint, Staged { start, rows });
            Ok(())
        })
    }

    fn commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        let Some(mut tx) = self.transaction.take() else {
            return Ok(());
        };
        let result = blocking(|| {
            while let Some(entry) = tx.pending.first_entry() {
                if *entry.key() > checkpoint {
                    break;
                }
                let (c, staged) = entry.remove_entry();
                let ids = format!("{}/{}/", tx.generation, c.0);
                let rows = (0..).zip(staged.rows);
                self.publish(rows, Some(&ids), &|| tx.check_fence(&self.name))?;
                let settled = tx.settled();
                let marker = tx.mark(Kind::Published, c.0, 0, settled);
                tx.append(vec![marker], settled)?;
            }
            Ok(())
        });
        self.transaction = Some(tx);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::murmur2;
    use super::*;

    #[test]
    fn records_are_cut_into_produce_requests_of_about_a_megabyte() {
        let record = |bytes: usize| Record {
            key: None,
            value: Some(vec![b'x'; bytes]),
            headers: BTreeMap::new(),
            timestamp: chrono::Utc::now(),
        };
        let sizes: Vec<usize> = chunks((0..5).map(|_| record(400_000)).collect())
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(
            chunks(vec![record(3 << 20)]).len(),
            1,
            "a big record goes alone"
        );
        assert_eq!(
            murmur2::partition_of(b"21", 3),
            (-973_932_308i32 & 0x7fff_ffff) as usize % 3
        );
    }

    #[test]
    fn target_offsets_read_back_as_written() {
        assert_eq!(target_offsets(Some(b"0,17,3")), [0, 17, 3]);
        assert!(target_offsets(None).is_empty());
    }
}

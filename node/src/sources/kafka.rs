//! The Kafka source's reader of one split, a topic partition ([`KafkaReader`]): it fetches
//! messages from the partition's leader (rskafka) and parses each message's value as one
//! record, with the file sources' parsers: a JSON object (`format = "jsonl"`, as a line of a
//! JSON-lines file) or a CSV line whose fields `columns` names in order (`format = "csv"`,
//! as a line of a CSV file under that header). Malformed messages fail or are skipped as in a
//! file, named by topic, partition and offset.
//!
//! Its position is the offset of the next message to read, which checkpoints store, so a
//! job reads every message exactly once from the source's point of view; no consumer group
//! is involved. A partition without a checkpointed offset starts at its earliest or its
//! latest offset (`start`). A bounded source (`bounded = true`) reads each partition up to
//! the end offset seen when the reader first opened it (kept in the position), then ends.
//! A fetch waits at most [`MAX_WAIT_MS`] on the broker, so an empty partition costs a
//! request every few tens of milliseconds, not a busy loop, and never holds a barrier up
//! (the read runs off the task).
//!
//! Batches of every codec are read (gzip, lz4, snappy, zstd). A transactional producer's
//! topic is read up to its last stable offset, but records of aborted transactions are read
//! too: rskafka ignores the fetch response's list of them.

use super::csv::{fields_of, parse as parse_csv, Field};
use super::fields::{refused, RecordBatch, RowPlan};
use super::jsonl::parse_line;
use crate::kafka::{self, CALL_TIMEOUT};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::batch::{Batch, ColumnBuilder};
use quiver_protocol::spec::{
    FileFormat, KafkaMetadata, KafkaSource, KafkaStart, SourceSpec, TimeUnit,
};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use std::collections::VecDeque;
use std::sync::Arc;

/// How long a fetch may wait on the broker for messages (tansu waits about half of it even
/// when messages are there).
const MAX_WAIT_MS: i32 = 50;

/// The most bytes of messages one fetch asks for.
const MAX_FETCH_BYTES: i32 = 1 << 20;

/// How a message's value is parsed.
enum Format {
    /// A JSON object; `seen` and `elements` are the parser's scratch space.
    Jsonl { seen: Vec<bool>, elements: Vec<f64> },
    /// A CSV or TSV line: what each field is for, and the delimiter.
    Delimited {
        fields: Vec<Field>,
        delimiter: u8,
        record: csv::ByteRecord,
    },
}

/// Reads one topic partition.
pub struct KafkaReader {
    plan: RowPlan,
    format: Format,
    /// The columns filled from a message's metadata (`metadata`), by position.
    metadata: Vec<(usize, KafkaMetadata)>,
    /// The topic partition read.
    partition: i32,
    client: Arc<PartitionClient>,
    /// `topic "t" partition p on BROKERS`, for messages.
    name: String,
    /// The offset of the next message to emit.
    offset: i64,
    /// A bounded source's end offset (exclusive).
    end: Option<i64>,
    /// Messages fetched and not parsed yet, in offset order.
    fetched: VecDeque<RecordAndOffset>,
    batch: RecordBatch,
    skipped: u64,
}

impl std::fmt::Debug for KafkaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaReader")
            .field("partition", &self.name)
            .field("position", &self.position())
            .finish()
    }
}

impl KafkaReader {
    /// Opens partition `partition` of `kafka`'s topic through `client`, at its start offset
    /// (`start`); a bounded source also reads the partition's end offset now.
    pub(crate) fn open(
        spec: &SourceSpec,
        kafka: &KafkaSource,
        client: &Arc<Client>,
        partition: i32,
    ) -> Result<KafkaReader, OperatorError> {
        let name = format!(
            "kafka topic \"{}\" partition {partition} on {}",
            kafka.topic,
            kafka.brokers.join(", ")
        );
        let (format, ext) = match kafka.format {
            FileFormat::Jsonl => (
                Format::Jsonl {
                    seen: Vec::new(),
                    elements: Vec::new(),
                },
                "jsonl",
            ),
            FileFormat::Csv | FileFormat::Tsv => (
                Format::Delimited {
                    fields: fields_of(&kafka.columns, &spec.schema),
                    delimiter: if kafka.format == FileFormat::Tsv {
                        b'\t'
                    } else {
                        b','
                    },
                    record: csv::ByteRecord::new(),
                },
                "csv",
            ),
        };
        let plan = RowPlan::named(
            name.clone(),
            "offset",
            &spec.schema,
            (kafka.event_time.as_deref(), TimeUnit::Milliseconds),
            kafka.bad_records,
            ext,
        )?;
        let metadata = kafka
            .metadata
            .iter()
            .filter_map(|(column, kind)| Some((spec.schema.index_of(column)?, *kind)))
            .collect();
        let client = kafka::partition_client(client, &kafka.topic, partition)?;
        let mut reader = KafkaReader {
            batch: RecordBatch::new(&plan.schema),
            plan,
            format,
            metadata,
            partition,
            client,
            name,
            offset: 0,
            end: None,
            fetched: VecDeque::new(),
            skipped: 0,
        };
        reader.offset = reader.offset_at(match kafka.start {
            KafkaStart::Earliest => OffsetAt::Earliest,
            KafkaStart::Latest => OffsetAt::Latest,
        })?;
        if kafka.bounded {
            reader.end = Some(reader.offset_at(OffsetAt::Latest)?);
        }
        Ok(reader)
    }

    /// The partition's earliest or latest offset.
    fn offset_at(&self, at: OffsetAt) -> Result<i64, OperatorError> {
        let client = self.client.clone();
        Ok(kafka::call(
            || format!("read the {at:?} offset of {}", self.name),
            CALL_TIMEOUT,
            async move { client.get_offset(at).await },
        )?)
    }

    /// Fetches the messages from the next offset on (waiting up to [`MAX_WAIT_MS`] for some).
    fn fetch(&mut self) -> Result<(), OperatorError> {
        let (client, offset) = (self.client.clone(), self.offset);
        let fetched = kafka::call(
            || format!("fetch from {} at offset {offset}", self.name),
            CALL_TIMEOUT,
            async move {
                client
                    .fetch_records(offset, 1..MAX_FETCH_BYTES, MAX_WAIT_MS)
                    .await
            },
        );
        let (records, _high_watermark) = match fetched {
            Ok(fetched) => fetched,
            Err(e)
                if e.protocol()
                    == Some(rskafka::client::error::ProtocolError::OffsetOutOfRange) =>
            {
                return Err(OperatorError::Config(format!(
                    "{}: offset {offset} is not on the broker (deleted by retention, or the \
                     topic was recreated); start the job without restoring its checkpoint",
                    self.name
                )))
            }
            Err(e) => return Err(e.into()),
        };
        let end = self.end.unwrap_or(i64::MAX);
        self.fetched.extend(
            records
                .into_iter()
                .filter(|r| r.offset >= offset && r.offset < end),
        );
        Ok(())
    }

    /// Parses one message's value into the batch being built.
    fn parse(&mut self, message: &RecordAndOffset) -> Result<(), OperatorError> {
        let value = message.record.value.as_deref().unwrap_or_default();
        let text = value.trim_ascii();
        let plan = &self.plan;
        let (rows, metadata) = (self.batch.len(), &self.metadata);
        let fill_metadata = |columns: &mut [ColumnBuilder]| {
            fill_metadata(metadata, message, self.partition, rows, columns)
        };
        let read = if text.is_empty() {
            Err("the message is empty".to_string())
        } else {
            match &mut self.format {
                Format::Jsonl { seen, elements } => self.batch.push_record(plan, |columns| {
                    parse_line(&plan.schema, text, seen, elements, columns)?;
                    fill_metadata(columns)
                }),
                Format::Delimited {
                    fields,
                    delimiter,
                    record,
                } => csv_line(text, *delimiter, record).and_then(|()| {
                    self.batch.push_record(plan, |columns| {
                        parse_csv(record, COLUMNS, fields, &plan.schema, columns)?;
                        fill_metadata(columns)
                    })
                }),
            }
        };
        match read {
            Ok(()) => Ok(()),
            Err(reason) => {
                let offset = u64::try_from(message.offset).unwrap_or_default();
                plan.bad_record(offset, reason, &mut self.skipped)
            }
        }
    }
}

/// Fills the columns `metadata` names with `message`'s metadata (read from `partition`), as
/// row `row`: whatever the value's parser put there (a JSON null or field) is replaced.
fn fill_metadata(
    metadata: &[(usize, KafkaMetadata)],
    message: &RecordAndOffset,
    partition: i32,
    row: usize,
    columns: &mut [ColumnBuilder],
) -> Result<(), String> {
    for &(i, kind) in metadata {
        let column = &mut columns[i];
        column.truncate(row);
        let pushed = match kind {
            KafkaMetadata::Key => match message.record.key.as_deref() {
                None => {
                    column.push_null();
                    Ok(())
                }
                Some(key) => {
                    let key = std::str::from_utf8(key)
                        .map_err(|_| "the message key is not valid UTF-8".to_string())?;
                    column.push_str(key)
                }
            },
            KafkaMetadata::Timestamp => {
                column.push_i64(message.record.timestamp.timestamp_millis())
            }
            KafkaMetadata::Partition => column.push_i64(i64::from(partition)),
            KafkaMetadata::Offset => column.push_i64(message.offset),
        };
        pushed.map_err(refused)?;
    }
    Ok(())
}

/// Where a delimited message's fields are named, for messages.
const COLUMNS: &str = "the source's columns name";

/// Reads `text` as exactly one record delimited by `delimiter` into `record`.
fn csv_line(text: &[u8], delimiter: u8, record: &mut csv::ByteRecord) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .buffer_capacity(text.len().max(64))
        .from_reader(text);
    match reader.read_byte_record(record) {
        Ok(true) => {}
        Ok(false) => return Err("the message holds no CSV line".to_string()),
        Err(e) => return Err(format!("not a CSV line: {e}")),
    }
    match reader.read_byte_record(&mut csv::ByteRecord::new()) {
        Ok(false) => Ok(()),
        _ => Err("the message holds more than one CSV line".to_string()),
    }
}

impl Source for KafkaReader {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        if self.end.is_some_and(|end| self.offset >= end) {
            return Ok(None);
        }
        if self.fetched.is_empty() {
            self.fetch()?;
        }
        self.batch.clear();
        while self.batch.len() < max {
            let Some(message) = self.fetched.pop_front() else {
                break;
            };
            if let Err(e) = self.parse(&message) {
                // Read again from this message after a restore; the error fails the job.
                self.fetched.clear();
                return Err(e);
            }
            self.offset = message.offset + 1;
        }
        self.batch.finish(&self.plan).map(Some)
    }

    fn position(&self) -> SourcePosition {
        SourcePosition::Kafka {
            offset: self.offset,
            end: self.end,
        }
    }

    fn seek(&mut self, position: SourcePosition) -> Result<(), OperatorError> {
        let SourcePosition::Kafka { offset, end } = position else {
            return Err(OperatorError::State(format!(
                "{}: cannot seek a Kafka partition to {position:?}",
                self.name
            )));
        };
        self.offset = offset;
        self.end = end;
        self.fetched.clear();
        Ok(())
    }

    fn skipped(&self) -> u64 {
        self.skipped
    }
}

#[cfg(test)]
mod tests;

//! `kind = "kafka"` sources: the brokers, the topic, how a message's value is read, and where
//! a job without a checkpoint starts. Checked here, before anything connects.

use super::{bad_records, event_time, file_columns, file_schema, Fields, SpecError};
use crate::host_port::HostPort;
use crate::spec::fields::show;
use crate::spec::{BadRecords, FileFormat};
use crate::value::{Schema, ValueType};
use serde::{Deserialize, Serialize};
use toml::Value;

/// Fields of `kind = "kafka"` beyond the common ones.
pub(super) const FIELDS: [&str; 10] = [
    "brokers",
    "topic",
    "format",
    "columns",
    "schema",
    "event_time",
    "bad_records",
    "start",
    "bounded",
    "metadata",
];

/// The longest topic name Kafka accepts.
const MAX_TOPIC: usize = 249;

/// `kind = "kafka"`: one split per partition of a topic, each message's value one record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KafkaSource {
    /// `brokers`: the bootstrap brokers, `HOST:PORT` each (at least one).
    pub brokers: Vec<String>,
    /// `topic`: the topic read; its partitions are the splits.
    pub topic: String,
    /// `format`: a message's value is a JSON object (`jsonl`), a CSV line (`csv`) or a TSV
    /// line (`tsv`).
    pub format: FileFormat,
    /// `columns` (csv and tsv only): the names of a message's fields in order; a name not in
    /// the schema is a field that is ignored, and every schema column is named.
    pub columns: Vec<String>,
    /// The column holding event time in ms (`event_time`); `None`: time 0.
    pub event_time: Option<String>,
    /// What to do with a malformed message.
    pub bad_records: BadRecords,
    /// Where a partition without a checkpointed offset starts.
    pub start: KafkaStart,
    /// `bounded = true`: each partition is read up to the end offset it had when the job
    /// started, then the source finishes (replays, tests); `false` (default): it never ends.
    pub bounded: bool,
    /// `metadata = { COLUMN = "key" | "timestamp" | "partition" | "offset", ... }`: schema
    /// columns filled from each message's metadata, not from its value.
    pub metadata: Vec<(String, KafkaMetadata)>,
}

/// What of a message's metadata fills a column (`metadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KafkaMetadata {
    /// `"key"`: the message key as a string column (null for a message without a key).
    Key,
    /// `"timestamp"`: the message's timestamp in ms since the epoch, an i64 column.
    Timestamp,
    /// `"partition"`: the topic partition, an i64 column.
    Partition,
    /// `"offset"`: the message's offset in its partition, an i64 column.
    Offset,
}

impl KafkaMetadata {
    /// The column type it fills.
    pub fn value_type(self) -> ValueType {
        match self {
            KafkaMetadata::Key => ValueType::Str,
            _ => ValueType::I64,
        }
    }
}

/// `start`: where a topic partition without a checkpointed offset is read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KafkaStart {
    /// `"earliest"` (default): the oldest message the broker holds.
    #[default]
    Earliest,
    /// `"latest"`: only messages produced after the partition is opened.
    Latest,
}

/// The settings and schema of a `kind = "kafka"` source.
pub(super) fn parse(fields: &Fields<'_>) -> Result<(KafkaSource, Schema), SpecError> {
    let brokers = brokers(fields)?;
    let topic = topic(fields, "read")?;
    let format = fields
        .choice(
            "format",
            &[
                ("jsonl", FileFormat::Jsonl),
                ("csv", FileFormat::Csv),
                ("tsv", FileFormat::Tsv),
            ],
        )?
        .ok_or_else(|| {
            fields.missing(
                "format",
                "add format = \"jsonl\" (a JSON object per message) or format = \"csv\" / \
                 \"tsv\" (a line per message, its fields named by columns = [...])",
            )
        })?;
    let schema = file_schema(fields)?;
    let metadata = metadata(fields, &schema)?;
    let filled: Vec<&str> = metadata.iter().map(|(c, _)| c.as_str()).collect();
    let columns = match (file_columns(fields, format, &schema, &filled)?, format) {
        (Some(columns), _) => columns,
        (None, FileFormat::Jsonl) => Vec::new(),
        (None, _) => {
            return Err(fields.missing(
                "columns",
                "a message has no header line: add columns = the names of its fields in \
                 order, e.g. [\"user\", \"amount\", \"ts\"]",
            ))
        }
    };
    let source = KafkaSource {
        brokers,
        topic,
        format,
        columns,
        event_time: event_time(fields, &schema)?.map(str::to_string),
        bad_records: bad_records(fields)?,
        start: fields
            .choice(
                "start",
                &[
                    ("earliest", KafkaStart::Earliest),
                    ("latest", KafkaStart::Latest),
                ],
            )?
            .unwrap_or_default(),
        bounded: bounded(fields)?,
        metadata,
    };
    Ok((source, schema))
}

/// `metadata = { COLUMN = "key" | "timestamp" | "partition" | "offset", ... }`: each a
/// column of `schema` of the type the metadata has.
fn metadata(
    fields: &Fields<'_>,
    schema: &Schema,
) -> Result<Vec<(String, KafkaMetadata)>, SpecError> {
    let kinds = [
        ("key", KafkaMetadata::Key),
        ("timestamp", KafkaMetadata::Timestamp),
        ("partition", KafkaMetadata::Partition),
        ("offset", KafkaMetadata::Offset),
    ];
    let what = "a table of COLUMN = \"key\" | \"timestamp\" | \"partition\" | \"offset\", \
                e.g. { user = \"key\", ts = \"timestamp\" }";
    let Some(table) = fields.table("metadata", what)? else {
        return Ok(Vec::new());
    };
    let mut metadata = Vec::new();
    for (column, value) in table.entries() {
        let Some(kind) = table.choice(column, &kinds)? else {
            continue;
        };
        let wanted = kind.value_type();
        match schema.columns.iter().find(|c| &c.name == column) {
            Some(c) if c.ty == wanted => metadata.push((column.clone(), kind)),
            Some(c) => {
                return Err(table.invalid(
                    column,
                    value,
                    format!(
                        "metadata of the column's type: \"{column}\" is {}, and {} fills {}",
                        c.ty.name(),
                        show(value),
                        wanted.name()
                    ),
                ))
            }
            None => {
                return Err(table.invalid(
                    column,
                    value,
                    format!("metadata for a column of the schema, which has no \"{column}\""),
                ))
            }
        }
    }
    Ok(metadata)
}

/// `compression`: how a Kafka sink compresses the record batches it produces. A source needs no
/// setting: it reads batches of every codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum KafkaCompression {
    /// `"none"` (default).
    #[default]
    None,
    /// `"gzip"`.
    Gzip,
    /// `"lz4"`.
    Lz4,
    /// `"snappy"`.
    Snappy,
    /// `"zstd"`.
    Zstd,
}

/// `compression = "none" | "gzip" | "lz4" | "snappy" | "zstd"` (default none).
pub(in crate::spec) fn compression(fields: &Fields<'_>) -> Result<KafkaCompression, SpecError> {
    let codecs = [
        ("none", KafkaCompression::None),
        ("gzip", KafkaCompression::Gzip),
        ("lz4", KafkaCompression::Lz4),
        ("snappy", KafkaCompression::Snappy),
        ("zstd", KafkaCompression::Zstd),
    ];
    Ok(fields.choice("compression", &codecs)?.unwrap_or_default())
}

/// `topic`: a topic name Kafka accepts; `does` says what the source or sink does with it.
pub(in crate::spec) fn topic(fields: &Fields<'_>, does: &str) -> Result<String, SpecError> {
    let topic = fields.required_string(
        "topic",
        &format!("the name of the topic to {does}, e.g. \"events\""),
    )?;
    if !is_topic_name(topic) {
        return Err(fields.invalid(
            "topic",
            &Value::String(topic.to_string()),
            format!("a Kafka topic name: 1 to {MAX_TOPIC} of the characters a-z A-Z 0-9 . _ -"),
        ));
    }
    Ok(topic.to_string())
}

/// `brokers = ["HOST:PORT", ...]`: at least one, each a well-formed address.
pub(in crate::spec) fn brokers(fields: &Fields<'_>) -> Result<Vec<String>, SpecError> {
    let what = "a list of HOST:PORT addresses, e.g. [\"127.0.0.1:9092\"]";
    let brokers = fields
        .string_list("brokers", what)?
        .ok_or_else(|| fields.missing("brokers", format!("add brokers = {what}")))?;
    let shown = || Value::Array(brokers.iter().cloned().map(Value::String).collect());
    if brokers.is_empty() {
        return Err(fields.invalid("brokers", &shown(), format!("at least one address: {what}")));
    }
    for broker in &brokers {
        if let Err(e) = broker.parse::<HostPort>() {
            return Err(fields.invalid("brokers", &shown(), e.to_string()));
        }
    }
    Ok(brokers)
}

/// `bounded = true | false` (default false).
fn bounded(fields: &Fields<'_>) -> Result<bool, SpecError> {
    match fields.get("bounded") {
        None => Ok(false),
        Some(Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(fields.invalid(
            "bounded",
            other,
            "true (read up to the end offsets seen at the start, then finish) or false",
        )),
    }
}

/// Whether `name` is a topic name Kafka accepts.
fn is_topic_name(name: &str) -> bool {
    (1..=MAX_TOPIC).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

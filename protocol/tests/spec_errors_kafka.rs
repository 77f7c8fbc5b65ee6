//! `kind = "kafka"` sources: what a valid one reads as, and each field's error naming the
//! place, the field, the bad value and what is allowed.

mod common;

use quiver_protocol::spec::{
    BadRecords, FileFormat, JobSpec, KafkaCompression, KafkaMetadata, KafkaStart, SinkKind,
    SourceKind,
};
use std::path::Path;

/// A valid spec; each test changes one thing in it.
const VALID: &str = r#"
[job]
name = "t"
parallelism = 2

[[source]]
name = "events"
kind = "kafka"
brokers = ["127.0.0.1:9092", "kafka.example.com:9093"]
topic = "events"
format = "jsonl"
schema = { user = "string", amount = "f64", ts = "i64" }
event_time = "ts"

[[sink]]
name = "out"
kind = "stdout"
input = "events"
"#;

/// The error message for `VALID` with `from` replaced by `to`.
fn error(from: &str, to: &str) -> String {
    common::error_in(VALID, from, to)
}

/// `VALID` as a CSV source whose messages hold `columns`.
fn csv(columns: &str) -> String {
    VALID.replace(
        "format = \"jsonl\"",
        &format!("format = \"csv\"\ncolumns = {columns}"),
    )
}

#[test]
fn a_kafka_source_parses_with_its_defaults() {
    let spec = JobSpec::parse(VALID, Path::new("/jobs")).expect("valid");
    let source = &spec.sources[0];
    assert_eq!(source.parallelism, 2, "the job's default parallelism");
    let SourceKind::Kafka(kafka) = &source.kind else {
        panic!("not a kafka source: {:?}", source.kind)
    };
    assert_eq!(kafka.brokers, ["127.0.0.1:9092", "kafka.example.com:9093"]);
    assert_eq!(kafka.topic, "events");
    assert_eq!(kafka.format, FileFormat::Jsonl);
    assert!(kafka.columns.is_empty());
    assert_eq!(kafka.event_time.as_deref(), Some("ts"));
    assert_eq!(kafka.bad_records, BadRecords::Fail);
    assert_eq!(kafka.start, KafkaStart::Earliest);
    assert!(!kafka.bounded);
    assert!(kafka.metadata.is_empty());
}

/// `VALID` with `metadata = TABLE` and the schema `schema`.
fn with_metadata(schema: &str, table: &str) -> String {
    VALID
        .replace(
            "{ user = \"string\", amount = \"f64\", ts = \"i64\" }",
            schema,
        )
        .replace(
            "event_time = \"ts\"",
            &format!("event_time = \"ts\"\nmetadata = {table}"),
        )
}

#[test]
fn metadata_fills_columns_of_its_type_and_csv_columns_leave_them_out() {
    let schema = "{ user = \"string\", amount = \"f64\", ts = \"i64\", p = \"i64\", o = \"i64\" }";
    let table = "{ user = \"key\", ts = \"timestamp\", p = \"partition\", o = \"offset\" }";
    let text = with_metadata(schema, table).replace(
        "format = \"jsonl\"",
        "format = \"csv\"\ncolumns = [\"amount\", \"note\"]",
    );
    let spec = JobSpec::parse(&text, Path::new("/jobs")).expect("valid");
    let SourceKind::Kafka(kafka) = &spec.sources[0].kind else {
        panic!("not a kafka source")
    };
    let named = |c: &str, k| (c.to_string(), k);
    assert_eq!(
        kafka.metadata,
        [
            named("user", KafkaMetadata::Key),
            named("ts", KafkaMetadata::Timestamp),
            named("p", KafkaMetadata::Partition),
            named("o", KafkaMetadata::Offset)
        ]
    );
}

#[test]
fn metadata_for_no_column_a_column_of_another_type_or_of_no_kind() {
    let schema = "{ user = \"string\", amount = \"f64\", ts = \"i64\" }";
    let error = |table: &str| match JobSpec::parse(&with_metadata(schema, table), Path::new("/")) {
        Ok(_) => panic!("{table} was accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        error("{ who = \"key\" }"),
        "source \"events\": field \"metadata.who\" has value \"key\"; allowed: metadata for a \
         column of the schema, which has no \"who\""
    );
    assert_eq!(
        error("{ user = \"offset\" }"),
        "source \"events\": field \"metadata.user\" has value \"offset\"; allowed: metadata \
         of the column's type: \"user\" is string, and \"offset\" fills i64"
    );
    assert_eq!(
        error("{ ts = \"headers\" }"),
        "source \"events\": field \"metadata.ts\" has value \"headers\"; allowed: key, \
         timestamp, partition, offset"
    );
    let named_twice = with_metadata(schema, "{ user = \"key\" }").replace(
        "format = \"jsonl\"",
        "format = \"csv\"\ncolumns = [\"user\", \"amount\", \"ts\"]",
    );
    let e = JobSpec::parse(&named_twice, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("without \"user\": `metadata` fills it"), "{e}");
}

#[test]
fn a_kafka_source_takes_start_bounded_csv_columns_and_the_common_fields() {
    let text = csv("[\"ts\", \"ignored\", \"user\", \"amount\"]").replace(
        "event_time = \"ts\"",
        "event_time = \"ts\"\nstart = \"latest\"\nbounded = true\nbad_records = \"skip\"\n\
         parallelism = 3\nidle_timeout = \"1s\"\nmax_drift = \"10s\"\nmax_out_of_orderness = \"2s\"",
    );
    let spec = JobSpec::parse(&text, Path::new("/jobs")).expect("valid");
    let source = &spec.sources[0];
    assert_eq!(source.parallelism, 3);
    assert!(source.idle_timeout.is_some() && source.max_drift.is_some());
    let SourceKind::Kafka(kafka) = &source.kind else {
        panic!("not a kafka source")
    };
    assert_eq!(kafka.format, FileFormat::Csv);
    assert_eq!(kafka.columns, ["ts", "ignored", "user", "amount"]);
    assert_eq!(kafka.start, KafkaStart::Latest);
    assert!(kafka.bounded);
    assert_eq!(kafka.bad_records, BadRecords::Skip);
}

#[test]
fn brokers_missing_empty_or_malformed() {
    assert_eq!(
        error(
            "brokers = [\"127.0.0.1:9092\", \"kafka.example.com:9093\"]\n",
            ""
        ),
        "source \"events\": missing required field \"brokers\"; add brokers = a list of \
         HOST:PORT addresses, e.g. [\"127.0.0.1:9092\"]"
    );
    assert_eq!(
        error("[\"127.0.0.1:9092\", \"kafka.example.com:9093\"]", "[]"),
        "source \"events\": field \"brokers\" has value []; allowed: at least one address: a \
         list of HOST:PORT addresses, e.g. [\"127.0.0.1:9092\"]"
    );
    assert_eq!(
        error("\"kafka.example.com:9093\"", "\"kafka.example.com\""),
        "source \"events\": field \"brokers\" has value [\"127.0.0.1:9092\", \
         \"kafka.example.com\"]; allowed: \"kafka.example.com\" is not HOST:PORT (no port); \
         write e.g. 127.0.0.1:7600, [::1]:7600 or coordinator.example.com:7600"
    );
    assert_eq!(
        error(
            "[\"127.0.0.1:9092\", \"kafka.example.com:9093\"]",
            "\"127.0.0.1:9092\""
        ),
        "source \"events\": field \"brokers\" has value \"127.0.0.1:9092\"; allowed: a list of \
         HOST:PORT addresses, e.g. [\"127.0.0.1:9092\"]"
    );
}

#[test]
fn topic_missing_or_not_a_topic_name() {
    assert_eq!(
        error("topic = \"events\"\n", ""),
        "source \"events\": missing required field \"topic\"; add topic = the name of the topic \
         to read, e.g. \"events\""
    );
    assert_eq!(
        error("topic = \"events\"", "topic = \"my events\""),
        "source \"events\": field \"topic\" has value \"my events\"; allowed: a Kafka topic \
         name: 1 to 249 of the characters a-z A-Z 0-9 . _ -"
    );
    assert!(error("topic = \"events\"", "topic = \"\"").contains("a Kafka topic name"));
}

#[test]
fn format_missing_or_unknown() {
    assert_eq!(
        error("format = \"jsonl\"\n", ""),
        "source \"events\": missing required field \"format\"; add format = \"jsonl\" (a JSON \
         object per message) or format = \"csv\" / \"tsv\" (a line per message, its fields \
         named by columns = [...])"
    );
    assert!(error("format = \"jsonl\"", "format = \"avro\"").contains(
        "source \"events\": field \"format\" has value \"avro\"; allowed: jsonl, csv, tsv"
    ));
}

#[test]
fn csv_columns_missing_incomplete_or_repeated_and_jsonl_with_columns() {
    let csv_without_columns = VALID.replace("format = \"jsonl\"", "format = \"csv\"");
    assert_eq!(
        common::error_in(
            &csv_without_columns,
            "topic = \"events\"",
            "topic = \"events\""
        ),
        "source \"events\": missing required field \"columns\"; a message has no header line: \
         add columns = the names of its fields in order, e.g. [\"user\", \"amount\", \"ts\"]"
    );
    assert!(
        common::error_in(&csv("[\"user\", \"ts\"]"), "topic", "topic").contains(
            "field \"columns\" has value [\"user\", \"ts\"]; allowed: the names of the file's \
         fields in file order"
        )
    );
    assert!(
        common::error_in(&csv("[\"user\", \"ts\"]"), "topic", "topic")
            .ends_with("naming every schema column (\"amount\" is missing)")
    );
    assert!(common::error_in(
        &csv("[\"user\", \"amount\", \"ts\", \"user\"]"),
        "topic",
        "topic"
    )
    .ends_with("each name once (\"user\" is field 1 and 4)"));
    assert!(error(
        "format = \"jsonl\"",
        "format = \"jsonl\"\ncolumns = [\"user\"]"
    )
    .ends_with(
        "field \"columns\" has value [\"user\"]; allowed: only with format = \"csv\" or \"tsv\" \
         (JSON lines name their fields)"
    ));
}

#[test]
fn start_bounded_and_event_time_values() {
    assert!(error(
        "topic = \"events\"",
        "topic = \"events\"\nstart = \"beginning\""
    )
    .contains("field \"start\" has value \"beginning\"; allowed: earliest, latest"));
    assert_eq!(
        error(
            "topic = \"events\"",
            "topic = \"events\"\nbounded = \"yes\""
        ),
        "source \"events\": field \"bounded\" has value \"yes\"; allowed: true (read up to the \
         end offsets seen at the start, then finish) or false"
    );
    assert!(error("event_time = \"ts\"", "event_time = \"user\"")
        .contains("field \"event_time\" has value \"user\"; allowed: an i64 column"));
    assert!(error("event_time = \"ts\"", "max_drift = \"5s\"")
        .contains("field \"max_drift\" has value \"5s\"; allowed: only with event_time"));
}

#[test]
fn kafka_fields_of_other_kinds_are_unknown() {
    assert!(
        error("topic = \"events\"", "topic = \"events\"\npath = \"x.csv\"")
            .starts_with("source \"events\": unknown field \"path\"")
    );
    assert!(error("topic = \"events\"", "topic = \"events\"\nrate = 5")
        .starts_with("source \"events\": unknown field \"rate\""));
}

/// `VALID` with its sink made a Kafka sink with `fields`.
fn kafka_sink(fields: &str) -> String {
    VALID.replace(
        "kind = \"stdout\"\n",
        &format!("kind = \"kafka\"\n{fields}\n"),
    )
}

#[test]
fn a_kafka_sink_takes_brokers_topic_and_a_key() {
    let text = kafka_sink("brokers = [\"127.0.0.1:9092\"]\ntopic = \"out\"\nkey = \"user\"");
    let spec = JobSpec::parse(&text, Path::new("/jobs")).expect("valid");
    assert_eq!(
        spec.sinks[0].kind,
        SinkKind::Kafka {
            brokers: vec!["127.0.0.1:9092".to_string()],
            topic: "out".to_string(),
            key: Some("user".to_string()),
            compression: KafkaCompression::None,
        }
    );
}

#[test]
fn a_kafka_sink_compresses_with_a_named_codec_and_refuses_another() {
    let with = |codec: &str| {
        let fields = format!("brokers = [\"127.0.0.1:9092\"]\ntopic = \"out\"\n{codec}");
        JobSpec::parse(&kafka_sink(&fields), Path::new("/jobs")).map(|spec| {
            match &spec.sinks[0].kind {
                SinkKind::Kafka { compression, .. } => *compression,
                other => panic!("not a kafka sink: {other:?}"),
            }
        })
    };
    assert_eq!(with("").unwrap(), KafkaCompression::None);
    assert_eq!(
        with("compression = \"zstd\"").unwrap(),
        KafkaCompression::Zstd
    );
    assert_eq!(
        with("compression = \"lz4\"").unwrap(),
        KafkaCompression::Lz4
    );
    assert_eq!(
        with("compression = \"brotli\"").unwrap_err().to_string(),
        "sink \"out\": field \"compression\" has value \"brotli\"; allowed: none, gzip, lz4, \
         snappy, zstd"
    );
}

#[test]
fn a_kafka_sink_without_brokers_or_topic_or_with_a_bad_one() {
    let error = |fields: &str| match JobSpec::parse(&kafka_sink(fields), Path::new("/jobs")) {
        Ok(_) => panic!("{fields} was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        error("topic = \"out\"").starts_with("sink \"out\": missing required field \"brokers\"")
    );
    assert_eq!(
        error("brokers = [\"127.0.0.1:9092\"]"),
        "sink \"out\": missing required field \"topic\"; add topic = the name of the topic to \
         write, e.g. \"events\""
    );
    assert!(error("brokers = [\"localhost\"]\ntopic = \"out\"")
        .contains("\"localhost\" is not HOST:PORT (no port)"));
    assert!(error("brokers = [\"127.0.0.1:9092\"]\ntopic = \"a/b\"")
        .contains("field \"topic\" has value \"a/b\"; allowed: a Kafka topic name"));
    assert!(
        error("brokers = [\"127.0.0.1:9092\"]\ntopic = \"out\"\npath = \"x\"")
            .starts_with("sink \"out\": unknown field \"path\"")
    );
}

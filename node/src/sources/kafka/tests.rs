use super::*;
use crate::sources::file_tests::spec;
use crate::sources::splits::splits_of;
use quiver_protocol::spec::{BadRecords, SourceKind};
use std::path::Path;

/// A kafka source of the file tests' schema reading `topic` from `brokers`.
fn kafka_spec(brokers: Vec<String>, topic: &str) -> SourceSpec {
    SourceSpec {
        kind: SourceKind::Kafka(KafkaSource {
            brokers,
            topic: topic.to_string(),
            format: FileFormat::Jsonl,
            columns: Vec::new(),
            event_time: Some("ts".to_string()),
            bad_records: BadRecords::Fail,
            start: KafkaStart::Earliest,
            bounded: false,
            metadata: Vec::new(),
        }),
        ..spec(Path::new("unused"), FileFormat::Jsonl, BadRecords::Fail)
    }
}

#[test]
fn a_broker_that_is_down_is_a_transient_error_naming_it() {
    // A port nobody listens on: taken from the system, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let broker = format!("127.0.0.1:{port}");
    let error =
        splits_of(&kafka_spec(vec![broker.clone()], "events"), 2).expect_err("no broker there");
    assert!(
        error.is_transient(),
        "a retry may find the broker up: {error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("connect to {broker}")),
        "the message names the brokers: {message}"
    );
}

#[test]
fn a_csv_message_is_one_line_quoted_as_in_a_file() {
    let mut record = csv::ByteRecord::new();
    csv_line(b"alice,\"1,5\",7", b',', &mut record).expect("one line");
    assert_eq!(
        record.iter().collect::<Vec<_>>(),
        [&b"alice"[..], &b"1,5"[..], &b"7"[..]]
    );
    assert_eq!(
        csv_line(b"alice,1.5,7\nbob,2,8", b',', &mut record),
        Err("the message holds more than one CSV line".to_string())
    );
}

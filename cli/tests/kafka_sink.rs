//! The Kafka sink against a real broker (tansu): a checkpointed job writing a CSV folder's
//! events to a topic loses none and duplicates none through a node's SIGKILL, and a sink
//! partition restored after each way a commit can be cut short publishes what the restored
//! checkpoint staged exactly once. The topic is read back with rskafka and compared with
//! what was written (no engine code).

mod common;

use common::cluster::{restarts, Cluster};
use common::kafka::Broker;
use common::{events, sorted};
use quiver_node::operator::Sink;
use quiver_node::sinks::kafka::KafkaSink;
use quiver_node::sinks::SinkContext;
use quiver_node::Cancellation;
use quiver_protocol::batch::from_records;
use quiver_protocol::record::Record;
use quiver_protocol::spec::KafkaCompression;
use quiver_protocol::{CheckpointId, Generation, Schema, Value as Cell, ValueType};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Events in the input.
const N: usize = 6000;
/// Partitions of the target topic.
const PARTITIONS: i32 = 3;

#[test]
fn killed_node_publishes_every_row_to_kafka_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("spend", PARTITIONS);
    let mut cluster = Cluster::on_loopback(2);
    let dir = cluster.dir.path().to_path_buf();
    // Two files, two splits, two source partitions; 6000 events at 1500/s: about 4 s.
    let all = events(N);
    std::fs::create_dir_all(dir.join("events")).unwrap();
    common::write_csv_file(&dir.join("events/a.csv"), &all[..N / 2]);
    common::write_csv_file(&dir.join("events/b.csv"), &all[N / 2..]);
    let spec = dir.join("job.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "to-kafka"
parallelism = 2
checkpoint_interval = "300ms"

[[source]]
name = "events"
kind = "file"
path = "events/"
format = "csv"
schema = {{ user = "string", amount = "f64", ts = "i64" }}
event_time = "ts"
parallelism = 2
rate = 1500

[[sink]]
name = "spend"
kind = "kafka"
input = "events"
brokers = ["{}"]
topic = "spend"
key = "user"
"#,
            broker.addr
        ),
    )
    .unwrap();
    cluster.submit_spec(&spec);
    cluster.wait_for_checkpoints(2);
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");

    let mut published = Vec::new();
    for partition in 0..PARTITIONS {
        for record in broker.read_partition("spend", partition) {
            let value: Value = serde_json::from_slice(&record.value.unwrap_or_default())
                .expect("a message is a JSON row");
            let key = String::from_utf8(record.key.unwrap_or_default()).unwrap();
            assert_eq!(value["user"], json!(key), "a message is keyed by its user");
            published.push(value);
        }
    }
    let expected: Vec<Value> = all
        .iter()
        .map(|(user, amount, ts)| json!({"user": user, "amount": amount, "ts": ts}))
        .collect();
    let published = sorted(published);
    assert_eq!(published.len(), N, "one message per input row");
    assert_eq!(published, sorted(expected), "every row exactly once");
}

/// The input of the restore test's sink partition: `user` (string) and `n` (i64).
fn schema() -> Schema {
    Schema::new([("user", ValueType::Str), ("n", ValueType::I64)])
}

/// Writes rows `n` in `range` (user `u{n mod 5}`) to `sink` and stages them at `checkpoint`.
fn write_and_stage(sink: &mut KafkaSink, range: std::ops::Range<i64>, checkpoint: u64) {
    let records: Vec<Record> = range
        .map(|n| Record {
            event_time: 0,
            row: vec![Cell::from(format!("u{}", n % 5).as_str()), Cell::I64(n)],
        })
        .collect();
    sink.write_batch(&from_records(&schema(), &records).unwrap())
        .unwrap();
    sink.prepare_commit(CheckpointId(checkpoint)).unwrap();
}

/// How many times each `n` is in the topic `out`.
fn published(broker: &Broker) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for partition in 0..PARTITIONS {
        for record in broker.read_partition("out", partition) {
            let row: Value = serde_json::from_slice(&record.value.unwrap_or_default()).unwrap();
            *counts.entry(row["n"].as_i64().unwrap()).or_default() += 1;
        }
    }
    counts
}

/// Each of `numbers` once.
fn once(numbers: impl IntoIterator<Item = i64>) -> BTreeMap<i64, usize> {
    numbers.into_iter().map(|n| (n, 1)).collect()
}

/// A partition of sink `out` writing to topic `out` on `broker` (zstd), deployed as
/// `generation`, restored from (checkpoint, generation) `restored`, cancelled by `cancelled`.
fn sink_of(
    broker: &Broker,
    generation: u64,
    restored: Option<(u64, u64)>,
    cancelled: &Cancellation,
) -> KafkaSink {
    let ctx = SinkContext {
        job: "job-1".to_string(),
        run: 1,
        continues: None,
        partition: 0,
        parallelism: 1,
        lineage: 0xabc,
        generation: Generation(generation),
        exactly_once: true,
        restored: restored.map(|(c, g)| (CheckpointId(c), Generation(g))),
        cancelled: cancelled.clone(),
    };
    // Compressed, so restores read staged batches of a codec too.
    let zstd = KafkaCompression::Zstd;
    let brokers = [broker.addr.clone()];
    KafkaSink::new("out", &brokers, "out", Some("user"), zstd, &schema(), &ctx).unwrap()
}

#[test]
fn restored_sink_publishes_what_the_restored_checkpoint_staged_exactly_once() {
    let broker = Broker::start();
    broker.create_topic("out", PARTITIONS);
    let sink = |generation, restored| sink_of(&broker, generation, restored, &Default::default());

    // Generation 1: checkpoint 1 staged and committed; 2 staged, completed, never committed
    // (the node died); 3 staged, never completed.
    let mut first = sink(1, None);
    write_and_stage(&mut first, 0..100, 1);
    first.commit(CheckpointId(1)).unwrap();
    write_and_stage(&mut first, 100..200, 2);
    write_and_stage(&mut first, 200..300, 3);
    assert_eq!(published(&broker), once(0..100), "before the failure");

    // Restored from checkpoint 2: its rows are published, 3's are not.
    drop(sink(2, Some((2, 1))));
    assert_eq!(published(&broker), once(0..200), "after the first restore");
    // Restored from it again (the next attempt failed before any checkpoint): nothing twice.
    let mut third = sink(3, Some((2, 1)));
    assert_eq!(published(&broker), once(0..200), "after the second restore");

    // Generation 3 stages checkpoint 4; its commit is cut short after a part of the rows
    // reached the topic (produced here as the sink names them: `quiver-id`).
    write_and_stage(&mut third, 300..400, 4);
    let reached: Vec<(String, Value)> = (300..340)
        .map(|n| {
            let id = format!("abc/out/0/3/4/{}", n - 300);
            (id, json!({"user": format!("u{}", n % 5), "n": n}))
        })
        .collect();
    broker.produce_with_ids("out", 0, reached);
    drop(sink(4, Some((4, 3))));
    assert_eq!(
        published(&broker),
        once((0..200).chain(300..400)),
        "a publish cut short is completed, not repeated"
    );
}

#[test]
fn a_cancelled_deployment_stops_publishing_and_the_next_one_publishes_once() {
    let broker = Broker::start();
    broker.create_topic("out", PARTITIONS);
    let cancelled = Cancellation::default();
    let mut first = sink_of(&broker, 1, None, &cancelled);
    write_and_stage(&mut first, 0..100, 1);
    cancelled.cancel();
    let error = first.commit(CheckpointId(1)).unwrap_err().to_string();
    assert!(error.contains("cancelled"), "{error}");
    assert_eq!(published(&broker), once(0..0), "nothing after the cancel");
    drop(sink_of(&broker, 2, Some((1, 1)), &Default::default()));
    assert_eq!(published(&broker), once(0..100), "the restore published it");
}

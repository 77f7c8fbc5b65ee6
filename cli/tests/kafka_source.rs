//! The Kafka source against a real broker (tansu): every message read exactly once through a
//! node's SIGKILL, a bounded job finishing, record batches compressed with each codec,
//! columns filled from message metadata, `start = "latest"`, and a restore continuing from
//! the checkpointed offsets. Expectations are computed from what the test produced, with the
//! naive reference of `common` (no engine code).

mod common;

use common::cluster::{restarts, Cluster};
use common::kafka::{Broker, Message};
use common::{events, expected_running, expected_windows, per_user_stage, sorted, RUNNING_STAGE};
use quiver_chaos_tests::read_committed_rows;
use rskafka::client::partition::Compression;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Partitions of the test topic.
const PARTITIONS: i32 = 3;

/// The spend-per-user job reading `events` from the broker's topic `events`: the running
/// aggregate (and, with `windows`, the windowed one) into file sinks. `source_extra` goes
/// into the source, `job_extra` into `[job]`.
fn job(broker: &Broker, job_extra: &str, source_extra: &str, windows: bool) -> String {
    format!(
        r#"
[job]
name = "kafka-spend"
parallelism = 2
{job_extra}

[[source]]
name = "events"
kind = "kafka"
brokers = ["{addr}"]
topic = "events"
format = "jsonl"
schema = {{ user = "string", amount = "f64", ts = "i64" }}
event_time = "ts"
max_out_of_orderness = "2s"
{source_extra}
{windows}{RUNNING_STAGE}"#,
        addr = broker.addr,
        windows = if windows {
            per_user_stage("")
        } else {
            String::new()
        },
    )
}

/// A broker with an empty topic `events` of [`PARTITIONS`] partitions.
fn broker_with_events_topic() -> Broker {
    let broker = Broker::start();
    broker.create_topic("events", PARTITIONS);
    broker
}

/// A broker whose topic `events` holds `before`, and a coordinator with two nodes running
/// job-1: [`job`] with checkpoints every 300 ms and `source_extra`, after its first
/// checkpoint.
fn started(before: &[(String, f64, i64)], source_extra: &str) -> (Broker, Cluster) {
    let broker = broker_with_events_topic();
    produce(&broker, before);
    let cluster = Cluster::on_loopback(2);
    let spec = cluster.dir.path().join("job.toml");
    std::fs::write(&spec, job(&broker, CHECKPOINTS, source_extra, false)).unwrap();
    cluster.submit_spec(&spec);
    cluster.wait_for_checkpoint();
    (broker, cluster)
}

/// Checkpoints every 300 ms.
const CHECKPOINTS: &str = "checkpoint_interval = \"300ms\"";

/// Produces `events` to the topic `events` as JSON messages, each user's events to one
/// partition (so a user's events keep their order, as the running reference folds them).
fn produce(broker: &Broker, events: &[(String, f64, i64)]) {
    produce_as(broker, events, json_event);
}

/// An event as a JSON message's value.
fn json_event((user, amount, ts): &(String, f64, i64)) -> String {
    json!({"user": user, "amount": amount, "ts": ts}).to_string()
}

/// Runs the job spec `text` with `quiver local` in a new folder, which it returns.
fn run_local(text: String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("job.toml");
    std::fs::write(&spec, text).unwrap();
    common::run_local(&spec);
    dir
}

/// [`produce`] with each message's value `value(event)`.
fn produce_as(
    broker: &Broker,
    events: &[(String, f64, i64)],
    value: impl Fn(&(String, f64, i64)) -> String,
) {
    for (partition, messages) in by_partition(events, value) {
        broker.produce("events", partition, messages);
    }
}

/// `events` as messages keyed by user, each message's value `value(event)`, by the partition
/// their user's events go to.
fn by_partition(
    events: &[(String, f64, i64)],
    value: impl Fn(&(String, f64, i64)) -> String,
) -> BTreeMap<i32, Vec<Message>> {
    let mut by_partition: BTreeMap<i32, Vec<Message>> = BTreeMap::new();
    for event in events {
        let user = &event.0;
        let partition = user.bytes().map(i32::from).sum::<i32>() % PARTITIONS;
        by_partition
            .entry(partition)
            .or_default()
            .push((Some(user.clone().into_bytes()), value(event).into_bytes()));
    }
    by_partition
}

/// The published running rows in `dir/running_out`, sorted.
fn running_rows(dir: &Path) -> Vec<Value> {
    sorted(read_committed_rows(&dir.join("running_out")))
}

/// Asserts that `dir/running_out` holds exactly the running rows of the first `n` events.
fn assert_running(dir: &Path, n: usize) {
    assert_eq!(running_rows(dir), expected_running(n), "running rows");
}

/// Waits until `dir/running_out` holds at least `n` published rows.
fn wait_for_rows(cluster: &Cluster, n: usize) {
    let start = Instant::now();
    while running_rows(cluster.dir.path()).len() < n {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{} of {n} running rows published\n{}",
            running_rows(cluster.dir.path()).len(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn killed_node_reads_every_kafka_message_exactly_once() {
    const N: usize = 6000;
    let all = events(N);
    let (broker, cluster) = started(&all[..1000], "");
    // The rest arrives while the job runs; a node dies in the middle of it.
    for (i, chunk) in all[1000..].chunks(250).enumerate() {
        produce(&broker, chunk);
        if i == 8 {
            cluster.nodes[1].signal("KILL");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for_rows(&cluster, N);
    cluster.wait_for_two_more_checkpoints("job-1");
    let status = cluster.ok(&["job", "status", "job-1"]);
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    let rows = running_rows(cluster.dir.path());
    assert_eq!(rows.len(), N, "one running row per message");
    assert_eq!(rows, expected_running(N), "running rows");
}

#[test]
fn broker_down_mid_job_fails_transiently_and_the_job_reads_every_message_once() {
    const N: usize = 3000;
    let all = events(N);
    let (mut broker, cluster) = started(&all[..1000], "");
    wait_for_rows(&cluster, 1000);
    // Longer than a call may take (10 s): the job fails, recovers, and waits for the broker.
    broker.restart_after(Duration::from_secs(12));
    produce(&broker, &all[1000..]);
    wait_for_rows(&cluster, N);
    cluster.wait_for_two_more_checkpoints("job-1");
    let status = cluster.ok(&["job", "status", "job-1"]);
    assert!(restarts(&status) >= 1, "the job never noticed:\n{status}");
    assert_running(cluster.dir.path(), N);
}

#[test]
fn bounded_source_reads_up_to_the_end_offsets_and_the_job_finishes() {
    const N: usize = 3000;
    let broker = broker_with_events_topic();
    produce(&broker, &events(N));
    let dir = run_local(job(&broker, "", "bounded = true", true));
    assert_running(dir.path(), N);
    let windows = sorted(read_committed_rows(&dir.path().join("out")));
    assert_eq!(windows, expected_windows(N), "window rows");
}

#[test]
fn record_batches_of_each_codec_are_read() {
    const N: usize = 2000;
    let broker = broker_with_events_topic();
    let all = events(N);
    // Each partition gets batches of every codec, a user's events in order across them.
    // Snappy is left out: the test broker (tansu, sqlite storage) cannot serve a snappy batch
    // back (it closes the connection on the fetch), whoever produced it.
    let codecs = [
        Compression::NoCompression,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
    ];
    for (chunk, codec) in all.chunks(N / codecs.len()).zip(codecs.iter().cycle()) {
        for (partition, messages) in by_partition(chunk, json_event) {
            broker.produce_compressed("events", partition, messages, *codec);
        }
    }
    let dir = run_local(job(&broker, "", "bounded = true", false));
    assert_running(dir.path(), N);
}

#[test]
fn metadata_fills_columns_with_each_message_key_timestamp_partition_and_offset() {
    const N: usize = 500;
    let broker = broker_with_events_topic();
    let all = events(N);
    // The user is the message key only; the value holds the rest.
    let value = |(_, amount, ts): &(String, f64, i64)| json!({"amount": amount, "ts": ts});
    let messages = by_partition(&all, |e| value(e).to_string());
    let before = chrono::Utc::now().timestamp_millis();
    for (partition, messages) in messages.clone() {
        broker.produce("events", partition, messages);
    }
    let after = chrono::Utc::now().timestamp_millis();
    let text = format!(
        r#"
[job]
name = "kafka-metadata"
parallelism = 2

[[source]]
name = "events"
kind = "kafka"
brokers = ["{}"]
topic = "events"
format = "jsonl"
schema = {{ user = "string", amount = "f64", ts = "i64", at = "i64", p = "i64", o = "i64" }}
metadata = {{ user = "key", at = "timestamp", p = "partition", o = "offset" }}
event_time = "ts"
bounded = true

[[sink]]
name = "out"
kind = "file"
input = "events"
path = "out/"
"#,
        broker.addr
    );
    let dir = run_local(text);
    let mut rows = Vec::new();
    for mut row in read_committed_rows(&dir.path().join("out")) {
        let at = row["at"].as_i64().expect("a timestamp");
        assert!(
            (before..=after).contains(&at),
            "{at} not in {before}..={after}"
        );
        row.as_object_mut().unwrap().remove("at");
        rows.push(row);
    }
    // Each partition's messages in offset order from 0, as produced.
    let mut expected = Vec::new();
    for (partition, messages) in messages {
        for (offset, (key, value)) in messages.into_iter().enumerate() {
            let mut row: Value = serde_json::from_slice(&value).unwrap();
            let user = String::from_utf8(key.unwrap()).unwrap();
            row["user"] = json!(user);
            row["p"] = json!(partition);
            row["o"] = json!(offset);
            expected.push(row);
        }
    }
    assert_eq!(sorted(rows), sorted(expected));
}

#[test]
fn csv_messages_are_read_in_the_order_columns_names_and_a_malformed_one_is_skipped() {
    const N: usize = 1000;
    let broker = broker_with_events_topic();
    let all = events(N);
    produce_as(&broker, &all, |(user, amount, ts)| {
        format!("{ts},\"a note, quoted\",{user},{amount}")
    });
    broker.produce("events", 0, vec![(None, b"not,a,number".to_vec())]);
    let csv = "format = \"csv\"\ncolumns = [\"ts\", \"note\", \"user\", \"amount\"]";
    let text = job(&broker, "", "bounded = true\nbad_records = \"skip\"", false)
        .replace("format = \"jsonl\"", csv);
    let dir = run_local(text);
    assert_running(dir.path(), N);
}

#[test]
fn latest_start_reads_only_messages_produced_after_the_job_started() {
    let all = events(2000);
    // Before the job: never read. Each user's later events count from 0 again.
    let (before, after) = all.split_at(500);
    let (broker, cluster) = started(before, "start = \"latest\"");
    produce(&broker, after);
    wait_for_rows(&cluster, after.len());
    cluster.wait_for_two_more_checkpoints("job-1");
    assert_eq!(running_rows(cluster.dir.path()), running_of(after));
}

#[test]
fn restore_continues_from_the_checkpointed_offsets_not_from_the_start() {
    const N: usize = 2000;
    let all = events(N);
    let (first, second) = all.split_at(1200);
    let (broker, cluster) = started(first, "");
    wait_for_rows(&cluster, first.len());
    let savepoint = cluster.ok(&["job", "stop", "job-1"]);
    produce(&broker, second);
    // Restored, the offsets come from the savepoint: `start` does not apply, nothing of the
    // first part is read again and nothing of the second is skipped.
    let spec = cluster.dir.path().join("job.toml");
    std::fs::write(
        &spec,
        job(&broker, CHECKPOINTS, "start = \"latest\"", false),
    )
    .unwrap();
    let spec = spec.to_string_lossy();
    cluster.ok(&["job", "submit", "--from-savepoint", savepoint.trim(), &spec]);
    wait_for_rows(&cluster, N);
    cluster.wait_for_two_more_checkpoints("job-2");
    assert_running(cluster.dir.path(), N);
}

/// The running rows of `events` alone, folded in their order.
fn running_of(events: &[(String, f64, i64)]) -> Vec<Value> {
    let mut so_far: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
    let rows = events.iter().map(|(user, amount, _)| {
        let s = so_far.entry(user).or_insert((0, 0.0));
        s.0 += 1;
        s.1 += amount;
        json!({"user": user, "n": s.0, "spend": s.1})
    });
    sorted(rows.collect())
}

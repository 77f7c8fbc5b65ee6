//! The Kafka sink against a real broker (tansu): a checkpointed job writing a CSV folder's
//! events to a topic loses none and duplicates none through a node's SIGKILL. The topic is
//! read back with rskafka and compared with the input (no engine code).

mod common;

use common::cluster::{restarts, Cluster};
use common::kafka::Broker;
use common::{events, sorted};
use serde_json::{json, Value};

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
    for (name, part) in [("a.csv", &all[..N / 2]), ("b.csv", &all[N / 2..])] {
        let mut csv = String::from("user,amount,ts\n");
        for (user, amount, ts) in part {
            csv.push_str(&format!("{user},{amount},{ts}\n"));
        }
        std::fs::write(dir.join("events").join(name), csv).unwrap();
    }
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

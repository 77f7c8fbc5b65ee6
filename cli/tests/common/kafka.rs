//! A real Kafka-protocol broker for the Kafka tests: `tansu` (built and cached by
//! `scripts/services/tansu.sh ensure`), started on a free port with its data in a temporary
//! folder and killed when the [`Broker`] drops, even when the test fails. Topics are created,
//! messages produced and read back with rskafka, independently of the engine's code.

use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use std::net::TcpListener;
use std::process::Command;

/// The script that builds and starts the broker.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/services/tansu.sh");

/// A message to produce: its key and its value.
pub(crate) type Message = (Option<Vec<u8>>, Vec<u8>);

/// A running broker and a client of it.
pub(crate) struct Broker {
    pid: u32,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    runtime: tokio::runtime::Runtime,
    client: Client,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Builds the broker if needed (waiting for a build under way), starts it on a free port
    /// and connects to it.
    pub(crate) fn start() -> Broker {
        script(&["ensure"]);
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let pid = start_on(dir.path(), &addr);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let client = runtime
            .block_on(ClientBuilder::new(vec![addr.clone()]).build())
            .expect("connect to the broker");
        Broker {
            pid,
            addr,
            runtime,
            client,
            dir,
        }
    }

    /// Kills the broker (SIGKILL), leaves it down for `down`, then starts it again on its
    /// address and data (sqlite survives the kill).
    pub(crate) fn restart_after(&mut self, down: std::time::Duration) {
        kill(self.pid);
        std::thread::sleep(down);
        self.pid = start_on(self.dir.path(), &self.addr);
    }

    /// Creates `topic` with `partitions` partitions.
    pub(crate) fn create_topic(&self, topic: &str, partitions: i32) {
        let controller = self.client.controller_client().unwrap();
        self.runtime
            .block_on(controller.create_topic(topic, partitions, 1, 5_000))
            .expect("create the topic");
    }

    /// Appends messages (key, value) to partition `partition` of `topic`.
    pub(crate) fn produce(&self, topic: &str, partition: i32, messages: Vec<Message>) {
        self.produce_compressed(topic, partition, messages, Compression::NoCompression);
    }

    /// [`Broker::produce`] in one record batch compressed with `compression`.
    pub(crate) fn produce_compressed(
        &self,
        topic: &str,
        partition: i32,
        messages: Vec<Message>,
        compression: Compression,
    ) {
        let records = messages
            .into_iter()
            .map(|(key, value)| Record {
                key,
                value: Some(value),
                headers: Default::default(),
                timestamp: chrono::Utc::now(),
            })
            .collect();
        self.append(topic, partition, records, compression);
    }

    /// Appends `records` to partition `partition` of `topic`, compressed with `compression`.
    fn append(&self, topic: &str, partition: i32, records: Vec<Record>, compression: Compression) {
        let client = self.partition(topic, partition);
        self.runtime
            .block_on(client.produce(records, compression))
            .expect("produce");
    }

    /// A client of partition `partition` of `topic`.
    fn partition(&self, topic: &str, partition: i32) -> PartitionClient {
        self.runtime
            .block_on(
                self.client
                    .partition_client(topic, partition, UnknownTopicHandling::Retry),
            )
            .expect("a client of the partition")
    }

    /// Appends JSON messages to partition `partition` of `topic`, each with the header
    /// `quiver-id` the Kafka sink names its messages with.
    pub(crate) fn produce_with_ids(
        &self,
        topic: &str,
        partition: i32,
        messages: Vec<(String, serde_json::Value)>,
    ) {
        let records = messages
            .into_iter()
            .map(|(id, value)| Record {
                key: None,
                value: Some(value.to_string().into_bytes()),
                headers: [("quiver-id".to_string(), id.into_bytes())].into(),
                timestamp: chrono::Utc::now(),
            })
            .collect();
        self.append(topic, partition, records, Compression::NoCompression);
    }

    /// Every message of partition `partition` of `topic`, in offset order.
    pub(crate) fn read_partition(&self, topic: &str, partition: i32) -> Vec<Record> {
        let client = self.partition(topic, partition);
        self.runtime
            .block_on(async {
                let end = client.get_offset(OffsetAt::Latest).await?;
                let mut offset = client.get_offset(OffsetAt::Earliest).await?;
                let mut records = Vec::new();
                while offset < end {
                    let (batch, _) = client.fetch_records(offset, 1..(1 << 20), 50).await?;
                    for r in batch {
                        offset = offset.max(r.offset + 1);
                        records.push(r.record);
                    }
                }
                Ok::<_, rskafka::client::error::Error>(records)
            })
            .expect("read the partition")
    }
}

/// Runs `tansu.sh ARGS`, which must succeed; returns its standard output.
fn script(args: &[&str]) -> String {
    let out = Command::new(SCRIPT)
        .args(args)
        .output()
        .expect("run tansu.sh");
    assert!(
        out.status.success(),
        "tansu.sh {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts a broker on `addr` (`127.0.0.1:PORT`) with its data in `dir`; returns its PID.
fn start_on(dir: &std::path::Path, addr: &str) -> u32 {
    let port = addr.rsplit(':').next().unwrap_or_default();
    script(&["start", &dir.to_string_lossy(), port])
        .trim()
        .parse()
        .unwrap()
}

/// Sends SIGKILL to `pid`.
fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

impl Drop for Broker {
    fn drop(&mut self) {
        kill(self.pid);
    }
}

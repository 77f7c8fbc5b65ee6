//! What the Kafka source and sink share: a connection to the brokers (rskafka) and a way to
//! call the async client from the sources' and sinks' blocking calls.
//!
//! The client runs on a small runtime of its own ([`call`]), started on first use: a
//! source's read runs on the blocking pool and a sink's calls on its task (through
//! `crate::blocking`), and either waits here for the answer without entering an async
//! context, so the same code works on the node's runtime, a pool's runtime or a unit test's.
//! Every call has a deadline: an unreachable broker is a transient [`OperatorError::Io`]
//! naming the brokers (the job recovers and tries again after its restart delay), never a
//! wait without end.

use crate::operator::OperatorError;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long a connect, a metadata request or a produce may take before it is a failure.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's retries stop after this long, within [`CALL_TIMEOUT`].
const RETRY_DEADLINE: Duration = Duration::from_secs(5);

/// The runtime the Kafka clients run on (two threads, started on first use).
fn runtime() -> Result<&'static Runtime, OperatorError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("quiver-kafka")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| OperatorError::Io(format!("cannot start the Kafka client's runtime: {e}")))
}

/// Runs `work` on the Kafka runtime and waits for it (a blocking wait: call it from a
/// blocking thread or through `crate::blocking`), for at most `timeout`. `what` names the
/// call in errors ("fetch from topic \"events\" partition 2 at 17 on 127.0.0.1:9092").
pub(crate) fn call<T: Send + 'static>(
    what: impl FnOnce() -> String,
    timeout: Duration,
    work: impl Future<Output = Result<T, KafkaError>> + Send + 'static,
) -> Result<T, CallError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().map_err(CallError::Runtime)?.spawn(async move {
        let _ = tx.send(tokio::time::timeout(timeout, work).await);
    });
    match rx.recv() {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(CallError::Kafka(what(), e)),
        Ok(Err(_)) => Err(CallError::Timeout(what(), timeout)),
        Err(_) => Err(CallError::Runtime(OperatorError::Io(format!(
            "{}: the Kafka client's runtime stopped",
            what()
        )))),
    }
}

/// Why a [`call`] failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The broker answered with an error, or the connection failed: the call and the error.
    Kafka(String, KafkaError),
    /// No answer in time: the call and the deadline.
    Timeout(String, Duration),
    /// The runtime could not run it.
    Runtime(OperatorError),
}

impl CallError {
    /// The protocol error the broker answered with, if that is what happened.
    pub(crate) fn protocol(&self) -> Option<ProtocolError> {
        match self {
            CallError::Kafka(_, KafkaError::ServerError { protocol_error, .. }) => {
                Some(*protocol_error)
            }
            _ => None,
        }
    }
}

impl From<CallError> for OperatorError {
    /// A failed call is transient: a broker that is down or slow may be back after a restart.
    fn from(e: CallError) -> OperatorError {
        match e {
            CallError::Kafka(what, e) => OperatorError::Io(format!("kafka: {what}: {e}")),
            CallError::Timeout(what, t) => OperatorError::Io(format!(
                "kafka: {what}: no answer within {} s; is the broker running and reachable?",
                t.as_secs()
            )),
            CallError::Runtime(e) => e,
        }
    }
}

/// A connection to the brokers `brokers` (bootstrap addresses, `HOST:PORT`).
pub(crate) fn connect(brokers: &[String]) -> Result<Arc<Client>, OperatorError> {
    let builder = ClientBuilder::new(brokers.to_vec())
        .client_id("quiver")
        .backoff_config(BackoffConfig {
            deadline: Some(RETRY_DEADLINE),
            ..BackoffConfig::default()
        });
    let client = call(
        || format!("connect to {}", brokers.join(", ")),
        CALL_TIMEOUT,
        builder.build(),
    )?;
    Ok(Arc::new(client))
}

/// The partitions of `topic`, sorted; a topic the brokers do not have is a configuration
/// error naming it.
pub(crate) fn partitions(
    client: &Arc<Client>,
    brokers: &[String],
    topic: &str,
) -> Result<Vec<i32>, OperatorError> {
    let c = client.clone();
    let topics = call(
        || format!("list the topics on {}", brokers.join(", ")),
        CALL_TIMEOUT,
        async move { c.list_topics().await },
    )?;
    match topics.into_iter().find(|t| t.name == topic) {
        Some(t) if !t.partitions.is_empty() => Ok(t.partitions.into_iter().collect()),
        _ => Err(OperatorError::Config(format!(
            "kafka: the brokers {} have no topic \"{topic}\"; create it (e.g. `tansu topic \
             create --broker tcp://HOST:PORT --partitions 3 {topic}`) or fix the topic name",
            brokers.join(", ")
        ))),
    }
}

/// A client of partition `partition` of `topic`.
pub(crate) fn partition_client(
    client: &Arc<Client>,
    topic: &str,
    partition: i32,
) -> Result<Arc<PartitionClient>, OperatorError> {
    let (c, t) = (client.clone(), topic.to_string());
    let partition_client = call(
        || format!("open topic \"{topic}\" partition {partition}"),
        CALL_TIMEOUT,
        async move {
            c.partition_client(t, partition, UnknownTopicHandling::Error)
                .await
        },
    )?;
    Ok(Arc::new(partition_client))
}

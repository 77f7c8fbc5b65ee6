//! Helpers of the runtime tests: a probe actor standing in for a receiving task, a test
//! channel whose credits the test can watch, records of the generator's schema, and a
//! deployment of a spec on one node.

use super::chain::Chain;
use super::credit::{ChannelGauge, Credit, CHANNEL_CREDITS};
use super::gate::OutputGate;
use super::metrics::TaskCounters;
use super::sender::ChannelSender;
use super::task::TaskMsg;
use quiver_protocol::batch::Batch;
use quiver_protocol::messages::Deployment;
use quiver_protocol::plan::{Assignment, JobPlan, OperatorPlan, Partitioning};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{
    Generation, JobId, NodeId, PartitionId, Record, Schema, StreamElement, Value, ValueType,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};

/// The generation of every test deployment.
pub(super) const GENERATION: Generation = Generation(3);

/// What reached a probe.
#[derive(Debug)]
pub(super) enum Delivered {
    /// An element with its credit (held until the test drops it).
    Input {
        input: usize,
        element: StreamElement,
        credit: Credit,
    },
    /// An input channel broke.
    Failed { input: usize, error: String },
}

impl Delivered {
    /// The element, dropping its credit.
    pub(super) fn element(self) -> StreamElement {
        match self {
            Delivered::Input { element, .. } => element,
            Delivered::Failed { input, error } => panic!("input {input} failed: {error}"),
        }
    }
}

/// An actor taking a task's place: it hands every input to the test.
struct Probe;

impl Actor for Probe {
    type Msg = TaskMsg;
    type State = mpsc::UnboundedSender<Delivered>;
    type Arguments = mpsc::UnboundedSender<Delivered>;

    async fn pre_start(
        &self,
        _myself: ActorRef<TaskMsg>,
        to_test: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(to_test)
    }

    async fn handle(
        &self,
        _myself: ActorRef<TaskMsg>,
        message: TaskMsg,
        to_test: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let delivered = match message {
            TaskMsg::Input {
                input,
                element,
                credit,
            } => Delivered::Input {
                input,
                element,
                credit,
            },
            TaskMsg::InputFailed { input, error } => Delivered::Failed { input, error },
            _ => return Ok(()),
        };
        let _ = to_test.send(delivered);
        Ok(())
    }
}

/// A probe actor and what it receives.
pub(super) async fn probe() -> (ActorRef<TaskMsg>, Received) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (actor, _) = Actor::spawn(None, Probe, tx).await.expect("spawn a probe");
    (actor, Received(rx))
}

/// A gate (max parallelism 128) with `n` destinations, each a probe.
pub(super) async fn probe_gate(
    partitioning: Partitioning,
    n: usize,
) -> (OutputGate, Vec<Received>) {
    let mut senders = Vec::new();
    let mut received = Vec::new();
    for _ in 0..n {
        let (actor, rx) = probe().await;
        senders.push(ChannelSender::local(
            actor,
            0,
            Default::default(),
            Default::default(),
        ));
        received.push(rx);
    }
    (OutputGate::new(partitioning, 128, senders), received)
}

/// Checks the credit contract on a fresh channel into input `input` of a probe: the first
/// [`CHANNEL_CREDITS`] elements go, the next waits while the receiver holds all their
/// credits (and nothing arrives), and goes once one credit is dropped.
pub(super) async fn assert_never_sends_without_credit(
    sender: &mut ChannelSender,
    received: &mut Received,
    input: usize,
) {
    for wm in 0..i64::from(CHANNEL_CREDITS) {
        sender
            .send(StreamElement::Watermark(wm))
            .await
            .expect("send");
    }
    let mut held = Vec::new();
    for wm in 0..i64::from(CHANNEL_CREDITS) {
        match received.next().await {
            Delivered::Input {
                input: at,
                element,
                credit,
            } => {
                assert_eq!((at, element), (input, StreamElement::Watermark(wm)));
                held.push(credit);
            }
            other => panic!("{other:?}"),
        }
    }
    let mut next = Box::pin(sender.send(StreamElement::Watermark(99)));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut next)
            .await
            .is_err(),
        "sent one element more while the receiver held all {CHANNEL_CREDITS} credits"
    );
    assert!(received.is_quiet().await, "nothing arrived without credit");
    drop(held.remove(0));
    tokio::time::timeout(Duration::from_secs(10), next)
        .await
        .expect("a returned credit lets the sender go on")
        .expect("send");
    assert_eq!(
        received.next().await.element(),
        StreamElement::Watermark(99)
    );
}

/// What a probe (or a gate's destination) received, in order.
pub(super) struct Received(pub(super) mpsc::UnboundedReceiver<Delivered>);

impl Received {
    /// The next delivery, within 10 s.
    pub(super) async fn next(&mut self) -> Delivered {
        tokio::time::timeout(Duration::from_secs(10), self.0.recv())
            .await
            .expect("a delivery within 10 s")
            .expect("the probe runs")
    }

    /// The elements up to and including `End`, their credits dropped.
    pub(super) async fn until_end(&mut self) -> Vec<StreamElement> {
        let mut elements = Vec::new();
        loop {
            let element = self.next().await.element();
            let end = element == StreamElement::End;
            elements.push(element);
            if end {
                return elements;
            }
        }
    }

    /// Whether nothing more arrives within 200 ms.
    pub(super) async fn is_quiet(&mut self) -> bool {
        tokio::time::timeout(Duration::from_millis(200), self.0.recv())
            .await
            .is_err()
    }
}

/// The sending end of a test's channel into a task: its credits and gauge.
pub(super) struct TestChannel {
    credits: Arc<Semaphore>,
    pub(super) gauge: Arc<ChannelGauge>,
}

impl TestChannel {
    /// A channel granting [`CHANNEL_CREDITS`].
    pub(super) fn new() -> TestChannel {
        TestChannel {
            credits: Arc::new(Semaphore::new(CHANNEL_CREDITS as usize)),
            gauge: Arc::default(),
        }
    }

    /// One credit; panics if every credit is out (a test sending without credit).
    pub(super) fn credit(&self) -> Credit {
        let permit = self.credits.clone().try_acquire_owned();
        Credit::local(self.gauge.clone(), permit.expect("a free credit"))
    }

    /// Credits out now: held by elements not yet processed.
    pub(super) fn held(&self) -> usize {
        CHANNEL_CREDITS as usize - self.credits.available_permits()
    }
}

/// A record of the generator's schema (user, amount, ts) at event time `ts`.
pub(super) fn record(user: i64, amount: f64, ts: i64) -> Record {
    Record {
        event_time: ts,
        row: vec![Value::I64(user), Value::F64(amount), Value::I64(ts)],
    }
}

/// Records as a batch, the column types taken from the first record's values (test rows
/// are (user i64, amount f64, ts i64) or an operator's output).
pub(super) fn batch_of(records: Vec<Record>) -> Batch {
    let types = records.first().map_or_else(Vec::new, |r| {
        r.row
            .iter()
            .map(|v| v.value_type().unwrap_or(ValueType::I64))
            .collect()
    });
    let schema = Schema::new(types.iter().enumerate().map(|(i, &t)| (COLUMN_NAMES[i], t)));
    quiver_protocol::batch::from_records(&schema, &records).expect("records of one schema")
}

/// Names for the columns of [`batch_of`]'s schema (unused by the conversion but required).
const COLUMN_NAMES: [&str; 8] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];

/// The records of a stream of elements, in order.
pub(super) fn records_of(elements: &[StreamElement]) -> Vec<Record> {
    elements
        .iter()
        .filter_map(|e| match e {
            StreamElement::Records(batch) => Some(quiver_protocol::batch::to_records(batch)),
            _ => None,
        })
        .flatten()
        .collect()
}

/// A deployment of `spec` (TOML) whose partitions all run on one node.
pub(super) fn deployment(spec: &str) -> Deployment {
    let spec = JobSpec::parse(spec, Path::new("/")).unwrap_or_else(|e| panic!("{e}"));
    let plan = JobPlan::from_spec(&spec);
    let partition_nodes = plan
        .slots_by_pool()
        .into_iter()
        .map(|(pool, slots)| (pool, vec![0; slots as usize]))
        .collect();
    Deployment {
        job: JobId(1),
        generation: GENERATION,
        assignment: Assignment {
            nodes: vec![(NodeId(1), "127.0.0.1:1".parse().expect("address"))],
            partition_nodes,
        },
        plan,
        restore: None,
        lineage: 1,
        run: 1,
        continues: None,
        serving: Default::default(),
    }
}

/// Partition 0 of the task headed by the operator named `head` in `deployment`, and that
/// operator.
pub(super) fn chain_of<'d>(
    deployment: &'d Deployment,
    head: &str,
    counters: Arc<TaskCounters>,
) -> (Chain, &'d OperatorPlan) {
    let head = deployment
        .plan
        .operators
        .iter()
        .find(|o| o.name == head)
        .unwrap_or_else(|| panic!("no operator {head}"));
    let chain = Chain::build(
        deployment,
        head,
        PartitionId(0),
        counters,
        Arc::default(),
        Arc::default(),
        Default::default(),
    )
    .expect("chain");
    (chain, head)
}

//! A task actor with two inputs (a running count per user, fed by two upstream partitions)
//! and its output gate on a probe: barrier alignment as the task runs it — what was held is
//! replayed in order after the barrier, credits stay held meanwhile, inputs may end during
//! an alignment, and a newer barrier abandons an older one.

use super::*;
use crate::runtime::test_support::{
    batch_of, chain_of, deployment, probe_gate, record, Received, TestChannel, GENERATION,
};
use quiver_protocol::plan::Partitioning;
use quiver_protocol::{PartitionId, Value};
use std::time::Duration;

/// Two generator partitions into a running count per user; its consumer (keyed on `n`) is
/// another task, so the count's rows leave through a gate.
const SPEC: &str = r#"
[job]
name = "align"
parallelism = 1
max_parallelism = 8
checkpoint_interval = "1s"

[[source]]
name = "events"
kind = "generator"
parallelism = 2

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()" }

[[stage]]
name = "by_n"
kind = "aggregate"
input = "running"
key = ["n"]
aggregates = { c = "count()" }

[[sink]]
name = "out"
kind = "discard"
input = "by_n"
"#;

/// What the task's gate sent, simplified: the users of a batch of rows, a barrier, the end.
#[derive(Debug, PartialEq)]
enum Out {
    Users(Vec<i64>),
    Barrier(u64),
    Watermark(i64),
    Idle,
    End,
}

/// The running task, its two input channels and what it sends and reports.
struct Harness {
    task: ActorRef<TaskMsg>,
    inputs: [TestChannel; 2],
    out: Received,
    events: mpsc::UnboundedReceiver<TaskEvent>,
}

impl Harness {
    async fn start() -> Harness {
        let (harness, gate) = Harness::spawn().await;
        harness
            .task
            .send_message(TaskMsg::Start(vec![gate]))
            .expect("start");
        harness
    }

    /// The task, spawned but not started, and the gate to start it with.
    async fn spawn() -> (Harness, OutputGate) {
        Harness::spawn_under(None).await
    }

    /// [`Harness::spawn`], the task linked under `supervisor` if given.
    async fn spawn_under(supervisor: Option<ractor::ActorCell>) -> (Harness, OutputGate) {
        let deployment = deployment(SPEC);
        let counters = Arc::new(TaskCounters::new(2));
        let (chain, head) = chain_of(&deployment, "running", counters.clone());
        assert_eq!(chain.gate_specs().len(), 1, "one gate, to by_n");
        let (events_tx, events) = mpsc::unbounded_channel();
        let args = TaskArgs {
            task: TaskId {
                operator: head.id,
                partition: PartitionId(0),
            },
            chain,
            source: None,
            inputs: 2,
            counters,
            events: events_tx,
            job: deployment.job,
            generation: GENERATION,
            link: None,
            span: tracing::Span::none(),
            peers: None,
        };
        let (task, _) = match supervisor {
            Some(supervisor) => Actor::spawn_linked(None, TaskActor, args, supervisor).await,
            None => Actor::spawn(None, TaskActor, args).await,
        }
        .expect("spawn");
        let (gate, mut out) = probe_gate(Partitioning::Forward, 1).await;
        let harness = Harness {
            task,
            inputs: [TestChannel::new(), TestChannel::new()],
            out: out.remove(0),
            events,
        };
        (harness, gate)
    }

    fn send(&self, input: usize, element: StreamElement) {
        let credit = self.inputs[input].credit();
        self.task
            .send_message(TaskMsg::Input {
                input,
                element,
                credit,
            })
            .expect("the task runs");
    }

    /// One batch of records, one per user, on `input`.
    fn records(&self, input: usize, users: &[i64]) {
        let batch = batch_of(users.iter().map(|&u| record(u, 1.0, u)).collect());
        self.send(input, StreamElement::Records(batch));
    }

    fn barrier(&self, input: usize, checkpoint: u64) {
        self.barrier_of(input, checkpoint, GENERATION);
    }

    fn barrier_of(&self, input: usize, checkpoint: u64, generation: quiver_protocol::Generation) {
        self.send(
            input,
            StreamElement::Barrier(Barrier {
                checkpoint: CheckpointId(checkpoint),
                generation,
                serving: 0,
            }),
        );
    }

    async fn next(&mut self) -> Out {
        match self.out.next().await.element() {
            StreamElement::Records(batch) => Out::Users(
                quiver_protocol::batch::to_records(&batch)
                    .iter()
                    .map(|r| match r.row[0] {
                        Value::I64(u) => u,
                        ref other => panic!("user {other:?}"),
                    })
                    .collect(),
            ),
            StreamElement::Barrier(b) => Out::Barrier(b.checkpoint.0),
            StreamElement::Watermark(wm) => Out::Watermark(wm),
            StreamElement::End => Out::End,
            StreamElement::Idle => Out::Idle,
        }
    }

    /// Everything the task sends until its end.
    async fn until_end(&mut self) -> Vec<Out> {
        let mut all = Vec::new();
        loop {
            let out = self.next().await;
            let end = out == Out::End;
            all.push(out);
            if end {
                return all;
            }
        }
    }

    /// Ends both inputs; returns everything the task sends until its end.
    async fn end_inputs(&mut self) -> Vec<Out> {
        self.send(0, StreamElement::End);
        self.send(1, StreamElement::End);
        self.until_end().await
    }

    fn held(&self) -> [usize; 2] {
        [self.inputs[0].held(), self.inputs[1].held()]
    }
}

#[tokio::test]
async fn held_elements_are_replayed_in_order_after_the_barrier_and_hold_their_credits() {
    let mut h = Harness::start().await;
    h.barrier(0, 1);
    h.records(0, &[10]);
    h.records(0, &[11]);
    h.records(1, &[20]);
    assert_eq!(
        h.next().await,
        Out::Users(vec![20]),
        "input 1 is not blocked"
    );
    assert_eq!(
        h.held(),
        [2, 0],
        "input 0's records wait with their credits; its barrier's credit came back"
    );
    assert!(
        h.out.is_quiet().await,
        "nothing of input 0 before the barrier"
    );
    h.barrier(1, 1);
    assert_eq!(h.next().await, Out::Barrier(1));
    assert_eq!(h.next().await, Out::Users(vec![10]));
    assert_eq!(h.next().await, Out::Users(vec![11]));
    assert_eq!(h.held(), [0, 0], "replayed elements returned their credits");
    assert_eq!(h.end_inputs().await, vec![Out::End]);
}

#[tokio::test]
async fn an_input_ending_during_alignment_completes_it_and_the_task_ends_after_the_rest() {
    let mut h = Harness::start().await;
    h.barrier(0, 1);
    h.records(0, &[10]);
    h.send(0, StreamElement::End);
    h.records(1, &[20]);
    h.send(1, StreamElement::End);
    assert_eq!(
        h.until_end().await,
        vec![
            Out::Users(vec![20]),
            Out::Barrier(1),
            Out::Users(vec![10]),
            Out::End
        ]
    );
    let event = tokio::time::timeout(Duration::from_secs(10), h.events.recv())
        .await
        .expect("an event")
        .expect("the task reports");
    assert!(
        matches!(event.kind, TaskEventKind::Finished(ref m) if m.records_in == 2),
        "{event:?}"
    );
}

#[tokio::test]
async fn a_newer_barrier_while_aligning_an_older_one_keeps_each_input_in_order() {
    let mut h = Harness::start().await;
    h.barrier(0, 1);
    h.records(0, &[10]);
    // Input 1 never delivers barrier 1 (its trigger was lost): barrier 2 abandons it,
    // and what input 0 held goes first.
    h.barrier(1, 2);
    h.records(0, &[11]);
    h.barrier(0, 2);
    // Input 0 sent 10 and 11 before barrier 2: both belong to checkpoint 2, in their order.
    assert_eq!(
        h.end_inputs().await,
        vec![
            Out::Users(vec![10]),
            Out::Users(vec![11]),
            Out::Barrier(2),
            Out::End
        ]
    );
    assert_eq!(h.held(), [0, 0]);
}

#[tokio::test]
async fn a_barrier_older_than_the_one_being_aligned_neither_completes_nor_reorders() {
    let mut h = Harness::start().await;
    // Input 1 skipped barrier 1; input 0's barrier 1 arrives after input 1's barrier 2.
    h.barrier(1, 2);
    h.records(1, &[20]);
    h.barrier(0, 1);
    h.records(0, &[10]);
    h.barrier(0, 2);
    // 20 followed barrier 2 on input 1: after barrier 2, or a recovery from checkpoint 2
    // would count it twice.
    assert_eq!(
        h.end_inputs().await,
        vec![
            Out::Users(vec![10]),
            Out::Barrier(2),
            Out::Users(vec![20]),
            Out::End
        ]
    );
}

#[tokio::test]
async fn a_barrier_of_an_older_generation_is_dropped_without_blocking() {
    let mut h = Harness::start().await;
    h.barrier_of(0, 1, quiver_protocol::Generation(GENERATION.0 - 1));
    h.records(0, &[10]);
    assert_eq!(h.next().await, Out::Users(vec![10]));
    assert_eq!(h.end_inputs().await, vec![Out::End]);
}

#[tokio::test]
async fn the_watermark_is_the_minimum_over_inputs() {
    let mut h = Harness::start().await;
    h.send(0, StreamElement::Watermark(50));
    h.send(1, StreamElement::Watermark(30));
    assert_eq!(h.next().await, Out::Watermark(30));
    h.send(1, StreamElement::Watermark(70));
    assert_eq!(h.next().await, Out::Watermark(50));
    h.send(0, StreamElement::End);
    assert_eq!(
        h.next().await,
        Out::Watermark(70),
        "an ended input counts as +inf"
    );
    h.send(1, StreamElement::End);
    assert_eq!(h.until_end().await, vec![Out::End]);
}

#[tokio::test]
async fn elements_that_arrive_before_start_wait_for_it() {
    // An upstream node started first: records and both inputs' ends arrive before the start.
    let (mut h, gate) = Harness::spawn().await;
    h.records(0, &[10]);
    h.send(0, StreamElement::End);
    h.send(1, StreamElement::End);
    let early = tokio::time::timeout(Duration::from_millis(300), h.events.recv()).await;
    assert!(
        early.is_err(),
        "the task acted on its inputs before it started: {early:?}"
    );
    h.task
        .send_message(TaskMsg::Start(vec![gate]))
        .expect("the task is still there to start");
    assert_eq!(h.until_end().await, vec![Out::Users(vec![10]), Out::End]);
}

#[tokio::test]
async fn a_task_whose_inputs_are_all_idle_says_so_downstream() {
    let mut h = Harness::start().await;
    h.send(0, StreamElement::Watermark(5));
    h.send(0, StreamElement::Idle);
    assert!(h.out.is_quiet().await, "input 1 still holds time back");
    h.send(1, StreamElement::Idle);
    assert_eq!(h.next().await, Out::Idle, "every input is idle");
    h.send(1, StreamElement::Watermark(9));
    assert_eq!(
        h.next().await,
        Out::Watermark(9),
        "back from idle: time again"
    );
    assert_eq!(h.end_inputs().await, vec![Out::End]);
}

#[tokio::test(start_paused = true)]
async fn a_task_blocked_on_credit_is_cancelled_at_once() {
    let (events, _supervisor_events) = mpsc::unbounded_channel();
    let args = crate::runtime::supervisor::SupervisorArgs {
        job: quiver_protocol::JobId(1),
        generation: GENERATION,
        events,
    };
    let supervision = crate::runtime::supervisor::Supervision::start(args)
        .await
        .expect("spawn a supervisor");
    let (mut h, gate) = Harness::spawn_under(Some(supervision.actor.get_cell())).await;
    h.task
        .send_message(TaskMsg::Start(vec![gate]))
        .expect("start");
    // One output batch per input batch: one more than the probe has credits for, and the
    // probe returns none (it keeps every element it got, with its credit).
    let credits = crate::runtime::credit::CHANNEL_CREDITS as i64;
    for user in 0..=credits {
        h.records((user % 2) as usize, &[user]);
    }
    // A paused clock moves only when every task waits: after this sleep the task is blocked
    // on the credit of its last batch.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut delivered = Vec::new();
    while let Ok(d) = h.out.0.try_recv() {
        delivered.push(d);
    }
    assert_eq!(
        delivered.len() as i64,
        credits,
        "one batch waits for credit"
    );
    supervision.cancel();
    // A stop would wait for the handler, which waits for a credit that never comes (toward a
    // frozen node: until QUIC's 10 s idle timeout breaks the stream).
    let stopped = h.task.wait(Some(Duration::from_secs(10))).await;
    assert!(stopped.is_ok(), "the cancelled task still waits for credit");
    assert!(
        h.events.try_recv().is_err(),
        "a cancelled task reports nothing, it is not a failure"
    );
}

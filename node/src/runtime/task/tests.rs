//! A task actor on its own: what it does with messages that arrive before its start.

use super::*;
use crate::runtime::chain::Chain;
use crate::runtime::credit::Credit;
use quiver_protocol::messages::Deployment;
use quiver_protocol::plan::{Assignment, JobPlan};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{Generation, JobId, NodeId, PartitionId};
use tokio::sync::Semaphore;

/// A two-partition generator feeding a running count per user into a discard sink.
const SPEC: &str = r#"
[job]
name = "early"
parallelism = 2

[[source]]
name = "events"
kind = "generator"
count = 10

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()" }

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#;

/// Spawns partition 0 of the aggregate's task (the aggregate and its chained sink), with
/// two input channels; returns it and the receiver of its events.
async fn aggregate_task() -> (ActorRef<TaskMsg>, mpsc::UnboundedReceiver<TaskEvent>) {
    let spec = JobSpec::parse(SPEC, std::path::Path::new("/jobs")).expect("spec");
    let plan = JobPlan::from_spec(&spec);
    let deployment = Deployment {
        job: JobId(1),
        generation: Generation(1),
        assignment: Assignment {
            nodes: vec![(NodeId(1), "127.0.0.1:1".parse().expect("addr"))],
            partition_nodes: vec![0, 0],
        },
        plan,
        restore: None,
        lineage: 1,
        run: 1,
        continues: None,
    };
    let head = deployment
        .plan
        .operators
        .iter()
        .find(|o| o.name == "running")
        .expect("aggregate");
    let counters = Arc::new(TaskCounters::new(2));
    let chain = Chain::build(&deployment, head, PartitionId(0), counters.clone()).expect("chain");
    let (events, received) = mpsc::unbounded_channel();
    let args = TaskArgs {
        task: TaskId {
            operator: head.id,
            partition: PartitionId(0),
        },
        chain,
        source: None,
        inputs: 2,
        counters,
        events,
        job: JobId(1),
        generation: Generation(1),
        link: None,
    };
    let (actor, _) = Actor::spawn(None, TaskActor, args).await.expect("spawn");
    (actor, received)
}

/// Input `input`'s end, with a credit of its own.
fn end_of(input: usize) -> TaskMsg {
    let permit = Arc::new(Semaphore::new(1))
        .try_acquire_owned()
        .expect("permit");
    TaskMsg::Input {
        input,
        element: StreamElement::End,
        credit: Credit::local(Arc::default(), permit),
    }
}

#[tokio::test]
async fn inputs_that_arrive_before_start_wait_for_it() {
    let (task, mut events) = aggregate_task().await;
    // An upstream node started first: both inputs ended before this task's start.
    task.send_message(end_of(0)).expect("send");
    task.send_message(end_of(1)).expect("send");
    let early = tokio::time::timeout(Duration::from_millis(300), events.recv()).await;
    assert!(
        early.is_err(),
        "the task acted on its inputs before it started: {early:?}"
    );
    task.send_message(TaskMsg::Start(Vec::new()))
        .expect("the task is still there to start");
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event after start")
        .expect("the channel is open");
    assert!(
        matches!(event.kind, TaskEventKind::Finished(_)),
        "{:?}",
        event.kind
    );
}

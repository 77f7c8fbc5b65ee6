//! The runtime of one node: deploys the tasks a coordinator places here, connects their
//! channels, and reports what they do.
//!
//! Supervision tree: one [`supervisor`] actor per deployed job generation, with every task
//! actor of that deployment linked under it. A task that fails (an operator error, a broken
//! input, or a panic caught by ractor) is reported as a [`TaskEvent`]; cancelling a job kills
//! its supervisor and with it every task, even one blocked on credit.

mod alignment;
mod chain;
pub mod credit;
pub mod exchange;
mod gate;
mod latency;
pub mod metrics;
pub mod pools;
mod saved_state;
mod sender;
mod source_driver;
mod source_peers;
pub mod state_transfer;
mod supervisor;
use supervisor::Supervision;
mod task;
#[cfg(test)]
mod test_support;

use crate::operator::{self, OperatorError};
use crate::parameters::shard::read_parameters;
use crate::parameters::JobServing;
use chain::Chain;
use exchange::{Exchange, TaskEntry};
use gate::OutputGate;
use metrics::TaskCounters;
use quiver_protocol::codec::CodecError;
use quiver_protocol::messages::{
    AfterBarrier, ChannelId, ChannelOpen, Deployment, StateFetch, TaskId, TaskMetrics,
};
use quiver_protocol::models::{ServedVersion, ServingTable};
use quiver_protocol::plan::{OperatorKind, OperatorPlan, ParameterPlan, Partitioning};
use quiver_protocol::state_schema::StateSchema;
use quiver_protocol::transport::TransportError;
use quiver_protocol::{
    Barrier, CheckpointId, Failure, Generation, JobId, NodeId, OperatorId, PartitionId,
};
use ractor::{Actor, ActorRef};
use sender::ChannelSender;
use source_driver::SourceDriver;
use source_peers::SourcePeers;
use state_transfer::CoordinatorLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use task::{PeerLink, TaskActor, TaskArgs, TaskMsg};
use tokio::sync::mpsc;

/// Why the runtime could not deploy or run a task.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// An operator failed.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    /// A channel to another task broke.
    #[error("channel: {0}")]
    ChannelClosed(String),
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Another node could not be reached.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The plan cannot run here.
    #[error("plan: {0}")]
    Plan(String),
}

impl RuntimeError {
    /// The failure to report: operator errors keep their kind; a broken channel, a bad frame
    /// or an unreachable node is transient; a plan that cannot run here is permanent.
    pub fn failure(&self) -> Failure {
        let transient = match self {
            RuntimeError::Operator(e) => e.is_transient(),
            RuntimeError::ChannelClosed(_)
            | RuntimeError::Codec(_)
            | RuntimeError::Transport(_) => true,
            RuntimeError::Plan(_) => false,
        };
        if transient {
            Failure::transient(self.to_string())
        } else {
            Failure::permanent(self.to_string())
        }
    }
}

/// Something a task did that the coordinator must hear.
#[derive(Debug, Clone)]
pub struct TaskEvent {
    /// The job.
    pub job: JobId,
    /// Its generation.
    pub generation: Generation,
    /// The task.
    pub task: TaskId,
    /// What happened.
    pub kind: TaskEventKind,
}

/// What happened to a task.
#[derive(Debug, Clone)]
pub enum TaskEventKind {
    /// All inputs ended and everything was published; the final counters.
    Finished(Box<TaskMetrics>),
    /// A source ran dry; with checkpoints it waits for the final checkpoint.
    SourceExhausted,
    /// Its sinks published what they staged up to this checkpoint.
    Committed(CheckpointId),
    /// It failed.
    Failed(Failure),
}

#[derive(Clone)]
struct DeployedTask {
    id: TaskId,
    source: bool,
    /// The `max_drift` (ms) of a partition of a source aligned with partitions on other
    /// nodes: its alignment watermark is reported between heartbeats
    /// ([`Runtime::alignment_reports`]).
    reported_drift_ms: Option<i64>,
    actor: ActorRef<TaskMsg>,
    counters: Arc<TaskCounters>,
    gates: Vec<chain::GateSpec>,
}

struct DeployedJob {
    deployment: Arc<Deployment>,
    supervision: Supervision,
    tasks: Vec<DeployedTask>,
    /// What its learners serve.
    serving: Arc<JobServing>,
}

/// The tasks of one node.
pub struct Runtime {
    node: NodeId,
    /// This node's membership session (one runtime per session): the peers its channels
    /// dial are keyed by it ([`Exchange::begin_session`]).
    session: u64,
    exchange: Arc<Exchange>,
    link: CoordinatorLink,
    events: mpsc::UnboundedSender<TaskEvent>,
    jobs: Mutex<HashMap<JobId, DeployedJob>>,
    /// Where learners' feeds leave parameter versions for their workers.
    boards: Arc<crate::parameters::Boards>,
    /// The threads each pool's tasks run on.
    pools: Arc<pools::PoolThreads>,
}

impl Runtime {
    /// A runtime for node `node` in a new membership session of `exchange`, reporting task
    /// events to `events`, moving snapshots over `link` and running each pool's tasks on its
    /// threads in `pools`.
    pub fn new(
        node: NodeId,
        exchange: Arc<Exchange>,
        link: CoordinatorLink,
        events: mpsc::UnboundedSender<TaskEvent>,
        pools: Arc<pools::PoolThreads>,
    ) -> Runtime {
        Runtime {
            node,
            session: exchange.begin_session(),
            exchange,
            link,
            events,
            jobs: Mutex::default(),
            boards: Arc::default(),
            pools,
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, DeployedJob>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns the tasks of `deployment` placed on this node; they wait for [`Runtime::start`].
    pub async fn deploy(&self, deployment: Deployment) -> Result<(), RuntimeError> {
        let deployment = Arc::new(deployment);
        self.cancel(deployment.job);
        let serving = Arc::new(JobServing::default());
        self.load_serving(&deployment, &serving, deployment.serving.clone())
            .await?;
        let supervision = Supervision::start(supervisor::SupervisorArgs {
            job: deployment.job,
            generation: deployment.generation,
            events: self.events.clone(),
        })
        .await
        .map_err(|e| RuntimeError::Plan(format!("cannot start a job supervisor: {e}")))?;
        let mut tasks = Vec::new();
        let plan = &deployment.plan;
        let here = |head: &OperatorPlan, p: u32| {
            let placed = deployment
                .assignment
                .node_of(head.pool, PartitionId(p))
                .map(|(n, _)| n);
            placed == Some(self.node)
        };
        // Before any task can receive a channel, so every channel from an in-step source's
        // partition on another node finds its peers here.
        let in_step: HashMap<OperatorId, Arc<SourcePeers<ActorRef<TaskMsg>>>> = plan
            .task_heads()
            .filter_map(|head| match &head.kind {
                OperatorKind::Source(spec)
                    if head.parallelism > 1 && source_driver::reads_in_step(spec) =>
                {
                    let local = (0..head.parallelism)
                        .filter(|p| here(head, *p))
                        .map(|p| p as usize);
                    let peers = Arc::new(SourcePeers::new(head.parallelism as usize, local));
                    self.exchange.register_source(
                        (deployment.job, head.id),
                        deployment.generation,
                        peers.clone(),
                    );
                    Some((head.id, peers))
                }
                _ => None,
            })
            .collect();
        for head in plan.task_heads() {
            for p in (0..head.parallelism).filter(|p| here(head, *p)) {
                let partition = PartitionId(p);
                let peers = in_step.get(&head.id).map(|peers| PeerLink {
                    peers: peers.clone(),
                    me: p as usize,
                });
                let task = match self
                    .spawn_task(&deployment, head, partition, &supervision, peers, &serving)
                    .await
                {
                    Ok(task) => task,
                    Err(e) => {
                        supervision.cancel();
                        return Err(e);
                    }
                };
                tasks.push(task);
            }
        }
        self.jobs().insert(
            deployment.job,
            DeployedJob {
                deployment,
                supervision,
                tasks,
                serving,
            },
        );
        Ok(())
    }

    async fn spawn_task(
        &self,
        deployment: &Arc<Deployment>,
        head: &OperatorPlan,
        partition: PartitionId,
        supervision: &Supervision,
        peers: Option<PeerLink>,
        serving: &Arc<JobServing>,
    ) -> Result<DeployedTask, RuntimeError> {
        let plan = &deployment.plan;
        let id = TaskId {
            operator: head.id,
            partition,
        };
        let inputs = match &head.input {
            None => 0,
            Some(edge) if edge.partitioning == Partitioning::Forward => 1,
            Some(edge) => plan.operator(edge.from).map_or(1, |o| o.parallelism) as usize,
        };
        let counters = Arc::new(match head.kind {
            OperatorKind::Source(_) => TaskCounters::for_source(),
            _ => TaskCounters::new(inputs),
        });
        let mut chain = Chain::build(
            deployment,
            head,
            partition,
            counters.clone(),
            self.boards.clone(),
            serving.clone(),
            supervision.cancelled.clone(),
        )?;
        let restore = deployment.restore.map(|(checkpoint, _)| checkpoint);
        let alone = peers.as_ref().is_some_and(|link| link.peers.all_here());
        let reported_drift_ms = match &head.kind {
            OperatorKind::Source(spec) if !alone && head.parallelism > 1 => {
                spec.max_drift.map(|d| d.as_millis() as i64)
            }
            _ => None,
        };
        let source = match &head.kind {
            OperatorKind::Source(spec) => {
                let schema = StateSchema::of(head).ok_or_else(|| {
                    RuntimeError::Plan(format!("source {} has no state schema", spec.name))
                })?;
                let saved_as = saved_state::SavedAs::new(schema);
                let saved = match restore {
                    Some(checkpoint) => Some(
                        self.saved_positions(deployment.job, checkpoint, &spec.name, &saved_as)
                            .await?,
                    ),
                    None => None,
                };
                // Listing a folder, opening files, reading headers and seeking may block.
                let driver = crate::blocking::blocking(|| {
                    SourceDriver::open(spec, saved_as, partition.0, head.parallelism, saved)
                })?;
                // With every partition here, in step, the coordinator's relay has nothing to add.
                Some(if alone {
                    driver.all_partitions_here()
                } else {
                    driver
                })
            }
            _ => None,
        };
        if let Some(checkpoint) = restore {
            self.restore(deployment.job, checkpoint, &mut chain).await?;
        }
        let gates = chain.gate_specs().to_vec();
        let checkpointing = plan.spec.checkpoint_interval.is_some();
        let args = TaskArgs {
            link: checkpointing.then(|| self.link.clone()),
            task: id,
            chain,
            source,
            inputs,
            counters: counters.clone(),
            events: self.events.clone(),
            job: deployment.job,
            generation: deployment.generation,
            peers,
            // At ERROR so that it is enabled under any filter that lets a task's line through.
            span: tracing::error_span!(
                "task",
                job = %deployment.job,
                operator = %plan.chain_names(head),
                partition = partition.0,
            ),
        };
        // The actor runs where it is spawned: on its pool's threads.
        let cell = supervision.actor.get_cell();
        let spawned = self
            .pools
            .run(head.pool, Actor::spawn_linked(None, TaskActor, args, cell))
            .await;
        let (actor, _) = spawned
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| RuntimeError::Plan(format!("cannot start task {id:?}: {e}")))?;
        let _ = supervision
            .actor
            .send_message(supervisor::SupervisorMsg::Watch(actor.get_id(), id));
        self.exchange.register(
            (deployment.job, head.id, partition),
            TaskEntry {
                generation: deployment.generation,
                actor: actor.clone(),
                counters: counters.clone(),
                columns: quiver_protocol::batch::column_types(
                    &head.input_schema.clone().unwrap_or_default(),
                )
                .into(),
            },
        );
        Ok(DeployedTask {
            id,
            source: matches!(head.kind, OperatorKind::Source(_)),
            reported_drift_ms,
            actor,
            counters,
            gates,
        })
    }

    /// Loads the versions `table` serves into `serving` (those not loaded yet), then records
    /// the table: a learner can switch to it from then on.
    async fn load_serving(
        &self,
        deployment: &Deployment,
        serving: &JobServing,
        mut table: ServingTable,
    ) -> Result<(), RuntimeError> {
        // Imported versions come with the table (no checkpoint holds them).
        for imported in std::mem::take(&mut table.imported) {
            let (stage, version) = (&imported.stage, imported.version.0);
            if let Some(snapshot) = imported.snapshot {
                serving.insert_snapshot(stage, version, snapshot);
            }
            serving.insert_values(stage, version, imported.parameters);
        }
        for (stage, choice) in &table.stages {
            for version in choice.versions() {
                if serving.values(stage, version.0).is_some() {
                    continue;
                }
                // A predict stage serves its learner's versions.
                let name = ParameterPlan::shards_name(deployment.plan.spec.model_of(stage));
                let shards = deployment
                    .plan
                    .operators
                    .iter()
                    .find(|o| o.name == name)
                    .and_then(StateSchema::of)
                    .ok_or_else(|| {
                        RuntimeError::Plan(format!("stage {stage} has no parameter servers"))
                    })?;
                let fetch = StateFetch {
                    job: deployment.job,
                    checkpoint: version,
                    operator: name.clone(),
                    groups: 0..u32::MAX,
                };
                let states = self.link.fetch(fetch).await?;
                let (pieces, _) = saved_state::SavedAs::new(shards).unwrap(&name, states)?;
                let values = read_parameters(&name, pieces)?.into_vector(&name)?;
                serving.insert_values(stage, version.0, values);
            }
        }
        serving.insert_table(table);
        Ok(())
    }

    /// Loads the versions of a job's next serving table (`ToNode::PrepareServing`).
    pub async fn prepare_serving(
        &self,
        job: JobId,
        generation: Generation,
        table: ServingTable,
    ) -> Result<(), RuntimeError> {
        let found = self
            .jobs()
            .get(&job)
            .filter(|d| d.deployment.generation == generation)
            .map(|d| (d.deployment.clone(), d.serving.clone()));
        let Some((deployment, serving)) = found else {
            return Err(RuntimeError::Plan(format!(
                "{job} {generation} does not run here"
            )));
        };
        self.load_serving(&deployment, &serving, table).await
    }

    /// What the learner partitions of every task scored per version.
    pub fn served(&self) -> Vec<(JobId, Generation, TaskId, Vec<ServedVersion>)> {
        self.jobs()
            .values()
            .flat_map(|d| {
                d.tasks.iter().filter_map(|t| {
                    let served = t.counters.served();
                    (!served.is_empty())
                        .then(|| (d.deployment.job, d.deployment.generation, t.id, served))
                })
            })
            .collect()
    }

    /// Restores a task's stages from a complete checkpoint.
    async fn restore(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        chain: &mut Chain,
    ) -> Result<(), RuntimeError> {
        for (index, operator, groups) in chain.stateful() {
            let fetch = StateFetch {
                job,
                checkpoint,
                operator,
                groups,
            };
            let states = self.link.fetch(fetch).await?;
            chain.restore(index, states, checkpoint)?;
        }
        Ok(())
    }

    /// Every split position a complete checkpoint holds for source `name` (all of them: the
    /// splits a partition reads now may have been read by any partition before), after
    /// checking that they fit the source.
    async fn saved_positions(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        name: &str,
        saved_as: &saved_state::SavedAs,
    ) -> Result<Vec<operator::KeyGroupState>, RuntimeError> {
        let fetch = StateFetch {
            job,
            checkpoint,
            operator: name.to_string(),
            groups: 0..u32::MAX,
        };
        let states = self.link.fetch(fetch).await?;
        Ok(saved_as.unwrap(name, states)?.0)
    }

    /// Tells the job's source tasks to inject a barrier, then go on as `then` says.
    pub fn trigger(&self, job: JobId, barrier: Barrier, then: AfterBarrier) {
        self.each_task(job, barrier.generation, |task| {
            if task.source {
                let _ = task.actor.send_message(TaskMsg::Trigger(barrier, then));
            }
        });
    }

    /// Tells each of the job's tasks of `source` the slowest watermark of the source's
    /// partitions on other nodes, from what every partition reported (`watermarks`; those here
    /// read in step, see [`source_peers::slowest_elsewhere`]).
    pub fn align(
        &self,
        job: JobId,
        generation: Generation,
        source: OperatorId,
        watermarks: &[(PartitionId, i64)],
    ) {
        let mut here = Vec::new();
        self.each_task(job, generation, |task| {
            if task.id.operator == source {
                here.push((task.id.partition, task.actor.clone()));
            }
        });
        let slowest = source_peers::slowest_elsewhere(watermarks, |p| {
            here.iter().any(|(partition, _)| *partition == p)
        });
        for (_, actor) in here {
            let _ = actor.send_message(TaskMsg::SlowestElsewhere(slowest));
        }
    }

    /// Tells every task of the job that a checkpoint completed.
    pub fn commit(&self, job: JobId, generation: Generation, checkpoint: CheckpointId) {
        self.each_task(job, generation, |task| {
            let _ = task.actor.send_message(TaskMsg::Commit(checkpoint));
        });
    }

    fn each_task(&self, job: JobId, generation: Generation, mut f: impl FnMut(&DeployedTask)) {
        let jobs = self.jobs();
        if let Some(deployed) = jobs.get(&job) {
            if deployed.deployment.generation == generation {
                deployed.tasks.iter().for_each(&mut f);
            }
        }
    }

    /// Connects every task's output channels and starts the job's sources.
    pub async fn start(&self, job: JobId, generation: Generation) -> Result<(), RuntimeError> {
        let (deployment, tasks) = {
            let jobs = self.jobs();
            let Some(deployed) = jobs.get(&job) else {
                return Err(RuntimeError::Plan(format!("{job} is not deployed here")));
            };
            if deployed.deployment.generation != generation {
                return Err(RuntimeError::Plan(format!(
                    "{job} runs {} here, not {generation}",
                    deployed.deployment.generation
                )));
            }
            (deployed.deployment.clone(), deployed.tasks.clone())
        };
        for task in tasks {
            let mut gates = Vec::new();
            for spec in &task.gates {
                gates.push(
                    self.connect_gate(&deployment, task.id, spec, &task.counters)
                        .await?,
                );
            }
            let id = task.id;
            task.actor
                .send_message(TaskMsg::Start(gates))
                .map_err(|_| RuntimeError::ChannelClosed(format!("task {id:?} has stopped")))?;
        }
        Ok(())
    }

    async fn connect_gate(
        &self,
        deployment: &Deployment,
        from: TaskId,
        spec: &chain::GateSpec,
        counters: &Arc<TaskCounters>,
    ) -> Result<OutputGate, RuntimeError> {
        let plan = &deployment.plan;
        let consumer = plan
            .operator(spec.consumer)
            .ok_or_else(|| RuntimeError::Plan(format!("no operator {}", spec.consumer)))?;
        let edge = consumer
            .input
            .clone()
            .ok_or_else(|| RuntimeError::Plan(format!("{} has no input", consumer.name)))?;
        let targets: Vec<u32> = if edge.partitioning == Partitioning::Forward {
            vec![from.partition.0]
        } else {
            (0..consumer.parallelism).collect()
        };
        let mut senders = Vec::new();
        for p in targets {
            let partition = PartitionId(p);
            let placed = deployment.assignment.node_of(consumer.pool, partition);
            let (node, addr) = placed.ok_or_else(|| {
                RuntimeError::Plan(format!(
                    "partition {partition} of {} is not placed",
                    consumer.name
                ))
            })?;
            let channel = ChannelId {
                from: spec.from,
                from_partition: from.partition,
                to: consumer.id,
                to_partition: partition,
            };
            if node == self.node {
                let entry = self
                    .exchange
                    .task(&(deployment.job, consumer.id, partition))
                    .ok_or_else(|| RuntimeError::Plan(format!("no local task for {channel:?}")))?;
                let input = entry.input_of(from.partition);
                let gauge = entry.counters.inputs[input].clone();
                senders.push(ChannelSender::local(
                    entry.actor,
                    input,
                    gauge,
                    counters.clone(),
                ));
            } else {
                let open = ChannelOpen {
                    job: deployment.job,
                    generation: deployment.generation,
                    channel,
                };
                let remote = self
                    .exchange
                    .open(
                        exchange::Peer {
                            session: self.session,
                            node,
                            addr,
                        },
                        open,
                        counters.clone(),
                    )
                    .await?;
                senders.push(ChannelSender::Remote(remote));
            }
        }
        Ok(OutputGate::new(
            edge.partitioning,
            plan.spec.max_parallelism,
            senders,
        ))
    }

    /// Stops every task of a job.
    pub fn cancel(&self, job: JobId) {
        self.cancel_up_to(job, Generation(u64::MAX));
    }

    /// Stops the job's tasks if they run `generation` or an older one (a late cancel of an
    /// old generation leaves a newer deployment alone).
    pub fn cancel_up_to(&self, job: JobId, generation: Generation) {
        let deployed = {
            let mut jobs = self.jobs();
            match jobs.get(&job) {
                Some(d) if d.deployment.generation <= generation => jobs.remove(&job),
                _ => None,
            }
        };
        if let Some(deployed) = deployed {
            deployed.supervision.cancel();
            self.exchange.unregister_job(job);
        }
    }

    /// Every task's counters with the names of the operators it runs (`a → b`), for
    /// `/metrics`.
    pub fn named_metrics(&self) -> Vec<(JobId, TaskId, String, TaskMetrics)> {
        self.jobs()
            .values()
            .flat_map(|d| {
                let plan = &d.deployment.plan;
                d.tasks.iter().map(move |t| {
                    let operators = plan
                        .operator(t.id.operator)
                        .map(|head| plan.chain_names(head))
                        .unwrap_or_default();
                    (d.deployment.job, t.id, operators, t.counters.snapshot())
                })
            })
            .collect()
    }

    /// The alignment watermark of every partition here of a source aligned with partitions on
    /// other nodes, with the source's `max_drift` (ms): the coordinator relays the watermarks
    /// to those partitions, and sent between heartbeats they let them move on sooner than a
    /// heartbeat would.
    pub fn alignment_reports(&self) -> Vec<(quiver_protocol::messages::SourceWatermark, i64)> {
        self.jobs()
            .values()
            .flat_map(|d| {
                let (job, generation) = (d.deployment.job, d.deployment.generation);
                d.tasks.iter().filter_map(move |t| {
                    let drift = t.reported_drift_ms?;
                    let watermark = t.counters.source_watermark()?;
                    Some(((job, generation, t.id, watermark), drift))
                })
            })
            .collect()
    }

    /// Counters of every deployed task.
    pub fn metrics(&self) -> Vec<(JobId, Generation, TaskId, TaskMetrics)> {
        self.jobs()
            .values()
            .flat_map(|d| {
                d.tasks.iter().map(|t| {
                    (
                        d.deployment.job,
                        d.deployment.generation,
                        t.id,
                        t.counters.snapshot(),
                    )
                })
            })
            .collect()
    }
}

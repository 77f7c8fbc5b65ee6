//! The coordinator's live view of nodes and jobs, and the decisions it takes on events.
//!
//! Everything here is synchronous: handlers lock the state, decide, record, and queue commands
//! to nodes on their control channels. Network I/O lives in `server`.

mod alignment;
mod checkpointing;
mod export;
mod exposition;
#[cfg(test)]
mod fault_tests;
mod imports;
mod membership;
mod models;
mod offload;
mod phase;
mod predict;
mod recovery_clock;
mod reports;
mod serving;
mod stopping;
#[cfg(test)]
mod test_support;

use crate::checkpoint_store::CheckpointStore;
use crate::checkpoints::Schedule;
use crate::lifecycle::{transition, JobEvent};
use crate::registry::Registry;
use crate::scheduler::{free_slots, schedule, FreeNode};
use crate::store::{JobRecord, JobStore, Store};
use membership::Lost;
pub use membership::LOST_NODE_RETENTION;
use phase::{NotPlaced, Phase, Placed};
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::messages::{
    Deployment, JobState, RecoveryTimes, SavepointRef, TaskId, TaskMetrics, ToNode,
};
use quiver_protocol::models::ServedVersion;
use quiver_protocol::outbox::Outbox;
use quiver_protocol::plan::{Assignment, JobPlan};
use quiver_protocol::spec::{JobSpec, SinkKind};
use quiver_protocol::{
    CheckpointId, Failure, Generation, JobId, NodeId, NodeSlots, PartitionId, Pool,
};
use recovery_clock::RecoveryClock;
pub(crate) use serving::SavedServing;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use stopping::StopState;

/// By default, a node that misses heartbeats this long is dead (nodes beat every 500 ms).
pub use quiver_protocol::messages::HEARTBEAT_TIMEOUT;
/// A job that cannot be placed this long fails.
pub const SCHEDULING_TIMEOUT: Duration = Duration::from_secs(30);

/// An id no other submission has (a lineage, a run): the submission time (µs) mixed with the
/// job id.
fn new_run_id(job: JobId) -> u64 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    micros ^ job.0.rotate_left(48)
}

/// A node as the coordinator knows it.
pub(crate) struct NodeEntry {
    listen: SocketAddr,
    slots: NodeSlots,
    last_heartbeat: Instant,
    /// When it was declared lost (`None`: alive); it is forgotten [`LOST_NODE_RETENTION`]
    /// later.
    lost: Option<Lost>,
    /// Its control stream; dropped when it is declared dead, which closes the stream so a
    /// node that was only paused learns it was fenced off.
    commands: Option<Outbox<ToNode>>,
}

struct TaskStatus {
    node: NodeId,
    operators: String,
    finished: bool,
    /// The newest checkpoint whose output the task published.
    committed: Option<CheckpointId>,
    metrics: TaskMetrics,
    /// What its learner partitions scored per version, as of its last heartbeat.
    served: Vec<ServedVersion>,
}

/// A job as the coordinator knows it: what it is, where it is in its lifecycle (`phase`), and
/// what lasts across its states.
struct JobEntry {
    record: JobRecord,
    plan: JobPlan,
    /// Its state and what belongs to that state alone; `record.state` is its stored name.
    phase: Phase,
    schedule: Schedule,
    /// Recoveries so far.
    restarts: u32,
    /// Recoveries since the last completed checkpoint (the restart budget and the back-off
    /// count these).
    restarts_in_a_row: u32,
    /// Checkpoints dropped because they took too long.
    expired_checkpoints: u32,
    /// The checkpoint the next deployment restores from, and the generation that took it.
    restore: Option<(CheckpointId, Generation)>,
    /// The checkpoint whose manifest is being written off the lock (`offload`); it can
    /// outlast the run that took it.
    completing: Option<offload::Completing>,
    /// Where a `quiver job stop` stands.
    stop: StopState,
    /// Users waiting for the savepoint in flight.
    savepoint_waiters: Vec<tokio::sync::oneshot::Sender<Result<SavepointRef, String>>>,
    /// The tasks of its latest deployment (kept after it ends, for reports).
    tasks: BTreeMap<TaskId, TaskStatus>,
    /// When it first ran.
    started: Option<Instant>,
    /// The recovery under way, until the recovered run first publishes.
    recovery: Option<RecoveryClock>,
    /// The latest recoveries that got it publishing again, oldest first.
    recoveries: VecDeque<RecoveryTimes>,
    /// How long writing the last checkpoint's manifest took (flushes, blob read-back).
    last_manifest_store: Duration,
    /// What its learners serve, and the swaps under way.
    serving: serving::ServingState,
}

impl JobEntry {
    /// Enters `phase`; the stored state's name follows it.
    fn enter(&mut self, phase: Phase) {
        self.record.state = phase.state();
        self.phase = phase;
    }

    /// Moves into `state` (see [`Phase::move_to`]); the stored state's name follows it.
    fn move_to(&mut self, state: JobState, now: Instant) -> Result<Option<Assignment>, NotPlaced> {
        let left = self.phase.move_to(state, now)?;
        self.record.state = state;
        Ok(left)
    }
}

/// Nodes and jobs.
pub(crate) struct Cluster {
    /// The nodes' heartbeat interval and timeout, told to each in its welcome.
    heartbeats: Heartbeats,
    /// Job records and serving tables.
    store: Box<dyn JobStore>,
    checkpoints: CheckpointStore,
    /// Model versions of completed checkpoints, and their aliases.
    registry: Registry,
    nodes: BTreeMap<NodeId, NodeEntry>,
    jobs: BTreeMap<JobId, JobEntry>,
    next_node: u64,
    /// Store work queued to run off the lock.
    offloads: offload::Queue,
    /// Where nodes and admins reach the coordinator, for reports.
    pub(crate) advertised: String,
}

impl Cluster {
    /// The cluster state over `store`. Jobs that were live when the coordinator stopped
    /// recover from their last checkpoint (or fail, without checkpoints).
    pub(crate) fn new(
        store: Store,
        heartbeats: Heartbeats,
    ) -> Result<Cluster, crate::store::StoreError> {
        let db = store.db().clone();
        Cluster::over(Box::new(store), &db, heartbeats)
    }

    /// The cluster state with its job records in `store` and its checkpoints and model
    /// registry in `db` (tests put faults between `store` and the disk).
    pub(crate) fn over(
        store: Box<dyn JobStore>,
        db: &sled::Db,
        heartbeats: Heartbeats,
    ) -> Result<Cluster, crate::store::StoreError> {
        let checkpoints = CheckpointStore::open(db)
            .map_err(|e| crate::store::StoreError::Checkpoints(e.to_string()))?;
        let registry = Registry::open(db, checkpoints.clone())
            .map_err(|e| crate::store::StoreError::Checkpoints(e.to_string()))?;
        let mut cluster = Cluster {
            heartbeats,
            store,
            checkpoints,
            registry,
            nodes: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_node: 1,
            offloads: offload::Queue::default(),
            advertised: String::new(),
        };
        for record in cluster.store.jobs()? {
            let Ok(spec) = JobSpec::parse(&record.spec_toml, &record.base_dir) else {
                continue;
            };
            let job = record.job;
            let live = !record.state.is_terminal();
            cluster.insert_job(record, &spec);
            if live {
                cluster.resume_after_restart(job);
            }
        }
        Ok(cluster)
    }

    fn insert_job(&mut self, record: JobRecord, spec: &JobSpec) {
        let record_job = record.job;
        let now = Instant::now();
        let schedule = Schedule::new(spec.checkpoint_interval, record.next_checkpoint, now);
        self.jobs.insert(
            record.job,
            JobEntry {
                plan: JobPlan::from_spec(spec),
                phase: Phase::stored(record.state, now),
                schedule,
                restarts: 0,
                restarts_in_a_row: 0,
                expired_checkpoints: 0,
                restore: None,
                completing: None,
                savepoint_waiters: Vec::new(),
                stop: StopState::NotAsked,
                record,
                tasks: BTreeMap::new(),
                started: None,
                recovery: None,
                recoveries: VecDeque::new(),
                last_manifest_store: Duration::ZERO,
                serving: match self.store.serving(record_job) {
                    Ok(saved) => serving::ServingState::from_saved(saved.unwrap_or_default()),
                    Err(e) => {
                        tracing::error!("cannot read what {record_job} served: {e}");
                        serving::ServingState::default()
                    }
                },
            },
        );
    }

    /// A node joined; returns its id. A live node at the same exchange address is lost: two
    /// processes cannot listen there, so it is one that was restarted (a supervisor restarts
    /// a killed node in well under the heartbeat timeout), and its jobs recover now.
    pub(crate) fn join(
        &mut self,
        listen: SocketAddr,
        slots: NodeSlots,
        commands: Outbox<ToNode>,
    ) -> NodeId {
        let replaced: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.lost.is_none() && n.listen == listen)
            .map(|(id, _)| *id)
            .collect();
        for old in replaced {
            self.node_lost(old, &format!("a new node joined at its address {listen}"));
        }
        let node = NodeId(self.next_node);
        self.next_node += 1;
        tracing::info!("{node} joined: exchange {listen}, slots {slots}");
        commands.send(ToNode::Welcome {
            node,
            heartbeats: self.heartbeats,
        });
        self.nodes.insert(
            node,
            NodeEntry {
                listen,
                slots,
                last_heartbeat: Instant::now(),
                lost: None,
                commands: Some(commands),
            },
        );
        self.schedule_waiting();
        node
    }

    /// A heartbeat with task counters, read off the node's stream `at` (before the cluster
    /// lock was waited for: a coordinator busy elsewhere makes its nodes look no more silent
    /// than they are).
    pub(crate) fn heartbeat(
        &mut self,
        node: NodeId,
        at: Instant,
        tasks: Vec<(JobId, Generation, TaskId, TaskMetrics)>,
        served: Vec<(JobId, Generation, TaskId, Vec<ServedVersion>)>,
    ) {
        if let Some(n) = self.nodes.get_mut(&node) {
            if n.lost.is_none() {
                n.last_heartbeat = at;
            }
        }
        for (job, generation, task, metrics) in tasks {
            if let Some(status) = self.task_mut(job, generation, task) {
                if !status.finished {
                    status.metrics = metrics;
                }
            }
        }
        for (job, generation, task, versions) in served {
            if let Some(status) = self.task_mut(job, generation, task) {
                status.served = versions;
            }
        }
        self.align_sources();
    }

    fn task_mut(
        &mut self,
        job: JobId,
        generation: Generation,
        task: TaskId,
    ) -> Option<&mut TaskStatus> {
        let entry = self.jobs.get_mut(&job)?;
        if entry.record.generation != generation {
            return None;
        }
        entry.tasks.get_mut(&task)
    }

    /// A node's control stream ended or it missed heartbeats: it is dead, and so are the jobs
    /// it ran.
    pub(crate) fn node_lost(&mut self, node: NodeId, why: &str) {
        let Some(n) = self.nodes.get_mut(&node) else {
            return;
        };
        if n.lost.is_some() {
            return;
        }
        n.lost = Some(Lost::now());
        n.commands = None;
        let last_sign_of_life = n.last_heartbeat;
        tracing::warn!("{node} lost: {why}");
        let affected: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| {
                j.phase
                    .assignment()
                    .is_some_and(|a| a.nodes.iter().any(|(id, _)| *id == node))
            })
            .map(|(id, _)| *id)
            .collect();
        for job in affected {
            self.recover_after(job, format!("{node} was lost ({why})"), last_sign_of_life);
        }
    }

    /// Marks nodes without a recent heartbeat as dead, forgets nodes lost long ago, and fails
    /// jobs that waited too long for slots.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        self.forget_lost_nodes(now);
        self.lose_silent_nodes(now);
        self.schedule_waiting();
        let running: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.record.state == JobState::Running)
            .map(|(id, _)| *id)
            .collect();
        for job in running {
            self.checkpoint_tick(job);
        }
    }

    /// Admits a job: parses and validates the spec, stores it, and tries to place it.
    pub(crate) fn submit(
        &mut self,
        spec_toml: String,
        base_dir: PathBuf,
        from_savepoint: Option<SavepointRef>,
    ) -> Result<JobId, String> {
        let spec = JobSpec::parse(&spec_toml, &base_dir).map_err(|e| e.to_string())?;
        self.check_folders_free(&spec)?;
        let restore = match from_savepoint {
            Some(savepoint) => Some(self.savepoint_restore(savepoint, &spec)?),
            None => None,
        };
        let job = self.store.next_job_id().map_err(|e| e.to_string())?;
        let record = JobRecord {
            job,
            name: spec.name.clone(),
            spec_toml,
            base_dir,
            state: JobState::Created,
            generation: restore.map_or(Generation(1), |(_, _, generation)| generation.next()),
            error: None,
            next_checkpoint: restore.map_or(1, |(_, checkpoint, _)| checkpoint.0 + 1),
            restore_job: restore.map(|(source_job, _, _)| source_job),
            lineage: match restore {
                Some((source_job, _, _)) => self.lineage_of(source_job),
                None => new_run_id(job),
            },
            run: new_run_id(job),
        };
        self.store.save_job(&record).map_err(|e| e.to_string())?;
        self.insert_job(record, &spec);
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.restore = restore.map(|(_, checkpoint, generation)| (checkpoint, generation));
        }
        self.apply(job, JobEvent::Schedule);
        tracing::info!("{job} submitted");
        self.schedule_waiting();
        Ok(job)
    }

    /// Moves `job` by `event` when its lifecycle allows it, storing the new state. Returns
    /// the assignment the job left (its nodes are to be told to cancel), or `None` when the
    /// move was refused.
    fn apply(&mut self, job: JobId, event: JobEvent) -> Option<Left> {
        let entry = self.jobs.get_mut(&job)?;
        let state = match transition(entry.phase.state(), event) {
            Ok(state) => state,
            Err(e) => {
                tracing::debug!("{job}: {e}");
                return None;
            }
        };
        let now = Instant::now();
        let Ok(left) = entry.move_to(state, now) else {
            tracing::debug!("{job}: not placed, so it cannot take {event:?}");
            return None;
        };
        if state == JobState::Running {
            entry.started.get_or_insert(now);
            // A recovery's reason is shown while it recovers; the restart count stays.
            entry.record.error = None;
        }
        if state.is_terminal() {
            entry.serving.fail_all(&format!("{job} is {state:?}"));
            entry.recovery = None;
        }
        if state == JobState::Recovering {
            entry
                .serving
                .fail_all("the job failed before the swap completed; run it again");
        }
        let stored = self.store.save_job(&entry.record);
        if let Err(e) = &stored {
            tracing::error!("cannot store {job}: {e}");
        }
        if let Phase::Scheduling(scheduling) = &mut entry.phase {
            scheduling.stored = stored.is_ok();
        }
        tracing::info!("{job} is {state:?}");
        Some(Left(left))
    }

    /// Places every job waiting for slots, deploying those that fit.
    fn schedule_waiting(&mut self) {
        let now = Instant::now();
        let recovering: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| {
                matches!(&j.phase, Phase::Recovering(r) if r.not_before <= now && !r.finding_restore)
            })
            .map(|(id, _)| *id)
            .collect();
        for job in recovering {
            self.apply(job, JobEvent::Schedule);
        }
        let waiting: Vec<JobId> = self
            .jobs
            .iter()
            .filter(|(_, j)| matches!(&j.phase, Phase::Scheduling(s) if s.placed.is_none()))
            .map(|(id, _)| *id)
            .collect();
        for job in waiting {
            let free = self.free_nodes();
            let Some(entry) = self.jobs.get_mut(&job) else {
                continue;
            };
            let Phase::Scheduling(scheduling) = &mut entry.phase else {
                continue;
            };
            match schedule(&entry.plan.slots_by_pool(), &free) {
                Ok(assignment) => self.deploy(job, assignment),
                Err(e) if scheduling.since.elapsed() > SCHEDULING_TIMEOUT => {
                    self.fail(job, e.to_string())
                }
                Err(e) => scheduling.waiting_for = Some(format!("waiting for slots: {e}")),
            }
        }
    }

    fn free_nodes(&self) -> Vec<FreeNode> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.lost.is_none())
            .map(|(id, n)| {
                let mut used: BTreeMap<Pool, u32> = BTreeMap::new();
                let assignments = self.jobs.values().filter_map(|j| j.phase.assignment());
                for a in assignments {
                    for (pool, taken) in a.slots_on(*id) {
                        *used.entry(pool).or_default() += taken;
                    }
                }
                FreeNode {
                    node: *id,
                    listen: n.listen,
                    free: free_slots(&n.slots, &used),
                }
            })
            .collect()
    }

    /// Sends the job's deployment to the nodes of `assignment` — once its record, with the
    /// generation it deploys, is stored: a generation that a coordinator restart could hand
    /// out again must never run. Until the store takes it, the job waits (and is retried).
    fn deploy(&mut self, job: JobId, assignment: Assignment) {
        let continues = self
            .jobs
            .get(&job)
            .and_then(|e| e.record.restore_job)
            .and_then(|j| self.jobs.get(&j))
            .map(|j| j.record.run);
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        let Phase::Scheduling(scheduling) = &mut entry.phase else {
            return;
        };
        if !scheduling.stored {
            // Storing it when it entered Scheduling failed: again, now.
            if let Err(e) = self.store.save_job(&entry.record) {
                tracing::error!("{job} is not deployed until it is stored: {e}");
                scheduling.waiting_for = Some(format!(
                    "waiting for the coordinator's store ({e}): give its data directory room"
                ));
                return;
            }
            scheduling.stored = true;
        }
        let plan = &entry.plan;
        entry.tasks.clear();
        for head in plan.task_heads() {
            let operators = plan.chain_names(head);
            for p in 0..head.parallelism {
                let partition = PartitionId(p);
                if let Some((node, _)) = assignment.node_of(head.pool, partition) {
                    entry.tasks.insert(
                        TaskId {
                            operator: head.id,
                            partition,
                        },
                        TaskStatus {
                            node,
                            operators: operators.clone(),
                            finished: false,
                            committed: None,
                            metrics: TaskMetrics::default(),
                            served: Vec::new(),
                        },
                    );
                }
            }
        }
        let deployment = Deployment {
            job,
            generation: entry.record.generation,
            plan: entry.plan.clone(),
            assignment: assignment.clone(),
            restore: entry.restore,
            lineage: entry.record.lineage,
            run: entry.record.run,
            continues,
            serving: entry.serving.restored(entry.restore.map(|(c, _)| c)),
        };
        let nodes: Vec<NodeId> = assignment.nodes.iter().map(|(n, _)| *n).collect();
        if let Some(clock) = &mut entry.recovery {
            clock.deployed(Instant::now());
        }
        if let Phase::Scheduling(scheduling) = &mut entry.phase {
            scheduling.waiting_for = None;
            scheduling.placed = Some(Placed {
                pending: nodes.iter().copied().collect(),
                assignment,
            });
        }
        for node in &nodes {
            self.send(*node, ToNode::Deploy(Box::new(deployment.clone())));
        }
        tracing::info!("{job} placed on {} node(s)", nodes.len());
    }

    /// A node deployed its part of a job; once all did, start it.
    pub(crate) fn deployed(&mut self, node: NodeId, job: JobId, generation: Generation) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if entry.record.generation != generation {
            return;
        }
        let Phase::Scheduling(phase::Scheduling {
            placed: Some(placed),
            ..
        }) = &mut entry.phase
        else {
            return;
        };
        placed.pending.remove(&node);
        if !placed.pending.is_empty() {
            return;
        }
        if let stopping::StopState::Publishing { savepoint, .. } = entry.stop {
            // Redeployed from the stop's savepoint after a failure: building the sinks
            // published what it covers, so the stop is complete.
            return self.finish_stop(job, savepoint, None);
        }
        self.send_to_job_nodes(job, |job, generation| ToNode::Start { job, generation });
        if self.apply(job, JobEvent::Started).is_some() {
            if let Some(clock) = self.jobs.get_mut(&job).and_then(|e| e.recovery.as_mut()) {
                clock.started(Instant::now());
            }
        }
    }

    /// A task finished; once every task did, the job is finished.
    pub(crate) fn task_finished(
        &mut self,
        job: JobId,
        generation: Generation,
        task: TaskId,
        metrics: TaskMetrics,
    ) {
        let Some(status) = self.task_mut(job, generation, task) else {
            return;
        };
        status.finished = true;
        status.metrics = metrics;
        let all = self.jobs[&job].tasks.values().all(|t| t.finished);
        if !all {
            return;
        }
        if let Some(left) = self.apply(job, JobEvent::AllTasksFinished) {
            self.prune_checkpoints(job);
            self.cancel_tasks(job, left);
        }
    }

    /// A task or a deployment failed: the job fails and every node stops its tasks.
    pub(crate) fn fail(&mut self, job: JobId, error: String) {
        let Some(left) = self.apply(job, JobEvent::Failure) else {
            return;
        };
        tracing::error!("{job} failed: {error}");
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.record.error = Some(error);
            let _ = self.store.save_job(&entry.record);
        }
        self.cancel_tasks(job, left);
    }

    /// A task failed on a node: a transient failure goes through recovery, a permanent one
    /// fails the job at once.
    pub(crate) fn task_failed(
        &mut self,
        job: JobId,
        generation: Generation,
        task: TaskId,
        error: Failure,
    ) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        if entry.record.generation != generation {
            return;
        }
        let name = entry
            .tasks
            .get(&task)
            .map(|t| t.operators.clone())
            .unwrap_or_default();
        let context = format!("task {name} [partition {}] failed", task.partition.0);
        self.failed(job, error.context(context));
    }

    /// A deployment failed on a node: handled as a task failure.
    pub(crate) fn deploy_failed(
        &mut self,
        node: NodeId,
        job: JobId,
        generation: Generation,
        error: Failure,
    ) {
        if self.jobs.get(&job).map(|e| e.record.generation) != Some(generation) {
            return;
        }
        self.failed(job, error.context(format!("deployment on {node} failed")));
    }

    /// Recovers from a transient failure; fails the job for a permanent one.
    fn failed(&mut self, job: JobId, failure: Failure) {
        if failure.is_transient() {
            self.recover_or_fail(job, failure.message);
        } else {
            self.fail(job, failure.message);
        }
    }

    /// Cancels a job.
    pub(crate) fn cancel(&mut self, job: JobId) -> Result<(), String> {
        let Some(entry) = self.jobs.get(&job) else {
            return Err(format!("no job {job}: see `quiver job list`"));
        };
        let state = entry.record.state;
        let Some(left) = self.apply(job, JobEvent::Cancel) else {
            return Err(format!("{job} is already {state:?}"));
        };
        self.cancel_tasks(job, left);
        Ok(())
    }

    /// Tells the nodes of the assignment a job left to stop its tasks.
    fn cancel_tasks(&self, job: JobId, Left(assignment): Left) {
        let (Some(entry), Some(assignment)) = (self.jobs.get(&job), assignment) else {
            return;
        };
        let generation = entry.record.generation;
        for (node, _) in &assignment.nodes {
            self.send(*node, ToNode::Cancel { job, generation });
        }
    }

    fn send_to_job_nodes(&self, job: JobId, command: impl Fn(JobId, Generation) -> ToNode) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        let Some(assignment) = entry.phase.assignment() else {
            return;
        };
        for (node, _) in &assignment.nodes {
            self.send(*node, command(job, entry.record.generation));
        }
    }

    /// Queues a command on a live node's control stream.
    pub(super) fn send(&self, node: NodeId, command: ToNode) {
        if let Some(commands) = self.nodes.get(&node).and_then(|n| n.commands.as_ref()) {
            commands.send(command);
        }
    }

    /// Refuses a spec with a file sink writing into a folder a live job writes into: their
    /// part files would mix.
    fn check_folders_free(&self, spec: &JobSpec) -> Result<(), String> {
        for (sink, folder) in file_sink_folders(spec) {
            let writer = self.jobs.values().find(|j| {
                !j.record.state.is_terminal()
                    && file_sink_folders(&j.plan.spec).any(|(_, f)| f == folder)
            });
            if let Some(j) = writer {
                return Err(format!(
                    "sink {sink:?} writes into {}, where {} ({:?}, {:?}) writes too: give the \
                     sink another path, or stop {} first",
                    folder.display(),
                    j.record.job,
                    j.record.name,
                    j.record.state,
                    j.record.job
                ));
            }
        }
        Ok(())
    }

    /// The lineage of a stored job (a fresh one if it is unknown).
    fn lineage_of(&self, job: JobId) -> u64 {
        self.jobs
            .get(&job)
            .map_or_else(|| new_run_id(job), |entry| entry.record.lineage)
    }
}

/// The assignment a job left when it changed state (`None`: it had none).
#[must_use = "the nodes of the assignment left are to be told to cancel"]
struct Left(Option<Assignment>);

/// The file sinks of a spec with their folders.
fn file_sink_folders(spec: &JobSpec) -> impl Iterator<Item = (&str, &std::path::Path)> + '_ {
    spec.sinks.iter().filter_map(|sink| match &sink.kind {
        SinkKind::File { path, .. } => Some((sink.name.as_str(), path.as_path())),
        _ => None,
    })
}

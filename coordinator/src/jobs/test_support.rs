//! A cluster driven by tests as the server would drive it: one node whose control stream the
//! test reads (the node's fake), a job deployed and running on a real sled store in a
//! temporary directory behind a job store whose writes the test can make fail (a full disk),
//! and the store work the cluster queues run (or dropped) by the test.

use super::phase::Phase;
use super::{Cluster, JobEntry, SavedServing};
use crate::store::{JobRecord, JobStore, Store, StoreError};
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::messages::{JobState, TaskId, ToNode};
use quiver_protocol::outbox::{Inbox, Outbox};
use quiver_protocol::{CheckpointId, Failure, Generation, JobId, NodeId};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The job store on sled, whose writes fail while `full` is set.
struct FaultyStore {
    inner: Store,
    full: Arc<AtomicBool>,
}

impl FaultyStore {
    fn refuse_if_full(&self) -> Result<(), StoreError> {
        if !self.full.load(Ordering::Relaxed) {
            return Ok(());
        }
        Err(StoreError::Sled {
            path: PathBuf::from("(test)"),
            source: sled::Error::Io(std::io::Error::other("No space left on device")),
        })
    }
}

impl JobStore for FaultyStore {
    fn next_job_id(&self) -> Result<JobId, StoreError> {
        self.refuse_if_full()?;
        self.inner.next_job_id()
    }

    fn save_job(&self, record: &JobRecord) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.inner.save_job(record)
    }

    fn save_serving(&self, job: JobId, saved: &SavedServing) -> Result<(), StoreError> {
        self.refuse_if_full()?;
        self.inner.save_serving(job, saved)
    }

    fn serving(&self, job: JobId) -> Result<Option<SavedServing>, StoreError> {
        self.inner.serving(job)
    }

    fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.inner.jobs()
    }
}

/// A cluster over the store in `dir`, with its writes failing while `full` is set.
fn open(dir: &tempfile::TempDir, full: &Arc<AtomicBool>) -> Cluster {
    let inner = Store::open(dir.path()).expect("store");
    let db = inner.db().clone();
    let store = FaultyStore {
        inner,
        full: full.clone(),
    };
    Cluster::over(Box::new(store), &db, Heartbeats::default()).expect("cluster")
}

pub(super) const SPEC: &str = r#"
[job]
name = "offload"
parallelism = 2
checkpoint_interval = "1h"

[[source]]
name = "events"
kind = "generator"
count = 100

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#;

/// A cluster with one node of four slots and the job of [`SPEC`] deployed and running.
pub(super) struct Running {
    dir: tempfile::TempDir,
    pub(super) cluster: Cluster,
    pub(super) node: NodeId,
    inbox: Inbox<ToNode>,
    pub(super) job: JobId,
    full: Arc<AtomicBool>,
}

impl Running {
    pub(super) fn start() -> Running {
        Running::start_spec(SPEC)
    }

    /// The same with the job of `spec`.
    pub(super) fn start_spec(spec: &str) -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let full = Arc::default();
        let cluster = open(&dir, &full);
        Running::with_node(dir, cluster, full, |cluster| {
            cluster
                .submit(spec.into(), PathBuf::from("/"), None)
                .expect("submitted")
        })
    }

    /// `cluster` with a node joined and the job `job` names (after the join) deployed and
    /// running.
    fn with_node(
        dir: tempfile::TempDir,
        mut cluster: Cluster,
        full: Arc<AtomicBool>,
        job: impl FnOnce(&mut Cluster) -> JobId,
    ) -> Running {
        let (outbox, inbox) = Outbox::new(1024);
        let node = cluster.join(
            ([127, 0, 0, 1], 7001).into(),
            quiver_protocol::NodeSlots::shared(4),
            outbox,
        );
        let job = job(&mut cluster);
        let mut running = Running {
            dir,
            cluster,
            node,
            inbox,
            job,
            full,
        };
        running.run_offloads();
        running.start_deployed();
        running
    }

    /// Answers a deployment sent to the node, which starts the job; returns the commands
    /// sent to the node until then.
    pub(super) fn start_deployed(&mut self) -> Vec<ToNode> {
        let generation = self.generation();
        self.cluster.deployed(self.node, self.job, generation);
        assert_eq!(self.entry().record.state, JobState::Running);
        self.commands()
    }

    /// The coordinator's process dies (store work in flight dies with it) and starts again
    /// on its store; a node joins and the job is redeployed and started.
    pub(super) fn restart_coordinator(self) -> Running {
        let Running {
            dir,
            cluster,
            job,
            full,
            ..
        } = self;
        drop(cluster);
        let cluster = open(&dir, &full);
        Running::with_node(dir, cluster, full, |_| job)
    }

    /// The coordinator's disk is full (`true`: its job store's writes fail) or has room.
    pub(super) fn disk_full(&self, full: bool) {
        self.full.store(full, Ordering::Relaxed);
    }

    /// The job's entry.
    pub(super) fn entry(&self) -> &JobEntry {
        &self.cluster.jobs[&self.job]
    }

    /// Whether the job waits for its restore point to be found.
    pub(super) fn finding_restore(&self) -> bool {
        matches!(&self.entry().phase, Phase::Recovering(r) if r.finding_restore)
    }

    /// The job's current generation.
    pub(super) fn generation(&self) -> Generation {
        self.entry().record.generation
    }

    /// The job's generation as its stored record has it.
    pub(super) fn stored_generation(&self) -> Generation {
        let records = self.cluster.store.jobs().expect("readable");
        let record = records.iter().find(|r| r.job == self.job).expect("stored");
        record.generation
    }

    /// The job's tasks.
    pub(super) fn tasks(&self) -> Vec<TaskId> {
        self.entry().tasks.keys().copied().collect()
    }

    /// The commands sent to the node since the last call.
    pub(super) fn commands(&mut self) -> Vec<ToNode> {
        std::iter::from_fn(|| self.inbox.messages.try_recv().ok()).collect()
    }

    /// Triggers a checkpoint now; returns its id.
    pub(super) fn trigger(&mut self) -> CheckpointId {
        let job = self.job;
        let entry = self.cluster.jobs.get_mut(&job).expect("job");
        entry.schedule.request_checkpoint();
        self.cluster.checkpoint_tick(job);
        self.entry()
            .schedule
            .pending()
            .expect("a checkpoint in flight")
            .checkpoint
    }

    /// Every task acknowledges `checkpoint`.
    pub(super) fn ack_all(&mut self, checkpoint: CheckpointId) {
        let generation = self.generation();
        for task in self.tasks() {
            self.cluster
                .checkpoint_ack(self.job, generation, checkpoint, task);
        }
    }

    /// Whether `checkpoint` has its manifest in the store.
    pub(super) fn is_complete(&self, checkpoint: CheckpointId) -> bool {
        self.cluster
            .checkpoints
            .is_complete(self.job, checkpoint)
            .expect("readable")
    }

    /// Runs the queued store work as the server does and hands the outcomes back.
    pub(super) fn run_offloads(&mut self) -> usize {
        let work = self.cluster.take_offloads();
        let (count, store) = (work.len(), self.cluster.checkpoint_store());
        for offload in work {
            let outcome = offload.run(&store);
            self.cluster.offload_done(outcome);
        }
        count
    }

    /// A task reports a transient failure.
    pub(super) fn fail_a_task(&mut self) {
        let (job, generation) = (self.job, self.generation());
        let task = self.tasks()[0];
        self.cluster.task_failed(
            job,
            generation,
            task,
            Failure::transient("killed by the test"),
        );
    }
}

/// The checkpoints `commands` tell the node to commit.
pub(super) fn commits(commands: &[ToNode]) -> Vec<CheckpointId> {
    commands
        .iter()
        .filter_map(|c| match c {
            ToNode::CommitCheckpoint { checkpoint, .. } => Some(*checkpoint),
            _ => None,
        })
        .collect()
}

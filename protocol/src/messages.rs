//! Messages between processes: admin CLI → coordinator, node ⇄ coordinator, node → node.
//!
//! Every connection is mutual TLS; the first frame on each bidirectional stream says what the
//! stream is for, and the receiver checks the peer's certificate role before acting on it.

use crate::failure::Failure;
use crate::heartbeat::Heartbeats;
use crate::histogram::Histogram;
use crate::ids::{CheckpointId, Generation, JobId, NodeId, OperatorId, PartitionId};
use crate::plan::{Assignment, JobPlan};
use crate::sink_latency::SinkLatency;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How often each side of a control stream says it is alive by default (`quiver coordinator
/// --heartbeat-interval`; nodes learn the coordinator's in [`ToNode::Welcome`]): a node sends
/// [`ToCoordinator::Heartbeat`], the coordinator [`ToNode::Heartbeat`].
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);

/// A peer of a control stream silent this long is taken for dead, by default (`quiver
/// coordinator --heartbeat-timeout`; nodes learn the coordinator's in [`ToNode::Welcome`]):
/// the coordinator declares such a node lost, and a node drops such a coordinator's
/// connection and joins again. Far shorter than QUIC's idle timeout. A node waits this long
/// for its welcome.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);

/// The first frame of a stream opened to the coordinator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CoordinatorRequest {
    /// One admin request; the coordinator answers with one [`AdminResponse`] and the stream ends.
    Admin(AdminRequest),
    /// A node joins: the stream stays open as the node's control stream ([`ToNode`] /
    /// [`ToCoordinator`] frames in both directions).
    Join(NodeHello),
    /// A task's snapshot for a checkpoint: [`StateFrame`]s follow, then the coordinator answers
    /// one [`UploadReply`]. A complete upload is the task's acknowledgement of the checkpoint.
    UploadState(StateUpload),
    /// A task restoring asks for one operator's state: the coordinator answers with
    /// [`StateFrame`]s ending in [`StateFrame::Done`] (or an `Error`).
    FetchState(StateFetch),
}

/// Which snapshot an upload carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateUpload {
    /// The job.
    pub job: JobId,
    /// The uploading task's generation: uploads of older generations are refused.
    pub generation: Generation,
    /// The checkpoint.
    pub checkpoint: CheckpointId,
    /// The task acknowledging it.
    pub task: TaskId,
    /// The operators of the task whose pieces are keyed-state deltas
    /// (`crate::state_piece`); the pieces of other operators are whole.
    pub incremental: Vec<IncrementalState>,
}

/// How the coordinator composes one operator's uploaded deltas into chains: for every key
/// group in `groups`, the chain of `base` (none: empty), then the group's delta if one was
/// uploaded, then `meta`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncrementalState {
    /// The operator, by name.
    pub operator: String,
    /// The key groups the task owns (a delta outside them is refused).
    pub groups: std::ops::Range<u32>,
    /// The complete checkpoint the deltas extend: the task's last confirmed checkpoint or the
    /// one it restored from. `None`: the deltas hold every entry (a fresh start).
    pub base: Option<CheckpointId>,
    /// The operator's header piece (`crate::state_piece::Piece::meta`, schema-wrapped),
    /// stored last in every chain of `groups`.
    pub meta: Vec<u8>,
}

/// Which state a restoring task needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFetch {
    /// The job.
    pub job: JobId,
    /// The checkpoint to restore.
    pub checkpoint: CheckpointId,
    /// The operator, by name (names survive a resubmitted spec; ids may not).
    pub operator: String,
    /// The key groups (sources: partition indices) the task owns.
    pub groups: std::ops::Range<u32>,
}

/// One piece of snapshot state on an upload or fetch stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StateFrame {
    /// Bytes of one key group of one operator; a group larger than a frame comes in several
    /// chunks in order, all but the last with `more = true`.
    Chunk {
        /// The operator's name.
        operator: String,
        /// The key group (for sources: the partition index).
        group: crate::ids::KeyGroup,
        /// The bytes.
        bytes: Vec<u8>,
        /// Whether more chunks of the same group follow.
        more: bool,
    },
    /// The end of the stream.
    Done,
    /// The state cannot be read (fetch) — the text says why.
    Error(String),
}

/// The coordinator's answer to an upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadReply {
    /// Stored; the acknowledgement counts.
    Stored,
    /// Refused (stale generation, unknown checkpoint, store failure).
    Refused(String),
}

/// What a node says when it joins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHello {
    /// Where its exchange endpoint listens (other nodes dial it).
    pub listen: SocketAddr,
    /// The slots it offers: each hosts one partition index of one pool's operators.
    pub slots: crate::pool::NodeSlots,
}

/// Requests of `quiver job ...` and `quiver cluster ...`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Validate and run a job (admin certificates only).
    Submit {
        /// The spec's TOML text.
        spec_toml: String,
        /// The folder relative paths in the spec resolve against (the spec file's folder).
        base_dir: PathBuf,
        /// Restore state from this savepoint (of any job) first.
        from_savepoint: Option<SavepointRef>,
    },
    /// List jobs.
    List,
    /// One job's state and progress.
    Status {
        /// The job.
        job: JobId,
    },
    /// Cancel a job (admin certificates only).
    Cancel {
        /// The job.
        job: JobId,
    },
    /// Nodes and their health.
    Cluster,
    /// Take a savepoint of a running job now (admin certificates only); answered when it is
    /// complete.
    Savepoint {
        /// The job.
        job: JobId,
        /// Stop the job right after the savepoint, so its published output ends exactly where
        /// the savepoint's state does (Flink's stop-with-savepoint).
        stop: bool,
    },
    /// Completed checkpoints and savepoints of a job.
    Checkpoints {
        /// The job.
        job: JobId,
    },
    /// The registered model versions of a job's learner stages, with their aliases.
    Models {
        /// The job.
        job: JobId,
    },
    /// Points an alias at a model version, moving it from the version it named before, or
    /// removes it (admin certificates only).
    SetAlias {
        /// The job.
        job: JobId,
        /// The learner stage.
        stage: String,
        /// The alias (`[a-z][a-z0-9_-]*`).
        alias: String,
        /// The version it names; `None` removes the alias.
        version: Option<CheckpointId>,
    },
    /// Changes what a learner stage serves (admin certificates only); answered when the
    /// barrier that switches every partition completed its checkpoint.
    ModelSwap {
        /// The job.
        job: JobId,
        /// The learner stage.
        stage: String,
        /// The change.
        change: crate::models::SwapChange,
    },
    /// Which version each learner partition serves, with live per-version figures.
    ModelStatus {
        /// The job.
        job: JobId,
    },
    /// The parameters of a learner stage's model as of a version, read from the checkpoint
    /// store (any certificate).
    ExportModel {
        /// The job.
        job: JobId,
        /// The learner stage.
        stage: String,
        /// The version: a registered version or any complete checkpoint of the job.
        version: CheckpointId,
    },
    /// Registers a model saved by `quiver_ml` (or written by `quiver model export --json`) as
    /// a new version of a learner stage (admin certificates only).
    ImportModel {
        /// The job.
        job: JobId,
        /// The learner stage.
        stage: String,
        /// The file's name, kept as the version's lineage.
        file: String,
        /// The file's bytes (at most [`crate::models::MAX_IMPORT_BYTES`]).
        contents: Vec<u8>,
        /// An alias to point at the new version.
        alias: Option<String>,
    },
}

/// A savepoint to restore from: `job-3/chk-17` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointRef {
    /// The job that took it.
    pub job: JobId,
    /// The savepoint's checkpoint id.
    pub checkpoint: CheckpointId,
}

/// Answers to [`AdminRequest`]s.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminResponse {
    /// The job was admitted.
    Submitted {
        /// Its id.
        job: JobId,
    },
    /// All jobs.
    Jobs(Vec<JobSummary>),
    /// One job.
    Status(JobReport),
    /// The job is being cancelled.
    Cancelled {
        /// The job.
        job: JobId,
    },
    /// The cluster.
    Cluster(ClusterReport),
    /// A savepoint completed.
    Savepoint(SavepointRef),
    /// Checkpoints and savepoints of a job.
    Checkpoints(Vec<CheckpointInfo>),
    /// A job's model versions.
    Models(crate::models::ModelList),
    /// The alias was set (or removed).
    AliasSet {
        /// The version it named before, if any.
        previous: Option<CheckpointId>,
    },
    /// A swap completed.
    Swapped(crate::models::SwapReport),
    /// What a job's learners serve.
    ModelStatus(crate::models::ModelStatus),
    /// The request was refused or failed; the text says why and what to do.
    Error(String),
    /// A model's parameters as of a version.
    ModelExport(crate::models::ModelExport),
    /// A model was imported as this version.
    Imported(crate::models::ModelVersionInfo),
}

/// Lifecycle states of a job (see the coordinator's state machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Admitted, not yet placed.
    Created,
    /// Being placed on nodes and deployed.
    Scheduling,
    /// Every task is running.
    Running,
    /// A failure stopped the tasks; they are being redeployed from the last complete
    /// checkpoint with the next generation.
    Recovering,
    /// Every task finished (bounded sources are done).
    Finished,
    /// A task failed or a node was lost; see the error.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl JobState {
    /// Whether the job will not change state again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Finished | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job in a listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    /// Its id.
    pub job: JobId,
    /// `job.name`.
    pub name: String,
    /// Where it is in its lifecycle.
    pub state: JobState,
    /// Its deployment generation.
    pub generation: Generation,
}

/// Progressive-validation error of a task's rating predictions (`matrix_factorization`:
/// each row with a rating is predicted before the model learns from it), as sums that add
/// over tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RatingErrors {
    /// Rows with a rating that got a prediction.
    pub count: u64,
    /// Sum of (prediction − rating)².
    pub squared: f64,
    /// Sum of |prediction − rating|.
    pub absolute: f64,
}

impl RatingErrors {
    /// Counts one prediction of `rating`.
    pub fn note(&mut self, prediction: f64, rating: f64) {
        let error = prediction - rating;
        self.count += 1;
        self.squared += error * error;
        self.absolute += error.abs();
    }

    /// Adds another task's sums.
    pub fn add(&mut self, other: &RatingErrors) {
        self.count += other.count;
        self.squared += other.squared;
        self.absolute += other.absolute;
    }

    /// Count, RMSE and MAE; `None` before any rating was predicted.
    pub fn summary(&self) -> Option<RatingSummary> {
        (self.count > 0).then(|| {
            let n = self.count as f64;
            RatingSummary {
                count: self.count,
                rmse: (self.squared / n).sqrt(),
                mae: self.absolute / n,
            }
        })
    }
}

/// A job's online rating error (`matrix_factorization`'s progressive validation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingSummary {
    /// Rows with a rating predicted before the model learnt from them.
    pub count: u64,
    /// Root mean squared error of those predictions.
    pub rmse: f64,
    /// Mean absolute error of those predictions.
    pub mae: f64,
}

/// Counters of one task (an operator chain's partition), reported with heartbeats.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Records read from inputs (sources: records produced).
    pub records_in: u64,
    /// Records emitted to downstream tasks.
    pub records_out: u64,
    /// Records written by sinks of this task.
    pub sink_records: u64,
    /// Late records counted (no late sink).
    pub late_dropped: u64,
    /// Malformed records skipped (`bad_records = "skip"`).
    pub skipped: u64,
    /// Bytes sent over QUIC to other nodes.
    pub bytes_sent: u64,
    /// Bytes received over QUIC from other nodes.
    pub bytes_received: u64,
    /// The most batches ever queued on one input channel of this task.
    pub max_queued_batches: u64,
    /// Credits (batches) each input channel grants.
    pub credits: u64,
    /// Keyed state entries held now.
    pub state_entries: u64,
    /// Keys whose state expired (`job.state_ttl`) since the task started: dropped when the
    /// cleanup reached them or a record found them expired.
    pub state_expired: u64,
    /// Model updates the task's learners refused since it started, because they would have
    /// made a model non-finite (the rows were still scored).
    pub refused_updates: u64,
    /// Drifts the task's learners detected on the column of their `update = { on = "drift" }`
    /// policy since the task started.
    pub drifts: u64,
    /// The last checkpoint's alignment: first barrier in to all barriers in, µs.
    pub last_align_us: u64,
    /// The last checkpoint's pause to copy the task's state (encoding runs in the background), µs.
    pub last_snapshot_us: u64,
    /// Bytes the last checkpoint encoded and uploaded: whole state for operators that
    /// snapshot whole, only the changes since the last confirmed checkpoint for keyed ones.
    pub last_snapshot_bytes: u64,
    /// The last checkpoint's encoding of the copied state (on a blocking thread, while the
    /// task runs on), µs.
    pub last_encode_us: u64,
    /// The last checkpoint's upload: from the first byte sent until the coordinator
    /// answered that it stored the state, µs.
    pub last_upload_us: u64,
    /// A source task's watermark for aligning its source's partitions (`max_drift`): that of
    /// its slowest split still reading (not idle, not finished); `i64::MIN` while one has no
    /// record yet, `i64::MAX` when none reads. `None` for other tasks.
    pub source_watermark: Option<i64>,
    /// The progressive error of the task's rating predictions since it started.
    pub rating_errors: RatingErrors,
    /// Batches the task's sinks wrote (each observed once in `sink_latency`, when stamped).
    pub sink_batches: u64,
    /// Source-to-sink latency of the batches the task's sinks wrote: the wall-clock time
    /// from their source reading a batch's oldest record to the sink writing it (empty
    /// without sinks).
    pub sink_latency: Histogram,
    /// The time to process one batch: a handler taking a batch in, through the task's chain,
    /// to its output flushed (waiting for credit included).
    pub batch_time: Histogram,
    /// Time the task waited for credit to send downstream (backpressure), µs since it started.
    pub credit_wait_us: u64,
    /// A source task's time held back by alignment (`max_drift`, reading in step): µs during
    /// which it had nothing to read because it was ahead of the slowest partition.
    pub aligned_pause_us: u64,
    /// Data quality of the columns its operators watch (`checks`), at most
    /// [`crate::spec::MAX_WATCHED_COLUMNS`] per operator.
    pub columns: Vec<crate::quality::ColumnQuality>,
}

impl TaskMetrics {
    /// Adds another task's counters (maxima for the queue figures).
    pub fn add(&mut self, other: &TaskMetrics) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.sink_records += other.sink_records;
        self.late_dropped += other.late_dropped;
        self.skipped += other.skipped;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.max_queued_batches = self.max_queued_batches.max(other.max_queued_batches);
        self.credits = self.credits.max(other.credits);
        self.state_entries += other.state_entries;
        self.state_expired += other.state_expired;
        self.refused_updates += other.refused_updates;
        self.rating_errors.add(&other.rating_errors);
        self.drifts += other.drifts;
        self.last_align_us = self.last_align_us.max(other.last_align_us);
        self.last_snapshot_us = self.last_snapshot_us.max(other.last_snapshot_us);
        self.last_encode_us = self.last_encode_us.max(other.last_encode_us);
        self.last_upload_us = self.last_upload_us.max(other.last_upload_us);
        self.last_snapshot_bytes += other.last_snapshot_bytes;
        self.source_watermark = match (self.source_watermark, other.source_watermark) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.sink_batches += other.sink_batches;
        self.sink_latency.merge(&other.sink_latency);
        self.batch_time.merge(&other.batch_time);
        self.credit_wait_us += other.credit_wait_us;
        self.aligned_pause_us += other.aligned_pause_us;
        crate::quality::merge(&mut self.columns, &other.columns);
    }
}

/// A task of a job: one partition of a chain head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TaskId {
    /// The chain's head operator.
    pub operator: OperatorId,
    /// The partition.
    pub partition: PartitionId,
}

/// A task's state and counters in a job report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The task.
    pub task: TaskId,
    /// The names of the operators it runs, head first.
    pub operators: String,
    /// The node running it.
    pub node: NodeId,
    /// Whether it has finished.
    pub finished: bool,
    /// Its counters.
    pub metrics: TaskMetrics,
}

/// `quiver job status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    /// Id, name, state, generation.
    pub summary: JobSummary,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Milliseconds since it started running (or until it ended).
    pub elapsed_ms: u64,
    /// Records produced by sources.
    pub source_records: u64,
    /// Records written by sinks.
    pub sink_records: u64,
    /// Every task.
    pub tasks: Vec<TaskReport>,
    /// The last completed checkpoint.
    pub last_checkpoint: Option<CheckpointId>,
    /// Recoveries so far.
    pub restarts: Restarts,
    /// The latest recoveries that got the job publishing again, oldest first, phase by phase.
    pub recoveries: Vec<RecoveryTimes>,
    /// Checkpoints dropped because they took longer than their timeout (backpressure).
    pub expired_checkpoints: u32,
    /// Keyed state entries held by all tasks now.
    pub state_entries: u64,
    /// Keys whose state expired in all tasks (`job.state_ttl`), since they started.
    pub state_expired: u64,
    /// Model updates refused in all tasks (a learner diverging), since they started.
    pub refused_updates: u64,
    /// The online error of the job's rating predictions (`matrix_factorization`), over all
    /// tasks since they started; `None` before any rating was predicted.
    pub ratings: Option<RatingSummary>,
    /// Bytes the checkpoint store holds for the job.
    pub checkpoint_bytes: u64,
    /// Source-to-sink latency per chain with sinks (`crate::sink_latency::per_sink`).
    pub sink_latency: Vec<SinkLatency>,
}

/// A job's recoveries: a job fails once it needs more than `allowed` in a row, where a
/// completed checkpoint ends a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restarts {
    /// Recoveries since the job started.
    pub total: u32,
    /// Recoveries since the last completed checkpoint.
    pub in_a_row: u32,
    /// The most recoveries in a row before the job fails.
    pub allowed: u32,
}

/// How long one recovery took, phase by phase, in milliseconds. The phases follow each other:
/// `total_ms` is their sum.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryTimes {
    /// When the coordinator acted on the failure, ms since the epoch.
    pub detected_at_ms: u64,
    /// Why the job recovered (the first failure, when it failed again while recovering).
    pub reason: String,
    /// Deployments it took: more than one when the job failed again while recovering.
    pub attempts: u32,
    /// From the last sign of life of what failed (a lost node's last heartbeat; a failed
    /// task's report) until the coordinator acted on it.
    pub detect_ms: u64,
    /// Finding the newest valid checkpoint to restore from (for the attempt that got the
    /// job publishing; earlier attempts' time counts here too).
    pub restore_point_ms: u64,
    /// The restart back-off and waiting for slots, until the deployment was sent.
    pub placement_ms: u64,
    /// Nodes building the tasks and restoring their state, until the job started.
    pub deploy_ms: u64,
    /// From the start until its first checkpoint completed: sinks publish again.
    pub first_output_ms: u64,
    /// From the last sign of life until the first output.
    pub total_ms: u64,
}

/// A node in `quiver cluster status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Its id.
    pub node: NodeId,
    /// Its exchange address.
    pub listen: SocketAddr,
    /// Its slots in all, shared and reserved.
    pub slots: u32,
    /// Those of its slots reserved for one pool (`--slots training=2`), by pool.
    #[serde(default)]
    pub reserved_slots: std::collections::BTreeMap<crate::pool::Pool, u32>,
    /// Whether it answers heartbeats.
    pub alive: bool,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms: u64,
    /// Tasks it runs now.
    pub tasks: u32,
    /// Bytes it sent to other nodes.
    pub bytes_sent: u64,
    /// Bytes it received from other nodes.
    pub bytes_received: u64,
    /// When it was declared lost, in ms since the Unix epoch (`None`: alive). A lost node is
    /// listed until the coordinator forgets it, 10 minutes later.
    pub lost_at_ms: Option<u64>,
}

/// `quiver cluster status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    /// Where nodes and admins reach the coordinator (`quiver coordinator --advertise`, else
    /// the address it listens on).
    pub coordinator: String,
    /// Every node of this coordinator run that is alive or was lost in the last 10 minutes.
    pub nodes: Vec<NodeReport>,
}

/// Coordinator → node, on the node's control stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToNode {
    /// The node's id (answer to [`NodeHello`]).
    Welcome {
        /// The id the coordinator gave it.
        node: NodeId,
        /// How often the node is to beat, and how long it waits for the coordinator's beats.
        heartbeats: Heartbeats,
    },
    /// Deploy the tasks of `plan` that `assignment` places on this node; answer
    /// [`ToCoordinator::Deployed`].
    Deploy(Box<Deployment>),
    /// Every node has deployed: connect channels and start sources.
    Start {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
    },
    /// Source tasks: inject a barrier for this checkpoint, then go on as `then` says.
    TriggerCheckpoint {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// What the sources do after the barrier.
        then: AfterBarrier,
        /// The serving table in force (`crate::models::ServingTable::epoch`).
        serving: u64,
    },
    /// The checkpoint is complete: sinks publish what they staged up to it.
    CommitCheckpoint {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The checkpoint.
        checkpoint: CheckpointId,
    },
    /// Source tasks of `source`: the watermarks its partitions reported with their heartbeats
    /// changed. Each partition's splits more than `max_drift` ahead of the slowest other
    /// partition wait.
    AlignSource {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The source operator.
        source: OperatorId,
        /// The `source_watermark` each partition reported last, by partition.
        watermarks: Vec<(PartitionId, i64)>,
    },
    /// Load the versions `table` serves (answer [`ToCoordinator::ServingPrepared`]); the
    /// learners switch to it at the first barrier that carries its epoch.
    PrepareServing {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The new table.
        table: crate::models::ServingTable,
    },
    /// Stop every task of the job.
    Cancel {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
    },
    /// The coordinator is alive: sent every heartbeat interval on every control stream
    /// (last in the enum, so the encoding of the other commands is unchanged). A node that
    /// hears nothing for the heartbeat timeout (both from its [`ToNode::Welcome`]) takes the
    /// coordinator for dead.
    Heartbeat,
}

/// What a source does after injecting a checkpoint barrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AfterBarrier {
    /// Goes on reading.
    Continue,
    /// Ends: the final checkpoint of bounded sources that ran dry.
    End,
    /// Stops reading without ending (no watermark jump, no window fires): the savepoint of
    /// `quiver job stop`, after which nothing more is published.
    Pause,
}

/// A job deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The job.
    pub job: JobId,
    /// The generation being deployed; channels and reports of other generations are refused.
    pub generation: Generation,
    /// The plan.
    pub plan: JobPlan,
    /// Which node runs which partition.
    pub assignment: Assignment,
    /// Restore every task from this complete checkpoint (taken by that generation) first.
    pub restore: Option<(CheckpointId, Generation)>,
    /// The job's lineage: fixed at submission and inherited by jobs started from its
    /// savepoints; output file names carry it, so separate runs never collide.
    pub lineage: u64,
    /// This job's own run id, unique per submission (resumed jobs get their own): output
    /// folders record the run that owns them.
    pub run: u64,
    /// The run of the job whose savepoint this one started from: its output folders may be
    /// taken over, since this job continues that output.
    pub continues: Option<u64>,
    /// What the learners serve from the start (the table in force at the checkpoint it
    /// restores from); the node loads its versions before the tasks start.
    pub serving: crate::models::ServingTable,
}

/// Node → coordinator, on the control stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// Alive, with counters of every task.
    Heartbeat {
        /// Counters per running or finished task.
        tasks: Vec<(JobId, Generation, TaskId, TaskMetrics)>,
        /// What the learner partitions of each task scored per version.
        served: Vec<(JobId, Generation, TaskId, Vec<crate::models::ServedVersion>)>,
    },
    /// The versions of a serving table are loaded (or could not be).
    ServingPrepared {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The table's epoch.
        epoch: u64,
        /// `Err`: why the node cannot serve it.
        result: Result<(), String>,
    },
    /// The node's tasks of this deployment are spawned and accept channels.
    Deployed {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
    },
    /// A task finished: all its inputs ended and its sinks published.
    TaskFinished {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The task.
        task: TaskId,
        /// Its final counters (boxed: with their histograms they outweigh every other
        /// message).
        metrics: Box<TaskMetrics>,
    },
    /// The deployment (or the start) of a job failed on this node.
    DeployFailed {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// What went wrong, and whether a retry can help.
        error: Failure,
    },
    /// A task published what its sinks staged up to a checkpoint (answer to
    /// [`ToNode::CommitCheckpoint`]).
    Committed {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The task.
        task: TaskId,
        /// The checkpoint.
        checkpoint: CheckpointId,
    },
    /// A source task's input is exhausted; with checkpoints it waits for the final checkpoint.
    SourceExhausted {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The task.
        task: TaskId,
    },
    /// A task failed.
    TaskFailed {
        /// The job.
        job: JobId,
        /// Its generation.
        generation: Generation,
        /// The task.
        task: TaskId,
        /// What went wrong, and whether a retry can help.
        error: Failure,
    },
    /// Where partitions of sources aligned across nodes (`max_drift`) stand, sent between
    /// heartbeats as they move: the coordinator relays them at once
    /// ([`ToNode::AlignSource`]), so a partition waiting for one on another node moves on
    /// sooner than a heartbeat later.
    SourceWatermarks {
        /// The tasks whose watermark rose a quarter of `max_drift`, or fell, since their last
        /// report, and those not reported before.
        reports: Vec<SourceWatermark>,
    },
}

/// One source task's alignment watermark (as `TaskMetrics::source_watermark`), in
/// [`ToCoordinator::SourceWatermarks`].
pub type SourceWatermark = (JobId, Generation, TaskId, i64);

/// Identifies a channel: upstream partition → downstream partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelId {
    /// The upstream operator (the operator whose output travels).
    pub from: OperatorId,
    /// The upstream partition.
    pub from_partition: PartitionId,
    /// The downstream operator (head of the receiving task).
    pub to: OperatorId,
    /// The downstream partition.
    pub to_partition: PartitionId,
}

/// The first frame of a stream one node opens to another: a data channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelOpen {
    /// The job.
    pub job: JobId,
    /// The sender's generation: refused unless the receiver runs the same one.
    pub generation: Generation,
    /// Which channel.
    pub channel: ChannelId,
}

/// Receiver → sender on a data channel's stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelReply {
    /// The receiver can take this many more batches.
    Credit(u32),
    /// The channel is refused (unknown task, stale generation).
    Refused(String),
}

/// Whether a stored snapshot is a periodic checkpoint or a user's savepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnapshotKind {
    /// Taken every `checkpoint_interval`; pruned once newer ones exist.
    Checkpoint,
    /// Taken by `quiver job savepoint`; kept until deleted, restorable at another parallelism.
    Savepoint,
}

/// A completed checkpoint or savepoint, as `quiver checkpoint list` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Its id.
    pub checkpoint: CheckpointId,
    /// The job generation that took it.
    pub generation: Generation,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Completion time, ms since the epoch.
    pub completed_at_ms: u64,
    /// From trigger to the last acknowledgement, ms.
    pub duration_ms: u64,
    /// State bytes it references (shared blobs of incremental checkpoints counted once each).
    pub bytes: u64,
    /// State bytes written by this checkpoint (changed key groups only).
    pub new_bytes: u64,
}

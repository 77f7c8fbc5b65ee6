//! The operator contract: what a stage, a source and a sink implement.
//!
//! The runtime owns channels, batching, watermark merging, barriers and flow control; an
//! operator only turns batches into batches. A stage has one required method,
//! [`Operator::process_batch`]; the hooks have defaults. Stages read and emit columnar
//! batches ([`quiver_protocol::batch::Batch`]): a batch's columns follow the stream's schema,
//! and a stage emits batches of its output schema (late records: of its input schema).
//! Stateful operators keep their state per key group so a checkpoint can be restored at
//! another parallelism.

use quiver_protocol::batch::Batch;
use quiver_protocol::{Barrier, CheckpointId, KeyGroup};

/// Why an operator could not go on. [`OperatorError::is_transient`] tells the coordinator
/// whether recovering from a checkpoint can help or the job must fail with this message.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// Bad input data (a malformed record, a type mismatch): names where and what. Reading it
    /// again gives the same error, so it is permanent.
    #[error("{0}")]
    Data(String),
    /// The job cannot run as specified here (a missing input file or header column, an output
    /// folder that holds another run's output, saved state that does not fit the spec): names
    /// what to change. Permanent.
    #[error("{0}")]
    Config(String),
    /// An I/O failure of a source or sink (names the path). Transient: the job recovers.
    #[error("{0}")]
    Io(String),
    /// State could not be snapshotted or restored. Permanent.
    #[error("state: {0}")]
    State(String),
}

impl OperatorError {
    /// Whether a retry (recovery from the last checkpoint) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OperatorError::Io(_))
    }
}

/// Where an operator puts what it emits during one call, as columnar batches. The runtime
/// drains it.
#[derive(Debug, Default)]
pub struct Output {
    /// Batches for the operator's downstream consumers, in the stage's output schema.
    pub records: Vec<Batch>,
    /// Records that arrived after the watermark passed their window, as they came in (the
    /// input's schema): the stage's late side output (a sink named by `late`), or counted
    /// when it has none.
    pub late: Vec<Batch>,
    /// A learner's parameter changes for its parameter servers
    /// (`quiver_protocol::plan::ParameterPlan::change_schema`).
    pub params: Vec<Batch>,
}

/// What [`Operator::ready`] returns: resolves when the operator can take input, or with the
/// reason it never will.
pub type Wait =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), OperatorError>> + Send>>;

/// The state of one key group, serialised by the operator.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyGroupState {
    /// The key group.
    pub group: KeyGroup,
    /// The operator's bytes for it.
    pub bytes: Vec<u8>,
}

/// The state an operator restores from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SavedState {
    /// The pieces of the key groups the partition owns: one per key group for an operator
    /// that snapshots whole; for a keyed-state operator each group's chain (base, deltas,
    /// header), in the order to apply them.
    pub pieces: Vec<KeyGroupState>,
    /// `None`: the values are stored as this operator stores them. `Some(order)`: this
    /// operator's value `i` is the saved value `order[i]` — the spec reordered or dropped
    /// values; only operators with several named values (aggregates) ever get one.
    pub order: Option<Vec<usize>>,
}

impl From<Vec<KeyGroupState>> for SavedState {
    /// State stored as the operator stores it.
    fn from(pieces: Vec<KeyGroupState>) -> SavedState {
        SavedState {
            pieces,
            order: None,
        }
    }
}

/// A stage: one parallel instance of a transformation.
pub trait Operator: Send + 'static {
    /// Processes one batch of input records (columns in the input schema's order).
    fn process_batch(&mut self, batch: &Batch, out: &mut Output) -> Result<(), OperatorError>;

    /// The minimum watermark over all inputs advanced to `watermark`: emit what it closes.
    fn on_watermark(&mut self, _watermark: i64, _out: &mut Output) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Checkpoint barrier `barrier` reached the operator, after every record before it and
    /// before its state is copied: emit what belongs before the barrier (a learner's
    /// parameter changes) and switch what it serves if the barrier says so.
    fn on_barrier(&mut self, _barrier: &Barrier, _out: &mut Output) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The task started, after any restore and before its first input: emit what the
    /// consumers need first (a parameter shard's restored values).
    fn on_start(&mut self, _out: &mut Output) -> Result<(), OperatorError> {
        Ok(())
    }

    /// `Some(wait)` while the operator cannot take input yet (a learner waiting for its
    /// parameter servers' model): the task awaits `wait` before its next input.
    fn ready(&mut self) -> Option<Wait> {
        None
    }

    /// Every input has ended: emit what is still pending (windows fire as if the watermark
    /// were at +infinity).
    fn on_end(&mut self, _out: &mut Output) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Serialises the operator's state, one entry per non-empty key group. Stateless
    /// operators return nothing.
    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        Ok(Vec::new())
    }

    /// Copies the state for a checkpoint. The runtime serialises the copy in the background,
    /// so the task pauses only for the copy, not for the encoding. The default serialises at
    /// once; an operator that is `Clone` can return [`ClonedState`] of itself instead.
    fn snapshot_copy(&mut self) -> Result<Box<dyn StateCopy>, OperatorError> {
        Ok(Box::new(self.snapshot()?))
    }

    /// Restores state taken by [`Operator::snapshot`] (possibly by partitions of another
    /// parallelism, or by a spec whose values were reordered: see [`SavedState::order`]).
    /// Only the key groups this partition owns are passed; the runtime has already checked
    /// that the saved state fits the operator's spec.
    fn restore(&mut self, _state: SavedState) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Called after [`Operator::restore`] with the checkpoint the state came from, even when
    /// the partition's key groups held no state (a parameter shard numbers its first
    /// version with it).
    fn restored_from(&mut self, _checkpoint: CheckpointId) {}

    /// For operators on the keyed-state layer (`crate::state`): copies the entries written or
    /// removed since the last confirmed checkpoint, so the task pauses for O(changed) work;
    /// the runtime encodes the copy off the task into delta pieces, and a restore then gets
    /// each key group's chain of pieces in order. `None` (the default, and for a layer
    /// operator of a job without checkpoints): the state is snapshotted whole by
    /// [`Operator::snapshot_copy`].
    fn snapshot_changes(
        &mut self,
        _checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        Ok(None)
    }

    /// Checkpoint `checkpoint` completed everywhere: the changes copied at its barrier (and
    /// before) are stored, so the operator may forget them.
    fn confirm(&mut self, _checkpoint: CheckpointId) {}

    /// Keys whose state expired (`job.state_ttl`) since the operator was built (0 without a
    /// TTL).
    fn state_expired(&self) -> u64 {
        0
    }

    /// Model updates refused since the operator was built because they would have made the
    /// model non-finite or out of range (0 for operators without a model).
    fn refused_updates(&self) -> u64 {
        0
    }

    /// Drifts a learner detected on the column of its drift policy since it was built.
    fn drifts(&self) -> u64 {
        0
    }

    /// The progressive error of the rating predictions since the operator was built
    /// (`matrix_factorization`; empty for other operators).
    fn rating_errors(&self) -> quiver_protocol::messages::RatingErrors {
        quiver_protocol::messages::RatingErrors::default()
    }

    /// What a learner partition scored per version it served (empty for other operators).
    fn served(&self) -> Vec<quiver_protocol::models::ServedVersion> {
        Vec::new()
    }

    /// Keyed state entries held now (for the state-size counter; 0 for stateless operators).
    fn state_entries(&self) -> u64 {
        0
    }
}

/// A copy of an operator's state taken at a barrier, serialised later off the task.
pub trait StateCopy: Send + 'static {
    /// Serialises the copy, one entry per non-empty key group.
    fn serialize(self: Box<Self>) -> Result<Vec<KeyGroupState>, OperatorError>;
}

impl StateCopy for Vec<KeyGroupState> {
    fn serialize(self: Box<Self>) -> Result<Vec<KeyGroupState>, OperatorError> {
        Ok(*self)
    }
}

/// A keyed-state operator's changes taken at a barrier ([`Operator::snapshot_changes`]),
/// encoded later off the task.
pub trait ChangesCopy: Send + 'static {
    /// Encodes the changes into the layer's pieces.
    fn serialize(self: Box<Self>) -> Result<Changes, OperatorError>;
}

/// A keyed-state operator's encoded changes (`quiver_protocol::state_piece` pieces).
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// The header piece (the operator's per-partition state, e.g. its watermark), stored
    /// at the end of every chain of the partition's key groups.
    pub meta: Vec<u8>,
    /// One delta piece per changed key group.
    pub deltas: Vec<KeyGroupState>,
}

/// A clone of an operator taken at a barrier, serialised later by its own
/// [`Operator::snapshot`]: the cheap way for a `Clone` operator to move encoding off its task.
pub struct ClonedState<O>(pub O);

impl<O: Operator> StateCopy for ClonedState<O> {
    fn serialize(mut self: Box<Self>) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.0.snapshot()
    }
}

/// Where a reader stands in its split, so a checkpoint can rewind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SourcePosition {
    /// A file: byte offset of the next unread line, and its line number (1-based).
    File {
        /// Byte offset of the next unread record.
        offset: u64,
        /// Line number of the next unread record.
        line: u64,
    },
    /// The generator: the next sequence number this partition emits.
    Sequence(u64),
}

/// A reader of one split of a source (a file, a generator partition; see
/// `crate::sources::splits`): reads or generates its records in order. The runtime's source
/// driver calls it, off the task when it [`blocks`](Source::blocks).
pub trait Source: Send + 'static {
    /// Up to `max` records as a columnar batch whose columns follow the source's schema
    /// (possibly empty when every record read was skipped as malformed); `Ok(None)` when the
    /// source is exhausted (a bounded source).
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError>;

    /// The position of the next record, recorded at a checkpoint barrier.
    fn position(&self) -> SourcePosition;

    /// Moves to a position taken by [`Source::position`] (recovery).
    fn seek(&mut self, position: SourcePosition) -> Result<(), OperatorError>;

    /// Records skipped as malformed (with `bad_records = "skip"`).
    fn skipped(&self) -> u64 {
        0
    }

    /// Whether its calls may block on I/O; the runtime then keeps them off the async
    /// workers. A source that only computes (the generator) says no.
    fn blocks(&self) -> bool {
        true
    }
}

/// A sink partition: writes records out. Its calls run on the task's async worker: a sink
/// whose I/O may block (a pipe, a file, fsync) does that I/O through `crate::blocking`, so a
/// blocked write never stalls the node's heartbeat or QUIC.
///
/// With checkpoints, a sink takes part in a two-phase commit: at barrier `n` it stages what
/// it wrote since the previous barrier ([`Sink::prepare_commit`]); when checkpoint `n` is
/// complete everywhere it publishes what it staged up to `n` ([`Sink::commit`]). A sink built
/// for a recovered deployment first publishes what the restored checkpoint covered and drops
/// the rest (see `sinks::SinkContext::restored`), so every record is published exactly once.
pub trait Sink: Send + 'static {
    /// Writes one columnar batch, its columns in the sink's input schema.
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError>;

    /// The input ended: flush and publish what was written (without checkpoints). With
    /// checkpoints the final barrier has already staged everything, so nothing may remain.
    fn finish(&mut self) -> Result<(), OperatorError>;

    /// Barrier `checkpoint` reached the sink: stage everything written since the previous one.
    fn prepare_commit(&mut self, _checkpoint: CheckpointId) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Checkpoint `checkpoint` completed: publish everything staged up to it.
    fn commit(&mut self, _checkpoint: CheckpointId) -> Result<(), OperatorError> {
        Ok(())
    }
}

//! What can go wrong storing or reading checkpoints; every variant names the job and, where
//! there is one, the checkpoint, operator and key group.

use quiver_protocol::codec::CodecError;
use quiver_protocol::{CheckpointId, JobId, KeyGroup};

/// A checkpoint could not be stored, read or pruned.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    /// sled failed.
    #[error("checkpoint store: {what}: {source}")]
    Sled {
        /// What was being done (and to which job, checkpoint, operator, key group).
        what: String,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A stored record (manifest or state reference) cannot be decoded.
    #[error("checkpoint store: {job} {checkpoint}: corrupt {what}: {source}")]
    CorruptRecord {
        /// The job.
        job: JobId,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Which record.
        what: String,
        /// The decoder's error.
        #[source]
        source: CodecError,
    },
    /// A state blob is missing, truncated or fails its checksum.
    #[error(
        "checkpoint store: {job} {checkpoint}: state of operator '{operator}' key group {group} \
         is corrupt: {fault}"
    )]
    CorruptBlob {
        /// The job.
        job: JobId,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// The operator.
        operator: String,
        /// The key group.
        group: KeyGroup,
        /// What is wrong with which blob.
        fault: String,
    },
    /// A record cannot be encoded.
    #[error("checkpoint store: {job} {checkpoint}: cannot encode {what}: {source}")]
    Encode {
        /// The job.
        job: JobId,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// Which record.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: CodecError,
    },
    /// An operator name too long for a state key.
    #[error(
        "checkpoint store: operator name '{operator}…' has {len} bytes; at most 65535 are allowed"
    )]
    OperatorName {
        /// The name's first characters.
        operator: String,
        /// Its length in bytes.
        len: usize,
    },
    /// State was put into, or an abort asked for, a checkpoint that is already complete; or a
    /// different manifest was given for one.
    #[error(
        "checkpoint store: {job} {checkpoint} is already complete ({action} is only allowed \
         before `complete`, or `complete` again with the same manifest)"
    )]
    AlreadyComplete {
        /// The job.
        job: JobId,
        /// The checkpoint.
        checkpoint: CheckpointId,
        /// What was refused.
        action: &'static str,
    },
    /// An incremental upload cannot be composed into chains: its base checkpoint is not
    /// complete (pruned, or never completed), a delta lies outside the task's key groups, or
    /// a piece is unreadable.
    #[error("checkpoint store: {job} {checkpoint}: incremental state of '{operator}': {why}")]
    Incremental {
        /// The job.
        job: JobId,
        /// The checkpoint being stored.
        checkpoint: CheckpointId,
        /// The operator.
        operator: String,
        /// What is wrong.
        why: String,
    },
    /// `complete` was called for one job with another job's manifest.
    #[error(
        "checkpoint store: manifest of {manifest_job} given to complete a checkpoint of {job}"
    )]
    JobMismatch {
        /// The job named by the call.
        job: JobId,
        /// The job named by the manifest.
        manifest_job: JobId,
    },
}

/// A closure mapping a sled error to [`CheckpointStoreError::Sled`] with a lazily built context.
pub(super) fn sled_err<F: FnOnce() -> String>(
    what: F,
) -> impl FnOnce(sled::Error) -> CheckpointStoreError {
    move |source| CheckpointStoreError::Sled {
        what: what(),
        source,
    }
}

//! The history of a job's completed checkpoints: a summary of each (id, kind, time,
//! duration, sizes) kept after retention prunes the checkpoint itself, for the dashboard and
//! `/api/jobs/{id}/checkpoints/history`. Tree `checkpoint_history`: `job ‖ checkpoint` → a
//! [`CheckpointInfo`]; the newest [`HISTORY_KEPT`] per job are kept.

use super::error::sled_err;
use super::{keys, CheckpointStore, CheckpointStoreError};
use quiver_protocol::codec;
use quiver_protocol::messages::CheckpointInfo;
use quiver_protocol::JobId;

/// Completed checkpoints a job's history remembers.
pub const HISTORY_KEPT: usize = 100;

impl CheckpointStore {
    /// Adds a completed checkpoint to its job's history, forgetting the oldest beyond
    /// [`HISTORY_KEPT`].
    pub(super) fn remember(
        &self,
        job: JobId,
        info: &CheckpointInfo,
    ) -> Result<(), CheckpointStoreError> {
        let checkpoint = info.checkpoint;
        let value = codec::encode(info).map_err(|source| CheckpointStoreError::Encode {
            job,
            checkpoint,
            what: "history entry",
            source,
        })?;
        self.history
            .insert(keys::checkpoint_prefix(job, checkpoint), value)
            .map_err(sled_err(|| {
                format!("{job} {checkpoint}: writing its history")
            }))?;
        let keys: Vec<_> = self
            .history
            .scan_prefix(keys::job_prefix(job))
            .keys()
            .collect::<Result<_, _>>()
            .map_err(sled_err(|| {
                format!("{job}: reading the checkpoint history")
            }))?;
        for key in keys.iter().take(keys.len().saturating_sub(HISTORY_KEPT)) {
            self.history.remove(key).map_err(sled_err(|| {
                format!("{job}: trimming the checkpoint history")
            }))?;
        }
        Ok(())
    }

    /// The job's newest completed checkpoints, oldest first, whether retention kept them or
    /// not. An entry that cannot be read is left out (the history is informative only).
    pub fn history(&self, job: JobId) -> Result<Vec<CheckpointInfo>, CheckpointStoreError> {
        let mut out = Vec::new();
        for item in self.history.scan_prefix(keys::job_prefix(job)) {
            let (_, value) = item.map_err(sled_err(|| {
                format!("{job}: reading the checkpoint history")
            }))?;
            match codec::decode::<CheckpointInfo>(&value) {
                Ok(info) => out.push(info),
                Err(e) => tracing::warn!("{job}: a checkpoint history entry is unreadable: {e}"),
            }
        }
        Ok(out)
    }
}

//! Pruning: which complete checkpoints `retain` keeps (a pure decision), deleting the others
//! and stale incomplete ones, and sweeping blobs that no remaining checkpoint references.

use super::error::sled_err;
use super::keys::{self, BlobId};
use super::{decode_record, CheckpointStore, CheckpointStoreError};
use quiver_protocol::messages::SnapshotKind;
use quiver_protocol::{CheckpointId, JobId};
use std::collections::HashSet;

/// The complete snapshots (`(id, kind)`, any order) that retention deletes: every checkpoint
/// except the newest `keep` ones and the `pinned` ones. Savepoints are always kept.
pub(super) fn doomed(
    complete: &[(CheckpointId, SnapshotKind)],
    keep: usize,
    pinned: &[CheckpointId],
) -> Vec<CheckpointId> {
    let mut checkpoints: Vec<CheckpointId> = complete
        .iter()
        .filter(|(_, kind)| *kind == SnapshotKind::Checkpoint)
        .map(|(id, _)| *id)
        .collect();
    checkpoints.sort_unstable_by(|a, b| b.cmp(a));
    checkpoints
        .into_iter()
        .skip(keep)
        .filter(|id| !pinned.contains(id))
        .collect()
}

impl CheckpointStore {
    /// Keeps the newest `keep` complete checkpoints, every savepoint and every checkpoint in
    /// `pinned`; deletes the other complete checkpoints and every incomplete checkpoint older
    /// than the newest complete one (a manifest that cannot be decoded is deleted too), then
    /// frees the blobs no remaining checkpoint references.
    pub fn retain(
        &self,
        job: JobId,
        keep: usize,
        pinned: &[CheckpointId],
    ) -> Result<(), CheckpointStoreError> {
        let _exclusive = self.exclusive();
        let mut complete = Vec::new();
        let mut undecodable = Vec::new();
        for item in self.manifests.scan_prefix(keys::job_prefix(job)) {
            let (key, value) = item.map_err(sled_err(|| format!("{job}: reading manifests")))?;
            let checkpoint = keys::checkpoint_of(&key).unwrap_or_default();
            match decode_record(job, checkpoint, &value) {
                Ok(record) => complete.push((checkpoint, record.manifest.kind)),
                Err(e) => {
                    tracing::error!(%job, %checkpoint, error = %e, "deleting a corrupt manifest");
                    undecodable.push(checkpoint);
                }
            }
        }
        let newest = complete.iter().map(|(id, _)| *id).max();
        let mut doomed = doomed(&complete, keep, pinned);
        doomed.extend(undecodable);
        // Manifests first: a crash after this leaves incomplete checkpoints that the next
        // `retain` deletes.
        for checkpoint in &doomed {
            self.manifests
                .remove(keys::checkpoint_prefix(job, *checkpoint))
                .map_err(sled_err(|| {
                    format!("{job} {checkpoint}: deleting the manifest")
                }))?;
        }
        let complete: HashSet<CheckpointId> = complete.iter().map(|(id, _)| *id).collect();
        for checkpoint in self.state_checkpoints(job)? {
            let stale = !complete.contains(&checkpoint) && newest.is_some_and(|n| checkpoint < n);
            if stale || doomed.contains(&checkpoint) {
                self.remove_state(job, checkpoint)?;
            }
        }
        self.sweep(job)
    }

    /// Drops the state of a checkpoint that will not complete (aborted, timed out) and frees
    /// its blobs that nothing else references. Refused for a complete checkpoint.
    pub fn abort(&self, job: JobId, checkpoint: CheckpointId) -> Result<(), CheckpointStoreError> {
        let _exclusive = self.exclusive();
        if self.is_complete(job, checkpoint)? {
            return Err(CheckpointStoreError::AlreadyComplete {
                job,
                checkpoint,
                action: "aborting",
            });
        }
        self.remove_state(job, checkpoint)?;
        self.sweep(job)
    }

    /// The ids of the checkpoints (complete or not) that have state entries, ascending: one
    /// seek per checkpoint, not one step per entry.
    fn state_checkpoints(&self, job: JobId) -> Result<Vec<CheckpointId>, CheckpointStoreError> {
        let mut ids = Vec::new();
        let mut from = CheckpointId(0);
        loop {
            let next = self
                .state
                .range(keys::checkpoint_prefix(job, from)..)
                .next()
                .transpose()
                .map_err(sled_err(|| {
                    format!("{job}: listing checkpoints with state")
                }))?;
            let Some((key, _)) = next else { break };
            if !key.starts_with(&keys::job_prefix(job)) {
                break;
            }
            let Some(checkpoint) = keys::checkpoint_of(&key) else {
                break;
            };
            ids.push(checkpoint);
            match checkpoint.0.checked_add(1) {
                Some(n) => from = CheckpointId(n),
                None => break,
            }
        }
        Ok(ids)
    }

    /// Deletes every state entry of a checkpoint (its blobs stay until swept).
    fn remove_state(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<(), CheckpointStoreError> {
        let what = || format!("{job} {checkpoint}: deleting state");
        let mut batch = sled::Batch::default();
        for key in self
            .state
            .scan_prefix(keys::checkpoint_prefix(job, checkpoint))
            .keys()
        {
            batch.remove(key.map_err(sled_err(what))?);
        }
        self.state.apply_batch(batch).map_err(sled_err(what))
    }

    /// Frees every blob of the job that no state entry references. The caller holds the
    /// exclusive lock, so no `put_state` is between choosing a blob and referencing it.
    fn sweep(&self, job: JobId) -> Result<(), CheckpointStoreError> {
        let mut referenced = HashSet::new();
        for item in self.state.scan_prefix(keys::job_prefix(job)) {
            let (key, value) = item.map_err(sled_err(|| format!("{job}: reading state")))?;
            let checkpoint = keys::checkpoint_of(&key).unwrap_or_default();
            match self.entry(job, checkpoint, &key, &value) {
                Ok((_, _, chain)) => referenced.extend(chain.blobs()),
                // An unreadable reference keeps nothing alive: it can never be restored.
                Err(e) if e.is_corruption() => {
                    tracing::error!(error = %e, "ignoring a corrupt state reference")
                }
                Err(e) => return Err(e),
            }
        }
        let what = || format!("{job}: freeing unreferenced blobs");
        let mut batch = sled::Batch::default();
        let mut freed = 0;
        for key in self.blobs.scan_prefix(keys::index_prefix(job)).keys() {
            let key = key.map_err(sled_err(what))?;
            let Some(blob) = BlobId::from_index_key(&key) else {
                continue;
            };
            if !referenced.contains(&blob) {
                batch.remove(&blob.index_key(job));
                batch.remove(&blob.data_key(job));
                freed += blob.len;
            }
        }
        self.blobs.apply_batch(batch).map_err(sled_err(what))?;
        tracing::debug!(%job, freed_bytes = freed, "swept checkpoint blobs");
        Ok(())
    }
}

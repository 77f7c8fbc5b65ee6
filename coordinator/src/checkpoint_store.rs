//! Durable checkpoint storage in the coordinator's sled database (DESIGN §5): the state each
//! operator snapshotted per key group, content-addressed blobs shared between incremental
//! checkpoints, and the manifests that make checkpoints complete.
//!
//! A checkpoint is written in two steps: [`CheckpointStore::put_state`] for every key group of
//! every operator (cheap, never flushed), then [`CheckpointStore::complete`], which flushes,
//! writes the manifest and flushes again, so a manifest never points at state that a crash
//! could lose. Blobs are keyed by their content hash and length, so an unchanged key group
//! costs a reference and no new bytes, and the hash doubles as the checksum verified on every
//! read: a corrupt or truncated blob makes [`CheckpointStore::latest_valid`] fall back to an
//! older checkpoint. [`CheckpointStore::retain`] prunes old checkpoints and sweeps the blobs
//! nothing references any more; a summary of every completed checkpoint outlives it in the
//! job's history (`history.rs`). The key layout is described in `checkpoint_store/keys.rs`.

mod blobs;
mod chains;
mod error;
mod history;
mod keys;
mod retention;

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use chains::{should_compact, MAX_CHAIN_PIECES};
pub use error::CheckpointStoreError;
pub use history::HISTORY_KEPT;

use chains::Chain;
use error::sled_err;
use keys::BlobId;
use quiver_protocol::codec::{self, CodecError};
use quiver_protocol::messages::{CheckpointInfo, SnapshotKind};
use quiver_protocol::{CheckpointId, Generation, JobId, KeyGroup};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What makes a checkpoint or savepoint complete: written once every partition acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The job.
    pub job: JobId,
    /// The checkpoint (savepoints share the id sequence).
    pub checkpoint: CheckpointId,
    /// The job generation that took it.
    pub generation: Generation,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Completion time, ms since the epoch.
    pub completed_at_ms: u64,
    /// From trigger to the last acknowledgement, ms.
    pub duration_ms: u64,
    /// Operators by name with the parallelism they had (rescaling restores by key group).
    pub operators: Vec<(String, u32)>,
    /// The job's number of key groups.
    pub max_parallelism: u32,
}

/// One operator's state in one checkpoint, compared by content ([`CheckpointStore::state_fingerprint`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateFingerprint {
    pieces: Vec<(KeyGroup, Vec<BlobId>)>,
    bytes: u64,
}

impl StateFingerprint {
    /// Whether the operator has no state in the checkpoint.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Bytes of the distinct blobs the state references (the header pieces included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether the state differs from `other`'s (`None`: there is nothing to compare with).
    pub fn changed_since(&self, other: Option<&StateFingerprint>) -> bool {
        other.is_none_or(|other| other.pieces != self.pieces)
    }
}

/// A manifest as stored, with the sizes `list` reports.
#[derive(Debug, Serialize, Deserialize)]
struct ManifestRecord {
    manifest: Manifest,
    /// Bytes of the distinct blobs it references.
    bytes: u64,
    /// Bytes of the distinct blobs it wrote first.
    new_bytes: u64,
}

impl ManifestRecord {
    /// What `quiver checkpoint list` shows of it.
    fn info(&self) -> CheckpointInfo {
        let m = &self.manifest;
        CheckpointInfo {
            checkpoint: m.checkpoint,
            generation: m.generation,
            kind: m.kind,
            completed_at_ms: m.completed_at_ms,
            duration_ms: m.duration_ms,
            bytes: self.bytes,
            new_bytes: self.new_bytes,
        }
    }
}

/// Checkpoint state, blobs and manifests of every job, in trees of the coordinator's sled
/// database. Cloning is cheap and clones share everything.
#[derive(Clone)]
pub struct CheckpointStore {
    db: sled::Db,
    /// `job ‖ checkpoint` → [`ManifestRecord`].
    manifests: sled::Tree,
    /// `job ‖ checkpoint ‖ operator ‖ key group` → a chain of [`BlobId`]s.
    state: sled::Tree,
    /// Blob index entries and blob bytes.
    blobs: sled::Tree,
    /// Summaries of completed checkpoints, kept after retention (`history`).
    history: sled::Tree,
    /// Shared by writers of state, held alone by the sweeps of `retain` and `abort`, so a
    /// sweep never frees a blob that a concurrent `put_state` has just decided to reference.
    sweep: Arc<RwLock<()>>,
}

impl CheckpointStore {
    /// Opens (or creates) the checkpoint trees in the coordinator's database.
    pub fn open(db: &sled::Db) -> Result<CheckpointStore, CheckpointStoreError> {
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(sled_err(|| format!("opening tree {name}")))
        };
        Ok(CheckpointStore {
            db: db.clone(),
            manifests: tree("checkpoint_manifests")?,
            state: tree("checkpoint_state")?,
            blobs: tree("checkpoint_blobs")?,
            history: tree("checkpoint_history")?,
            sweep: Arc::new(RwLock::new(())),
        })
    }

    fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.sweep.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.sweep.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores one key group's state of one operator for `checkpoint` (not yet complete). If a
    /// blob with the same bytes is stored for the job already (typically the same key group
    /// in the previous checkpoint), only a reference to it is written. Putting the same key
    /// group twice keeps the last bytes. Nothing is flushed until [`Self::complete`].
    pub fn put_state(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        group: KeyGroup,
        bytes: &[u8],
    ) -> Result<(), CheckpointStoreError> {
        let _shared = self.shared();
        self.refuse_if_complete(job, checkpoint)?;
        let blob = self.store_blob(job, checkpoint, operator, group, bytes)?;
        self.write_chain(job, checkpoint, operator, group, &Chain::whole(blob))
    }

    /// Refuses to put state into a checkpoint that is already complete.
    fn refuse_if_complete(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<(), CheckpointStoreError> {
        if self.is_complete(job, checkpoint)? {
            return Err(CheckpointStoreError::AlreadyComplete {
                job,
                checkpoint,
                action: "putting state",
            });
        }
        Ok(())
    }

    /// Whether `checkpoint` has a manifest (its blobs are not verified).
    pub fn is_complete(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<bool, CheckpointStoreError> {
        self.manifests
            .contains_key(keys::checkpoint_prefix(job, checkpoint))
            .map_err(sled_err(|| {
                format!("{job} {checkpoint}: reading the manifest")
            }))
    }

    /// Makes a checkpoint complete by writing its manifest atomically, between two flushes.
    /// Its state is what was put for `(job, manifest.checkpoint)`. Completing again with the
    /// same manifest is a no-op; with another one, an error.
    pub fn complete(&self, job: JobId, manifest: &Manifest) -> Result<(), CheckpointStoreError> {
        let checkpoint = manifest.checkpoint;
        if manifest.job != job {
            return Err(CheckpointStoreError::JobMismatch {
                job,
                manifest_job: manifest.job,
            });
        }
        let _shared = self.shared();
        if let Some(existing) = self.record(job, checkpoint)? {
            if existing.manifest == *manifest {
                return Ok(());
            }
            return Err(CheckpointStoreError::AlreadyComplete {
                job,
                checkpoint,
                action: "completing with another manifest",
            });
        }
        let (bytes, new_bytes) = self.sizes(job, checkpoint)?;
        let record = ManifestRecord {
            manifest: manifest.clone(),
            bytes,
            new_bytes,
        };
        if let Err(e) = self.remember(job, &record.info()) {
            // The history is informative: the checkpoint completes without it.
            tracing::warn!("{job} {checkpoint}: not added to the history: {e}");
        }
        let value = codec::encode(&record).map_err(|source| CheckpointStoreError::Encode {
            job,
            checkpoint,
            what: "manifest",
            source,
        })?;
        let flush = || {
            self.db
                .flush()
                .map_err(sled_err(|| format!("{job} {checkpoint}: flushing")))
        };
        flush()?;
        self.manifests
            .insert(keys::checkpoint_prefix(job, checkpoint), value)
            .map_err(sled_err(|| {
                format!("{job} {checkpoint}: writing the manifest")
            }))?;
        flush()?;
        Ok(())
    }

    /// Bytes of the distinct blobs a checkpoint references, and of those it wrote first. The
    /// blobs it wrote are read back against their checksums first: one stored corrupt fails
    /// the checkpoint here instead of being found only when a recovery needs it.
    fn sizes(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<(u64, u64), CheckpointStoreError> {
        let mut seen = HashSet::new();
        let (mut bytes, mut new_bytes) = (0, 0);
        for item in self
            .state
            .scan_prefix(keys::checkpoint_prefix(job, checkpoint))
        {
            let (key, value) =
                item.map_err(sled_err(|| format!("{job} {checkpoint}: reading state")))?;
            let (operator, group, chain) = self.entry(job, checkpoint, &key, &value)?;
            for blob in chain.blobs() {
                if seen.insert(blob) {
                    bytes += blob.len;
                    if self.creator(job, blob)? == Some(checkpoint) {
                        self.checked_blob(job, checkpoint, &operator, group, blob)?;
                        new_bytes += blob.len;
                    }
                }
            }
        }
        Ok((bytes, new_bytes))
    }

    /// The operator, key group and chain of a state entry.
    fn entry(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        key: &[u8],
        value: &[u8],
    ) -> Result<(String, KeyGroup, Chain), CheckpointStoreError> {
        let corrupt = |what: String, source| CheckpointStoreError::CorruptRecord {
            job,
            checkpoint,
            what,
            source,
        };
        let (operator, group) = keys::parse_state_key(key).ok_or_else(|| {
            let reason = format!("malformed key {key:02x?}");
            corrupt("state key".into(), CodecError::Malformed { reason })
        })?;
        let chain = codec::decode(value)
            .map_err(|e| corrupt(format!("state reference of '{operator}' {group}"), e))?;
        Ok((operator, group, chain))
    }

    /// The stored record of a complete checkpoint.
    fn record(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<Option<ManifestRecord>, CheckpointStoreError> {
        let Some(value) = self
            .manifests
            .get(keys::checkpoint_prefix(job, checkpoint))
            .map_err(sled_err(|| {
                format!("{job} {checkpoint}: reading the manifest")
            }))?
        else {
            return Ok(None);
        };
        decode_record(job, checkpoint, &value).map(Some)
    }

    /// Checks every blob of a checkpoint against its checksum.
    fn verify(&self, job: JobId, checkpoint: CheckpointId) -> Result<(), CheckpointStoreError> {
        let mut verified = HashSet::new();
        for item in self
            .state
            .scan_prefix(keys::checkpoint_prefix(job, checkpoint))
        {
            let (key, value) =
                item.map_err(sled_err(|| format!("{job} {checkpoint}: reading state")))?;
            let (operator, group, chain) = self.entry(job, checkpoint, &key, &value)?;
            for blob in chain.blobs() {
                if verified.insert(blob) {
                    self.checked_blob(job, checkpoint, &operator, group, blob)?;
                }
            }
        }
        Ok(())
    }

    /// The newest complete checkpoint or savepoint whose every blob passes its checksum. A
    /// corrupt one is logged (naming the checkpoint and the bad blob) and skipped.
    pub fn latest_valid(&self, job: JobId) -> Result<Option<Manifest>, CheckpointStoreError> {
        for item in self.manifests.scan_prefix(keys::job_prefix(job)).rev() {
            let (key, value) = item.map_err(sled_err(|| format!("{job}: reading manifests")))?;
            let checkpoint = keys::checkpoint_of(&key).unwrap_or_default();
            let checked = decode_record(job, checkpoint, &value)
                .and_then(|record| self.verify(job, checkpoint).map(|()| record.manifest));
            match checked {
                Ok(manifest) => return Ok(Some(manifest)),
                Err(e) if e.is_corruption() => tracing::error!(
                    %job, %checkpoint, error = %e,
                    "checkpoint is corrupt and cannot be restored; falling back to the previous \
                     complete checkpoint"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// A complete checkpoint or savepoint by id, every blob verified (an error if one is
    /// corrupt); `None` if it is not complete or was pruned.
    pub fn manifest(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
    ) -> Result<Option<Manifest>, CheckpointStoreError> {
        let Some(record) = self.record(job, checkpoint)? else {
            return Ok(None);
        };
        self.verify(job, checkpoint)?;
        Ok(Some(record.manifest))
    }

    /// The state of `operator` in `checkpoint` for the key groups in `groups` that have state,
    /// in key group order, checksums verified: each group's pieces in the order a restore
    /// applies them (one piece for an operator that snapshots whole; a chain of base, deltas
    /// and header for a keyed-state operator).
    pub fn read_state(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        groups: Range<u32>,
    ) -> Result<Vec<(KeyGroup, Vec<u8>)>, CheckpointStoreError> {
        let mut out = Vec::new();
        for (group, chain) in self.chains(job, checkpoint, operator, groups)? {
            for blob in chain.blobs() {
                let bytes = self.checked_blob(job, checkpoint, operator, group, blob)?;
                out.push((group, bytes.to_vec()));
            }
        }
        Ok(out)
    }

    /// The chains of `operator` in `checkpoint` for the key groups in `groups`, in key group
    /// order.
    fn chains(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        groups: Range<u32>,
    ) -> Result<Vec<(KeyGroup, Chain)>, CheckpointStoreError> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = keys::operator_prefix(job, checkpoint, operator)?;
        let bound = |group: u32| {
            let mut key = prefix.clone();
            key.extend_from_slice(&group.to_be_bytes());
            key
        };
        let mut out = Vec::new();
        for item in self.state.range(bound(groups.start)..bound(groups.end)) {
            let (key, value) = item.map_err(sled_err(|| {
                format!("{job} {checkpoint}: reading state of '{operator}'")
            }))?;
            let (_, group, chain) = self.entry(job, checkpoint, &key, &value)?;
            out.push((group, chain));
        }
        Ok(out)
    }

    /// What identifies `operator`'s state in `checkpoint`: its pieces per key group (without
    /// a keyed operator's header piece, which every checkpoint writes anew). Blobs are
    /// content-addressed, so two checkpoints whose fingerprints are equal hold the same state;
    /// unequal fingerprints mostly mean a change (a compacted chain also differs).
    pub fn state_fingerprint(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
    ) -> Result<StateFingerprint, CheckpointStoreError> {
        let chains = self.chains(job, checkpoint, operator, 0..u32::MAX)?;
        let mut fingerprint = StateFingerprint::default();
        let mut seen = HashSet::new();
        for (group, chain) in chains {
            for blob in chain.blobs() {
                if seen.insert(blob) {
                    fingerprint.bytes += blob.len;
                }
            }
            fingerprint.pieces.push((group, chain.pieces));
        }
        Ok(fingerprint)
    }

    /// The complete checkpoints and savepoints of a job, oldest first, with their sizes.
    pub fn list(&self, job: JobId) -> Result<Vec<CheckpointInfo>, CheckpointStoreError> {
        self.manifests
            .scan_prefix(keys::job_prefix(job))
            .map(|item| {
                let (key, value) =
                    item.map_err(sled_err(|| format!("{job}: reading manifests")))?;
                let checkpoint = keys::checkpoint_of(&key).unwrap_or_default();
                Ok(decode_record(job, checkpoint, &value)?.info())
            })
            .collect()
    }

    /// Bytes of every blob the job has stored (complete, incomplete and not yet swept).
    pub fn stored_bytes(&self, job: JobId) -> Result<u64, CheckpointStoreError> {
        let mut total = 0;
        for item in self.blobs.scan_prefix(keys::index_prefix(job)) {
            let (key, _) = item.map_err(sled_err(|| format!("{job}: reading the blob index")))?;
            total += BlobId::from_index_key(&key).map_or(0, |blob| blob.len);
        }
        Ok(total)
    }
}

impl CheckpointStoreError {
    /// Whether the error is stored data failing its checks (a corrupt manifest, reference or
    /// blob), as opposed to the store itself failing.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            CheckpointStoreError::CorruptBlob { .. } | CheckpointStoreError::CorruptRecord { .. }
        )
    }
}

fn decode_record(
    job: JobId,
    checkpoint: CheckpointId,
    value: &[u8],
) -> Result<ManifestRecord, CheckpointStoreError> {
    codec::decode(value).map_err(|source| CheckpointStoreError::CorruptRecord {
        job,
        checkpoint,
        what: "manifest".into(),
        source,
    })
}

//! The byte layout of the checkpoint trees' keys. Every integer is big-endian, so sled's
//! lexicographic order is numeric order and ranges (a job, a checkpoint, an operator's key
//! groups) are contiguous scans.
//!
//! - `checkpoint_manifests`: `job u64 ‖ checkpoint u64` → a manifest record; `checkpoint_history`:
//!   the same key → a summary of a completed checkpoint, kept after retention.
//! - `checkpoint_state`: `job u64 ‖ checkpoint u64 ‖ name length u16 ‖ operator name (UTF-8) ‖
//!   key group u32` → a reference to a blob.
//! - `checkpoint_blobs`: `job u64 ‖ tag u8 ‖ content hash u64 ‖ length u64 ‖ slot u32`, where
//!   tag [`INDEX_TAG`] holds the id of the checkpoint that first wrote the blob (a small entry,
//!   so sweeps and size sums never read blob bytes) and tag [`DATA_TAG`] holds the bytes.

use super::CheckpointStoreError;
use quiver_protocol::{CheckpointId, JobId, KeyGroup};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Tag of a blob's index entry.
const INDEX_TAG: u8 = 0;
/// Tag of a blob's bytes.
const DATA_TAG: u8 = 1;

/// The longest operator name a state key can hold.
pub(super) const MAX_OPERATOR_NAME: usize = u16::MAX as usize;

/// Bytes of `job ‖ checkpoint`.
pub(super) const CHECKPOINT_PREFIX_LEN: usize = 16;

/// Bytes of a blob key.
const BLOB_KEY_LEN: usize = 8 + 1 + 8 + 8 + 4;

/// `job`, the prefix of everything a job owns in each tree.
pub(super) fn job_prefix(job: JobId) -> [u8; 8] {
    job.0.to_be_bytes()
}

/// `job ‖ checkpoint`: a manifest's key, and the prefix of a checkpoint's state keys.
pub(super) fn checkpoint_prefix(
    job: JobId,
    checkpoint: CheckpointId,
) -> [u8; CHECKPOINT_PREFIX_LEN] {
    let mut key = [0; CHECKPOINT_PREFIX_LEN];
    key[..8].copy_from_slice(&job.0.to_be_bytes());
    key[8..].copy_from_slice(&checkpoint.0.to_be_bytes());
    key
}

/// The checkpoint id in a key that starts with `job ‖ checkpoint`.
pub(super) fn checkpoint_of(key: &[u8]) -> Option<CheckpointId> {
    let bytes = key.get(8..CHECKPOINT_PREFIX_LEN)?;
    Some(CheckpointId(u64::from_be_bytes(bytes.try_into().ok()?)))
}

/// `job ‖ checkpoint ‖ name length ‖ name`: the prefix of one operator's state keys.
pub(super) fn operator_prefix(
    job: JobId,
    checkpoint: CheckpointId,
    operator: &str,
) -> Result<Vec<u8>, CheckpointStoreError> {
    if operator.len() > MAX_OPERATOR_NAME {
        return Err(CheckpointStoreError::OperatorName {
            operator: operator.chars().take(64).collect(),
            len: operator.len(),
        });
    }
    let len = operator.len() as u16;
    let mut key = Vec::with_capacity(CHECKPOINT_PREFIX_LEN + 2 + operator.len() + 4);
    key.extend_from_slice(&checkpoint_prefix(job, checkpoint));
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(operator.as_bytes());
    Ok(key)
}

/// The state key of one key group of an operator.
pub(super) fn state_key(
    job: JobId,
    checkpoint: CheckpointId,
    operator: &str,
    group: KeyGroup,
) -> Result<Vec<u8>, CheckpointStoreError> {
    let mut key = operator_prefix(job, checkpoint, operator)?;
    key.extend_from_slice(&group.0.to_be_bytes());
    Ok(key)
}

/// The operator name and key group of a state key, `None` if the key is malformed.
pub(super) fn parse_state_key(key: &[u8]) -> Option<(String, KeyGroup)> {
    let rest = key.get(CHECKPOINT_PREFIX_LEN..)?;
    let len = usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?));
    let name = rest.get(2..2 + len)?;
    let group = rest.get(2 + len..)?;
    let group = u32::from_be_bytes(group.try_into().ok()?);
    Some((String::from_utf8(name.to_vec()).ok()?, KeyGroup(group)))
}

/// A stored blob: its content hash (xxh3-64, also its checksum), its length, and a slot that
/// tells apart different contents with the same hash and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(super) struct BlobId {
    /// xxh3-64 of the bytes.
    pub(super) hash: u64,
    /// Number of bytes.
    pub(super) len: u64,
    /// 0 unless another content with the same hash and length was stored first.
    pub(super) slot: u32,
}

impl BlobId {
    fn key(&self, job: JobId, tag: u8) -> [u8; BLOB_KEY_LEN] {
        let mut key = [0; BLOB_KEY_LEN];
        key[..8].copy_from_slice(&job.0.to_be_bytes());
        key[8] = tag;
        key[9..17].copy_from_slice(&self.hash.to_be_bytes());
        key[17..25].copy_from_slice(&self.len.to_be_bytes());
        key[25..].copy_from_slice(&self.slot.to_be_bytes());
        key
    }

    /// The key of its bytes.
    pub(super) fn data_key(&self, job: JobId) -> [u8; BLOB_KEY_LEN] {
        self.key(job, DATA_TAG)
    }

    /// The key of its index entry.
    pub(super) fn index_key(&self, job: JobId) -> [u8; BLOB_KEY_LEN] {
        self.key(job, INDEX_TAG)
    }

    /// The blob an index key names, `None` if the key is malformed.
    pub(super) fn from_index_key(key: &[u8]) -> Option<BlobId> {
        if key.len() != BLOB_KEY_LEN || key[8] != INDEX_TAG {
            return None;
        }
        Some(BlobId {
            hash: u64::from_be_bytes(key[9..17].try_into().ok()?),
            len: u64::from_be_bytes(key[17..25].try_into().ok()?),
            slot: u32::from_be_bytes(key[25..].try_into().ok()?),
        })
    }
}

/// The prefix of a job's blob index entries.
pub(super) fn index_prefix(job: JobId) -> [u8; 9] {
    let mut key = [0; 9];
    key[..8].copy_from_slice(&job.0.to_be_bytes());
    key[8] = INDEX_TAG;
    key
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blob {:016x}/{}", self.hash, self.len)?;
        if self.slot > 0 {
            write!(f, "#{}", self.slot)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_keys_round_trip_and_sort_by_group() {
        let (job, chk) = (JobId(7), CheckpointId(3));
        let a = state_key(job, chk, "agg", KeyGroup(2)).unwrap();
        let b = state_key(job, chk, "agg", KeyGroup(256)).unwrap();
        assert!(a < b, "group 2 sorts before group 256");
        assert_eq!(
            parse_state_key(&b),
            Some(("agg".to_string(), KeyGroup(256)))
        );
        assert_eq!(checkpoint_of(&a), Some(chk));
        assert!(a.starts_with(&operator_prefix(job, chk, "agg").unwrap()));
        assert!(!a.starts_with(&operator_prefix(job, chk, "ag").unwrap()));
        assert!(state_key(job, CheckpointId(2), "zzz", KeyGroup(9)).unwrap() < a);
    }

    #[test]
    fn blob_index_keys_round_trip() {
        let id = BlobId {
            hash: u64::MAX - 1,
            len: 1 << 40,
            slot: 3,
        };
        assert_eq!(BlobId::from_index_key(&id.index_key(JobId(1))), Some(id));
        assert_eq!(BlobId::from_index_key(&id.data_key(JobId(1))), None);
        assert!(id.index_key(JobId(1)).starts_with(&index_prefix(JobId(1))));
    }

    #[test]
    fn overlong_operator_names_are_refused() {
        let name = "x".repeat(MAX_OPERATOR_NAME + 1);
        let err = state_key(JobId(1), CheckpointId(1), &name, KeyGroup(0)).unwrap_err();
        assert!(err.to_string().contains("65536"), "{err}");
    }
}

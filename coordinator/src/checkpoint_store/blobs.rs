//! Content-addressed blobs: writing one only if no blob with the same bytes exists, reading
//! one back with its checksum (the content hash in its key) and length verified.

use super::error::sled_err;
use super::keys::BlobId;
use super::{CheckpointStore, CheckpointStoreError};
use quiver_protocol::{CheckpointId, JobId, KeyGroup};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use xxhash_rust::xxh3::xxh3_64;

impl CheckpointStore {
    /// The blob holding `bytes`: an existing one with equal bytes, or a new one written with
    /// `checkpoint` as its creator. Different bytes with the same hash and length take the
    /// next free slot.
    pub(super) fn store_blob(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        group: KeyGroup,
        bytes: &[u8],
    ) -> Result<BlobId, CheckpointStoreError> {
        let hash = xxh3_64(bytes);
        let len = bytes.len() as u64;
        let result = self.blobs.transaction(|tx| {
            for slot in 0..u32::MAX {
                let blob = BlobId { hash, len, slot };
                match tx.get(blob.data_key(job))? {
                    Some(existing) if *existing == *bytes => return Ok(blob),
                    // Other bytes with this hash and length, or a corrupt copy: next slot.
                    Some(_) => continue,
                    None => {
                        tx.insert(&blob.index_key(job), &checkpoint.0.to_be_bytes())?;
                        #[cfg(feature = "chaos")]
                        let bytes = &*crate::chaos::maybe_corrupt(bytes);
                        tx.insert(&blob.data_key(job), bytes)?;
                        return Ok(blob);
                    }
                }
            }
            Err(ConflictableTransactionError::Abort(()))
        });
        result.map_err(|e| match e {
            TransactionError::Storage(source) => CheckpointStoreError::Sled {
                what: format!("{job} {checkpoint}: writing state of '{operator}' {group}"),
                source,
            },
            TransactionError::Abort(()) => CheckpointStoreError::CorruptBlob {
                job,
                checkpoint,
                operator: operator.into(),
                group,
                fault: format!("every slot for hash {hash:016x} and length {len} is taken"),
            },
        })
    }

    /// The bytes of a blob, after checking that they exist, have the blob's length and hash to
    /// its checksum.
    pub(super) fn checked_blob(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        group: KeyGroup,
        blob: BlobId,
    ) -> Result<sled::IVec, CheckpointStoreError> {
        let corrupt = |fault: String| CheckpointStoreError::CorruptBlob {
            job,
            checkpoint,
            operator: operator.into(),
            group,
            fault,
        };
        let bytes = self
            .blobs
            .get(blob.data_key(job))
            .map_err(sled_err(|| {
                format!("{job} {checkpoint}: reading {blob} of '{operator}' {group}")
            }))?
            .ok_or_else(|| corrupt(format!("{blob} is missing")))?;
        let found = bytes.len() as u64;
        if found < blob.len {
            return Err(corrupt(format!(
                "{blob} is truncated: {found} of {} bytes",
                blob.len
            )));
        }
        if found > blob.len {
            return Err(corrupt(format!(
                "{blob} has {found} bytes, {} expected",
                blob.len
            )));
        }
        let hash = xxh3_64(&bytes);
        if hash != blob.hash {
            return Err(corrupt(format!(
                "{blob} fails its checksum: its bytes hash to {hash:016x}"
            )));
        }
        Ok(bytes)
    }

    /// The checkpoint that wrote a blob first, `None` if the blob or its index entry is gone.
    pub(super) fn creator(
        &self,
        job: JobId,
        blob: BlobId,
    ) -> Result<Option<CheckpointId>, CheckpointStoreError> {
        let value = self.blobs.get(blob.index_key(job)).map_err(sled_err(|| {
            format!("{job}: reading the index entry of {blob}")
        }))?;
        Ok(value.and_then(|v| {
            let bytes: [u8; 8] = v.as_ref().try_into().ok()?;
            Some(CheckpointId(u64::from_be_bytes(bytes)))
        }))
    }
}

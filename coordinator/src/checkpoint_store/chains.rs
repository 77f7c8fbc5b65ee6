//! Chains of pieces (DESIGN §5, "The keyed-state layer"): what the store keeps per
//! (checkpoint, operator, key group). An operator that snapshots whole keeps one piece per
//! group; a keyed-state operator uploads deltas, and its chain for checkpoint `n` is the chain
//! of the checkpoint the task named as its base, then the group's delta (if the group changed;
//! a base piece, when the task copied its whole state, starts the chain again), then the
//! operator's header piece — so a key group without a change costs one small
//! reference and no bytes.
//!
//! A chain is compacted into one base piece here, off any task, when [`should_compact`] says
//! so: the pieces are the layer's format (`quiver_protocol::state_piece`), so the store can
//! merge them without knowing the operator. Chains of one checkpoint reference blobs that
//! earlier checkpoints wrote; the sweep frees a blob only when no chain of any remaining
//! checkpoint or savepoint references it, so a savepoint keeps its chains alive.

use super::keys::{self, BlobId};
use super::{CheckpointStore, CheckpointStoreError};
use quiver_protocol::codec;
use quiver_protocol::messages::IncrementalState;
use quiver_protocol::state_piece::{Merged, Piece, PieceKind};
use quiver_protocol::state_schema;
use quiver_protocol::{CheckpointId, Generation, JobId, KeyGroup};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most pieces (base and deltas) a chain keeps before it is compacted, whatever their size.
pub const MAX_CHAIN_PIECES: usize = 16;

/// A key group's stored state: pieces in the order a restore applies them, then the header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Chain {
    /// A base (or a first delta) and the deltas after it; a whole piece for other operators.
    pub(super) pieces: Vec<BlobId>,
    /// The keyed-state operator's header piece of this checkpoint.
    pub(super) meta: Option<BlobId>,
}

impl Chain {
    /// A single whole piece.
    pub(super) fn whole(blob: BlobId) -> Chain {
        Chain {
            pieces: vec![blob],
            meta: None,
        }
    }

    /// Every blob, in restore order.
    pub(super) fn blobs(&self) -> impl Iterator<Item = BlobId> + '_ {
        self.pieces.iter().chain(&self.meta).copied()
    }
}

/// Whether a chain whose first piece has `base` bytes and whose later pieces have `deltas`
/// bytes is compacted into one base: when the deltas outweigh the base (so a restore reads at
/// most about twice the state's bytes) or the chain is longer than [`MAX_CHAIN_PIECES`].
pub fn should_compact(base: u64, deltas: &[u64]) -> bool {
    !deltas.is_empty() && (deltas.iter().sum::<u64>() > base || deltas.len() + 1 > MAX_CHAIN_PIECES)
}

/// Whether an uploaded piece (schema-wrapped) is a base: it replaces its chain.
fn is_base(bytes: &[u8]) -> bool {
    state_schema::parts(bytes)
        .ok()
        .and_then(|(_, payload)| Piece::kind_of(payload).ok())
        == Some(PieceKind::Base)
}

impl CheckpointStore {
    /// Stores one keyed-state operator's upload for `checkpoint` (not yet complete), taken by
    /// the job's `generation`: every group of `state.groups` gets the chain of `base` (`(job
    /// that stores it, checkpoint)`; `None`: empty) extended by its delta from `deltas`, if
    /// any, and ends with the header `state.meta`. Blobs of a base stored by another job (a
    /// savepoint the job started from) are copied into this job's store, so its checkpoints
    /// stand alone. A base of this job already pruned is replaced by a newer complete
    /// checkpoint of the same generation ([`CheckpointStore::usable_base`]).
    pub fn put_incremental(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        generation: Generation,
        base: Option<(JobId, CheckpointId)>,
        state: &IncrementalState,
        deltas: &[(KeyGroup, Vec<u8>)],
    ) -> Result<(), CheckpointStoreError> {
        let operator = state.operator.as_str();
        let refuse = |why: String| CheckpointStoreError::Incremental {
            job,
            checkpoint,
            operator: operator.to_string(),
            why,
        };
        if let Some((group, _)) = deltas.iter().find(|(g, _)| !state.groups.contains(&g.0)) {
            return Err(refuse(format!(
                "a delta for {group} is outside the task's key groups {:?}",
                state.groups
            )));
        }
        let _shared = self.shared();
        self.refuse_if_complete(job, checkpoint)?;
        let mut chains = match base {
            Some((owner, from)) => {
                let Some(usable) = self.usable_base(job, checkpoint, generation, (owner, from))?
                else {
                    return Err(refuse(format!(
                        "its base {from} of {owner} is not a complete checkpoint (pruned?)"
                    )));
                };
                self.base_chains(job, checkpoint, (owner, usable), state)?
            }
            None => BTreeMap::new(),
        };
        for (group, bytes) in deltas {
            let blob = self.store_blob(job, checkpoint, operator, *group, bytes)?;
            let pieces = &mut chains.entry(*group).or_default().pieces;
            if is_base(bytes) {
                // The task copied the group whole: the chain starts again from it.
                pieces.clear();
            }
            pieces.push(blob);
        }
        let first = KeyGroup(state.groups.start);
        let meta = self.store_blob(job, checkpoint, operator, first, &state.meta)?;
        for (group, mut chain) in chains {
            chain.pieces = self.compacted(job, checkpoint, operator, group, chain.pieces, meta)?;
            if chain.pieces.is_empty() {
                continue;
            }
            chain.meta = Some(meta);
            self.write_chain(job, checkpoint, operator, group, &chain)?;
        }
        Ok(())
    }

    /// The complete checkpoint whose chains an upload for `checkpoint` extends: its base
    /// `from` while complete; once pruned (a task whose confirmations lag behind retention),
    /// the newest complete checkpoint of `job` after `from` and before `checkpoint` taken by
    /// the same `generation`. That one holds the task's state at its barrier, and the delta
    /// carries every key changed since `from`, so the newer chain plus the delta is the
    /// state at `checkpoint` as well. Another generation's checkpoint (one a recovery skipped
    /// as corrupt) is never used. `None`: no such checkpoint.
    fn usable_base(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        generation: Generation,
        (owner, from): (JobId, CheckpointId),
    ) -> Result<Option<CheckpointId>, CheckpointStoreError> {
        if self.is_complete(owner, from)? {
            return Ok(Some(from));
        }
        if owner != job {
            return Ok(None);
        }
        let newer = self.list(job)?.into_iter().rev().find(|c| {
            from < c.checkpoint && c.checkpoint < checkpoint && c.generation == generation
        });
        Ok(newer.map(|c| c.checkpoint))
    }

    /// The chains (without their headers) `base` holds for the groups of `state`, their blobs
    /// copied into `job`'s store when another job stores them.
    fn base_chains(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        (owner, from): (JobId, CheckpointId),
        state: &IncrementalState,
    ) -> Result<BTreeMap<KeyGroup, Chain>, CheckpointStoreError> {
        let operator = state.operator.as_str();
        let mut chains = BTreeMap::new();
        for (group, chain) in self.chains(owner, from, operator, state.groups.clone())? {
            let mut pieces = chain.pieces;
            if owner != job {
                for blob in &mut pieces {
                    let bytes = self.checked_blob(owner, from, operator, group, *blob)?;
                    *blob = self.store_blob(job, checkpoint, operator, group, &bytes)?;
                }
            }
            chains.insert(group, Chain { pieces, meta: None });
        }
        Ok(chains)
    }

    /// Writes one group's chain for `checkpoint`.
    pub(super) fn write_chain(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        group: KeyGroup,
        chain: &Chain,
    ) -> Result<(), CheckpointStoreError> {
        let key = keys::state_key(job, checkpoint, operator, group)?;
        let value = codec::encode(chain).map_err(|source| CheckpointStoreError::Encode {
            job,
            checkpoint,
            what: "state chain",
            source,
        })?;
        self.state
            .insert(key, value)
            .map_err(super::error::sled_err(|| {
                format!("{job} {checkpoint}: writing state of '{operator}' {group}")
            }))?;
        Ok(())
    }

    /// `pieces` as they are, or compacted into one base (nothing when no entry is live) when
    /// [`should_compact`] says so and every piece carries the same schema.
    fn compacted(
        &self,
        job: JobId,
        checkpoint: CheckpointId,
        operator: &str,
        group: KeyGroup,
        pieces: Vec<BlobId>,
        meta: BlobId,
    ) -> Result<Vec<BlobId>, CheckpointStoreError> {
        let lens: Vec<u64> = pieces.iter().map(|b| b.len).collect();
        let Some((&base, deltas)) = lens.split_first() else {
            return Ok(pieces);
        };
        if !should_compact(base, deltas) {
            return Ok(pieces);
        }
        let bytes = pieces
            .iter()
            .chain([&meta])
            .map(|blob| self.checked_blob(job, checkpoint, operator, group, *blob))
            .collect::<Result<Vec<_>, _>>()?;
        let refuse = |why: String| CheckpointStoreError::Incremental {
            job,
            checkpoint,
            operator: operator.to_string(),
            why: format!("{group}: {why}"),
        };
        let parts = bytes
            .iter()
            .map(|b| state_schema::parts(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(refuse)?;
        let schema = parts[0].0;
        if parts.iter().any(|(s, _)| *s != schema) {
            // Pieces of another schema (a restore that reordered values) stay as they are:
            // only a node can map them.
            return Ok(pieces);
        }
        let mut merged = Merged::default();
        for (_, payload) in &parts {
            merged.apply(Piece::decode(payload).map_err(|e| refuse(e.to_string()))?);
        }
        let merged = merged.finish();
        if merged.entries.is_empty() {
            return Ok(Vec::new());
        }
        let base = state_schema::wrap(schema, &merged.into_base().encode());
        Ok(vec![
            self.store_blob(job, checkpoint, operator, group, &base)?
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_compact_when_deltas_outweigh_the_base_or_grow_long() {
        assert!(!should_compact(100, &[]), "a lone base stays");
        assert!(!should_compact(100, &[40, 60]), "deltas equal to the base");
        assert!(should_compact(100, &[40, 61]));
        let short = vec![1; MAX_CHAIN_PIECES - 1];
        assert!(!should_compact(1000, &short));
        let long = vec![1; MAX_CHAIN_PIECES];
        assert!(should_compact(1000, &long));
    }
}

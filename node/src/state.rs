//! The keyed-state layer (DESIGN §5, "The keyed-state layer"): what keyed operators share to
//! take incremental checkpoints and to restore by key-group range.
//!
//! - [`changes`]: which keys an operator wrote or removed since its last *confirmed*
//!   checkpoint. A table marks a key when it is written ([`ChangedSlots`]); at a barrier the
//!   operator hands the keys marked since the previous barrier to its [`ChangeLog`], which
//!   keeps them until the coordinator confirms that checkpoint (the task's `Commit`), so a
//!   delta after an aborted or expired checkpoint still carries that checkpoint's changes.
//! - [`pieces`]: at the barrier the operator copies only the changed keys' current values
//!   (`None` for a key that is gone: a tombstone) into a [`DeltaCopy`], which is encoded off
//!   the task into one delta piece per changed key group (`quiver_protocol::state_piece`);
//!   the operator's header (its watermark) goes into one header piece. A restore merges each
//!   key group's chain (base, deltas, header) back into entries.
//!
//! - [`ttl`]: `job.state_ttl` — last-write times per key, expiry checks on a [`ttl::Clock`]
//!   read once per batch, and incremental cleanup, for every keyed operator.
//!
//! The coordinator composes the chains (`quiver_coordinator::checkpoint_store`).

pub(crate) mod changes;
pub(crate) mod pieces;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod ttl;

pub(crate) use changes::{ChangeLog, ChangedSlots};
pub(crate) use pieces::{DeltaCopy, KeyedEntry, LayerKey, Restored};

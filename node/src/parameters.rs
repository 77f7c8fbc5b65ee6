//! Parameter servers (design §6, "Parameter servers, versions and swaps"): a learner with
//! additive parameters (`quiver_ml::SharedParameters`) in a job with checkpoints trains one
//! model at any parallelism. The plan adds two hidden operators behind the learner
//! (`quiver_protocol::plan::ParameterPlan`):
//!
//! - its *workers* (the learner's own partitions) learn record by record on a working copy
//!   and push the change since their last push to the shards at every barrier, before the
//!   barrier, as records (`crate::ml_stages` learner, [`WorkerLink`]);
//! - the *shards* (`NAME/params`, [`shard`]) sum the changes per parameter key on the
//!   keyed-state layer (incremental checkpoints, restore and rescale by key group) and
//!   publish the values that changed at every barrier as a *version*, numbered by the
//!   checkpoint whose barrier closed it;
//! - the *feed* (`NAME/versions`, [`feed`]) reads every shard (a broadcast edge); its
//!   partition `p` runs on the node of worker `p` and writes what it reads on the
//!   [`Board`] they share. A worker adopts the newest complete version at a barrier.
//!
//! - what a learner serves ([`serving`]): its latest version, or registered versions
//!   loaded from the checkpoint store, switched at the barrier that carries a new serving
//!   epoch.
//!
//! The worker → shard → feed → board path has no cycle of channels: the board is
//! latest-wins memory, never waited on by a shard, so credit cannot deadlock.

pub(crate) mod board;
pub(crate) mod feed;
pub(crate) mod serving;
pub(crate) mod shard;

pub(crate) use board::{Board, BoardKey, Boards};
pub(crate) use serving::JobServing;

use std::sync::Arc;

/// What a learner partition needs to train through parameter servers.
#[derive(Clone)]
pub(crate) struct WorkerLink {
    /// The board its feed partition writes.
    pub(crate) board: Arc<Board>,
    /// The learner's partitions: with one, its own model is the whole model and it never
    /// adopts a version (only after a restore).
    pub(crate) workers: u32,
    /// This worker's partition.
    pub(crate) partition: u32,
    /// The serving tables and versions of the deployment.
    pub(crate) serving: Arc<JobServing>,
}

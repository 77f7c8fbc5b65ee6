//! The Redis keys of a sink's two-phase commit, and which staged chunks a recovering
//! partition applies or discards.
//!
//! Everything lives under `quiver:{lineage:x}:{sink}:` (the lineage in hex, as the file sink
//! names its files), so runs of other jobs never touch it:
//! - `…:owner`, the fence: a hash naming the run and generation of the job that deployed
//!   the sink last; scripts of another run or an older generation refuse to write;
//! - `…:staged`, the index: a set naming every staged chunk not applied or discarded yet;
//! - `…:staged:g{g}:c{c}:p{p}:k{i}`: chunk `i` of what partition `p` of generation `g`
//!   staged at barrier `c`, a hash from each Redis key to the row's JSON.

use crate::sinks::SinkContext;
use quiver_protocol::{CheckpointId, Generation};

/// The prefix of one sink's commit keys in one lineage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Namespace(String);

impl Namespace {
    /// The namespace of sink `sink` in lineage `lineage`.
    pub(super) fn new(lineage: u64, sink: &str) -> Namespace {
        Namespace(format!("quiver:{lineage:x}:{sink}:"))
    }

    /// The fence: the run and generation owning the sink.
    pub(super) fn owner(&self) -> String {
        format!("{}owner", self.0)
    }

    /// The index of staged chunks.
    pub(super) fn index(&self) -> String {
        format!("{}staged", self.0)
    }

    /// The hash holding `chunk`.
    pub(super) fn chunk(&self, chunk: &Chunk) -> String {
        format!("{}staged:{}", self.0, chunk.member())
    }
}

/// Who writes: a run of the job (a submission, or a resume from a savepoint) in one of its
/// generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Owner {
    /// The run id.
    pub(super) run: u64,
    /// The generation.
    pub(super) generation: Generation,
}

impl Owner {
    /// The run as the owner hash stores it (hex).
    pub(super) fn run(&self) -> String {
        format!("{:x}", self.run)
    }
}

/// One staged chunk. Ordered as chunks are applied: by checkpoint, then generation,
/// partition and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Chunk {
    /// The barrier it was staged at.
    pub(super) checkpoint: CheckpointId,
    /// The generation that staged it.
    pub(super) generation: Generation,
    /// The sink partition that staged it.
    pub(super) partition: u32,
    /// Its position among the chunks of that barrier.
    pub(super) index: u32,
}

impl Chunk {
    /// Its name in the index: `g{g}:c{c}:p{p}:k{i}`.
    pub(super) fn member(&self) -> String {
        format!(
            "g{}:c{}:p{}:k{}",
            self.generation.0, self.checkpoint.0, self.partition, self.index
        )
    }

    /// Reads a name [`Chunk::member`] made; `None` for anything else.
    pub(super) fn parse(member: &str) -> Option<Chunk> {
        let mut fields = member.split(':');
        let mut next = |prefix: char| fields.next()?.strip_prefix(prefix)?.parse::<u64>().ok();
        let chunk = Chunk {
            generation: Generation(next('g')?),
            checkpoint: CheckpointId(next('c')?),
            partition: u32::try_from(next('p')?).ok()?,
            index: u32::try_from(next('k')?).ok()?,
        };
        fields.next().is_none().then_some(chunk)
    }
}

/// What a partition built for a deployment does with the staged chunks it finds.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Settlement {
    /// Chunks of completed checkpoints that were not applied yet, in the order to apply them.
    pub(super) apply: Vec<Chunk>,
    /// Chunks no completed checkpoint covers.
    pub(super) discard: Vec<Chunk>,
}

/// The recovery rule (the file sink's, `file::two_phase`): of the index's `members`, the
/// chunks this partition settles — its own, and for partition 0 those of partitions past the
/// parallelism (left by a deployment with more) — are applied when the restored checkpoint
/// `r` covers them (staged by the generation that took `r`, at a barrier `≤ r`: `r`
/// completed, so they are part of the output, even if their commit never arrived) and
/// discarded otherwise (a later barrier never completed; another generation's chunks were
/// settled by an earlier recovery or never completed). Names that are not chunks are left
/// alone.
pub(super) fn settle<'m>(
    members: impl IntoIterator<Item = &'m str>,
    ctx: &SinkContext,
) -> Settlement {
    let mut settlement = Settlement::default();
    for chunk in members.into_iter().filter_map(Chunk::parse) {
        let p = chunk.partition;
        if p != ctx.partition && !(ctx.partition == 0 && p >= ctx.parallelism) {
            continue;
        }
        let covered = ctx
            .restored
            .is_some_and(|(r, g)| chunk.generation == g && chunk.checkpoint <= r);
        if covered {
            settlement.apply.push(chunk);
        } else {
            settlement.discard.push(chunk);
        }
    }
    settlement.apply.sort();
    settlement.discard.sort();
    settlement
}

#[cfg(test)]
mod tests;

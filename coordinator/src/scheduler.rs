//! Placement of a job's partitions onto nodes: a pure function of the plan's slot needs per
//! pool and the nodes' free slots.
//!
//! Slot sharing as in Flink: partition `p` of every operator of one pool shares one slot, so
//! a job needs, in each pool it uses, as many slots as that pool's largest parallelism, and
//! operators of different pools never share a slot. A pool's partitions take the slots
//! reserved for it first (`--slots training=2`), then shared slots (`--slots 4`), each spread
//! round-robin over the live nodes that have one (sorted by id, so placement is
//! deterministic). Contiguous key-group ranges map to partitions (see
//! `quiver_protocol::keygroup`), so each node ends up owning whole key-group ranges.

use quiver_protocol::plan::Assignment;
use quiver_protocol::{NodeId, NodeSlots, Pool};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

/// A live node and its free slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreeNode {
    /// The node.
    pub node: NodeId,
    /// Its exchange address.
    pub listen: SocketAddr,
    /// Slots not used by other jobs, shared and reserved.
    pub free: NodeSlots,
}

/// A pool whose partitions do not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    /// The pool.
    pub pool: Pool,
    /// Slots the job needs in it (the largest parallelism of its operators).
    pub needed: u32,
    /// Free slots reserved for it on live nodes.
    pub reserved: u32,
    /// Free shared slots on live nodes (all pools draw on them).
    pub shared: u32,
}

/// The cluster cannot host the job now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEnoughSlots {
    /// The pools short of slots.
    pub short: Vec<Shortfall>,
    /// Live nodes with a free slot.
    pub nodes: usize,
}

impl std::error::Error for NotEnoughSlots {}

impl fmt::Display for NotEnoughSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes;
        let [only] = self.short.as_slice() else {
            let pools: Vec<String> = self.short.iter().map(|s| s.to_string()).collect();
            return write!(
                f,
                "the job's pools need more slots than the {} shared slots free on {nodes} live \
                 node(s) can cover: {}; start nodes with reserved slots (`quiver node --slots \
                 POOL=N`) or more shared slots, or lower the parallelism",
                self.short.first().map_or(0, |s| s.shared),
                pools.join("; ")
            );
        };
        if only.pool == Pool::Default && only.reserved == 0 {
            return write!(
                f,
                "the job needs {} slots (its largest parallelism) but the cluster has {} free on \
                 {nodes} live node(s): start more nodes (`quiver node --slots N`) or lower the \
                 parallelism",
                only.needed, only.shared
            );
        }
        write!(
            f,
            "{only} on {nodes} live node(s): start a node with `--slots {}={}` (or more shared \
             slots, `--slots N`) or lower the parallelism of the pool's operators",
            only.pool,
            only.needed.saturating_sub(only.reserved + only.shared)
        )
    }
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pool `{}` needs {} slots (the largest parallelism of its operators) but has {} \
             reserved for it and {} shared free",
            self.pool, self.needed, self.reserved, self.shared
        )
    }
}

/// Places the partitions of each pool in `needed` (pool → slots) on `nodes`.
pub fn schedule(
    needed: &BTreeMap<Pool, u32>,
    nodes: &[FreeNode],
) -> Result<Assignment, NotEnoughSlots> {
    let mut nodes: Vec<FreeNode> = nodes
        .iter()
        .filter(|n| n.free.total() > 0)
        .cloned()
        .collect();
    nodes.sort_by_key(|n| n.node);
    let shared: u32 = nodes.iter().map(|n| n.free.shared).sum();
    let reserved = |pool| nodes.iter().map(|n| n.free.reserved_for(pool)).sum::<u32>();
    // Shared slots are interchangeable, so taking every pool's reserved slots first is the
    // best use of them: the job fits if the pools' overflow fits the shared slots.
    let overflow = |pool, n: u32| n.saturating_sub(reserved(pool));
    let total_overflow: u32 = needed.iter().map(|(p, n)| overflow(*p, *n)).sum();
    if total_overflow > shared || nodes.is_empty() {
        let short = needed
            .iter()
            .filter(|(p, n)| overflow(**p, **n) > 0)
            .map(|(p, n)| Shortfall {
                pool: *p,
                needed: *n,
                reserved: reserved(*p),
                shared,
            })
            .collect();
        return Err(NotEnoughSlots {
            short,
            nodes: nodes.len(),
        });
    }
    let mut free: Vec<NodeSlots> = nodes.iter().map(|n| n.free.clone()).collect();
    let mut partition_nodes = BTreeMap::new();
    for (&pool, &n) in needed {
        let mut placed = Vec::with_capacity(n as usize);
        let from_reserved = n.min(reserved(pool));
        round_robin(from_reserved, &mut placed, &mut free, |slots| {
            slots.reserved.get_mut(&pool)
        });
        round_robin(n - from_reserved, &mut placed, &mut free, |slots| {
            Some(&mut slots.shared)
        });
        partition_nodes.insert(pool, placed);
    }
    Ok(Assignment {
        nodes: nodes.iter().map(|n| (n.node, n.listen)).collect(),
        partition_nodes,
    })
}

/// What is left of a node's `slots` once its jobs took `used` (slots per pool): each pool
/// fills its reserved slots first and overflows into shared ones, as the scheduler placed it.
pub fn free_slots(slots: &NodeSlots, used: &BTreeMap<Pool, u32>) -> NodeSlots {
    let mut free = slots.clone();
    for (pool, taken) in used {
        let reserved = free.reserved.entry(*pool).or_default();
        let overflow = taken.saturating_sub(*reserved);
        *reserved = reserved.saturating_sub(*taken);
        free.shared = free.shared.saturating_sub(overflow);
    }
    free.reserved.retain(|_, n| *n > 0);
    free
}

/// Takes `count` slots from `free` (where `slot` picks the counter of the kind taken),
/// one node after the other, pushing each node's position to `placed`. The caller checked
/// that there are enough.
fn round_robin(
    count: u32,
    placed: &mut Vec<usize>,
    free: &mut [NodeSlots],
    slot: impl Fn(&mut NodeSlots) -> Option<&mut u32>,
) {
    let mut next = 0usize;
    for _ in 0..count {
        for _ in 0..free.len() {
            if slot(&mut free[next]).is_some_and(|n| *n > 0) {
                break;
            }
            next = (next + 1) % free.len();
        }
        let Some(n) = slot(&mut free[next]).filter(|n| **n > 0) else {
            return;
        };
        *n -= 1;
        placed.push(next);
        next = (next + 1) % free.len();
    }
}

#[cfg(test)]
mod tests;

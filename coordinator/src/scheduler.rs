//! Placement of a job's partitions onto nodes: a pure function of the plan and the free slots.
//!
//! Slot sharing as in Flink: partition `p` of every operator shares one slot, so a job needs
//! as many slots as its largest parallelism. Partitions are spread round-robin over the live
//! nodes (sorted by id, so placement is deterministic), skipping nodes without a free slot.
//! Contiguous key-group ranges map to partitions (see `quiver_protocol::keygroup`), so each
//! node ends up owning whole key-group ranges.

use quiver_protocol::plan::Assignment;
use quiver_protocol::NodeId;
use std::net::SocketAddr;

/// A live node and its free slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeNode {
    /// The node.
    pub node: NodeId,
    /// Its exchange address.
    pub listen: SocketAddr,
    /// Slots not used by other jobs.
    pub free_slots: u32,
}

/// The cluster cannot host the job now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the job needs {needed} slots (its largest parallelism) but the cluster has {available} free \
     on {nodes} live node(s): start more nodes (`quiver node --slots N`) or lower the parallelism"
)]
pub struct NotEnoughSlots {
    /// Slots the job needs.
    pub needed: u32,
    /// Free slots on live nodes.
    pub available: u32,
    /// Live nodes.
    pub nodes: usize,
}

/// Places `needed` partition indices on `nodes`.
pub fn schedule(needed: u32, nodes: &[FreeNode]) -> Result<Assignment, NotEnoughSlots> {
    let mut nodes: Vec<FreeNode> = nodes.iter().copied().filter(|n| n.free_slots > 0).collect();
    nodes.sort_by_key(|n| n.node);
    let available: u32 = nodes.iter().map(|n| n.free_slots).sum();
    if available < needed || nodes.is_empty() {
        return Err(NotEnoughSlots {
            needed,
            available,
            nodes: nodes.len(),
        });
    }
    let mut free: Vec<u32> = nodes.iter().map(|n| n.free_slots).collect();
    let mut partition_nodes = Vec::with_capacity(needed as usize);
    let mut next = 0usize;
    for _ in 0..needed {
        while free[next] == 0 {
            next = (next + 1) % nodes.len();
        }
        free[next] -= 1;
        partition_nodes.push(next);
        next = (next + 1) % nodes.len();
    }
    Ok(Assignment {
        nodes: nodes.iter().map(|n| (n.node, n.listen)).collect(),
        partition_nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u64, free_slots: u32) -> FreeNode {
        FreeNode {
            node: NodeId(id),
            listen: SocketAddr::from(([127, 0, 0, 1], 9000 + id as u16)),
            free_slots,
        }
    }

    #[test]
    fn spreads_partitions_round_robin() {
        let a = schedule(4, &[node(2, 4), node(1, 4)]).unwrap();
        assert_eq!(a.nodes[0].0, NodeId(1));
        assert_eq!(a.partition_nodes, vec![0, 1, 0, 1]);
    }

    #[test]
    fn respects_free_slots() {
        let a = schedule(4, &[node(1, 1), node(2, 3)]).unwrap();
        let on = |i: usize| a.partition_nodes.iter().filter(|&&n| n == i).count();
        assert_eq!((on(0), on(1)), (1, 3));
    }

    #[test]
    fn refuses_when_slots_are_short() {
        let e = schedule(5, &[node(1, 2), node(2, 2), node(3, 0)]).unwrap_err();
        assert_eq!((e.needed, e.available, e.nodes), (5, 4, 2));
        assert!(e.to_string().contains("start more nodes"));
    }
}

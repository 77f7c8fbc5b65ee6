//! Lost nodes: declaring a silent node lost, when a node was lost, and forgetting it once
//! that is long past, so `quiver cluster status` lists every node lost lately (with the time)
//! and not every node that ever joined.

use super::Cluster;
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::NodeId;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a lost node stays listed (as lost, with the time) before it is forgotten.
pub const LOST_NODE_RETENTION: Duration = Duration::from_secs(10 * 60);

/// When a node was declared lost.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lost {
    /// On the wall clock, for people.
    at: SystemTime,
    /// On the monotonic clock, for forgetting it.
    since: Instant,
}

impl Lost {
    /// Lost now.
    pub(crate) fn now() -> Lost {
        Lost {
            at: SystemTime::now(),
            since: Instant::now(),
        }
    }

    /// The wall-clock time, in ms since the Unix epoch.
    pub(crate) fn epoch_ms(&self) -> u64 {
        self.at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

impl Cluster {
    /// The heartbeat interval and timeout the nodes are told.
    pub(crate) fn heartbeats(&self) -> Heartbeats {
        self.heartbeats
    }

    /// Declares lost every node whose last heartbeat is more than the timeout before `now`.
    pub(crate) fn lose_silent_nodes(&mut self, now: Instant) {
        let timeout = self.heartbeats.timeout();
        let silent: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.lost.is_none() && now.saturating_duration_since(n.last_heartbeat) > timeout
            })
            .map(|(id, _)| *id)
            .collect();
        for node in silent {
            self.node_lost(
                node,
                &format!("no heartbeat for {} ms", timeout.as_millis()),
            );
        }
    }

    /// Forgets the nodes lost at least [`LOST_NODE_RETENTION`] before `now`.
    pub(crate) fn forget_lost_nodes(&mut self, now: Instant) {
        self.nodes.retain(|node, n| match n.lost {
            Some(lost) if now.saturating_duration_since(lost.since) >= LOST_NODE_RETENTION => {
                tracing::info!(
                    "{node} forgotten: lost {} s ago",
                    LOST_NODE_RETENTION.as_secs()
                );
                false
            }
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests;

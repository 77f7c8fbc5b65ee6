//! The partitions of one source on the same node read in step.
//!
//! Each partition publishes its alignment watermark (the slowest of its reading splits, see
//! [`crate::watermark::splits`]) after every read, and learns the slowest of the others; a
//! split too far ahead of that waits ([`crate::watermark::splits::SplitTimes::in_step`]).
//! Without it, the partition the scheduler happens to favour runs ahead, and every consumer
//! with inputs from several partitions keeps the records between the slowest and the fastest
//! in its window state: W1 at parallelism 2 held hundreds of pending windows and spent ~3×
//! the CPU per event of parallelism 1 in its window stage.
//!
//! Partitions on other nodes count through their channels to this node: the exchange
//! passes on the watermarks it receives from them ([`SourcePeers::heard`]), so partitions on
//! different nodes read in step too. A partition on another node whose channels have brought
//! nothing yet holds nobody back.
//!
//! What a channel brings is late: it holds up to [`CHANNEL_CREDITS`] of the other partition's
//! elements in flight, and each of that partition's reads sends at least one, so the partition
//! may be up to that many reads further than heard. It counts as being there: at the heard
//! watermark plus [`CHANNEL_CREDITS`] times the step of the partition asking (how far its own
//! watermark rose at its last move; a source's partitions read alike). Counted as heard, a
//! partition on another node looked a few batches behind all the time, and the one here waited
//! at nearly every read: W1 on two nodes slept ~2,500 times per node for a message from the
//! other (BENCHMARKS.md).
//!
//! With `max_drift` the coordinator also relays every partition's watermark, a quarter of
//! `max_drift` (or a heartbeat) behind at most ([`slowest_elsewhere`]); for the partitions
//! here, this module's first-hand watermarks stand in for the relay, and with all of them here
//! the relay is not waited for at all ([`SourcePeers::all_here`]).
//!
//! A waiting partition registers under the same lock that read the slowest value it waits
//! on, so a peer that moves after the check always finds it and wakes it. The slowest
//! partition never waits on its peers (a split of it is never ahead of itself), so someone
//! always reads; a partition that finished, or has no split, publishes +∞.

use super::credit::CHANNEL_CREDITS;
use quiver_protocol::PartitionId;
use std::sync::Mutex;

/// The slowest of a source's partitions on other nodes, from the reports the coordinator
/// relays for `max_drift` (`watermarks`, one per partition; `here` tells the partitions on this
/// node); +∞ when no other node runs one. The partitions here are left out: they read in step
/// ([`SourcePeers`]), which knows their watermarks first-hand after every read where the relay
/// lags by up to a quarter of `max_drift` or a heartbeat (250 ms). Counted from the relay as
/// well, they let a split move on by at most `max_drift` of event time per relay: W1 with
/// `max_drift = "10s"` read 40,000 events/s in `quiver local` (BENCHMARKS.md).
pub(crate) fn slowest_elsewhere(
    watermarks: &[(PartitionId, i64)],
    here: impl Fn(PartitionId) -> bool,
) -> i64 {
    watermarks
        .iter()
        .filter(|(p, _)| !here(*p))
        .map(|&(_, w)| w)
        .min()
        .unwrap_or(i64::MAX)
}

/// The alignment watermarks of a source's partitions on this node, and the partitions
/// waiting for the slowest of the others to move. `W` wakes a waiting partition.
pub(crate) struct SourcePeers<W> {
    state: Mutex<Peers<W>>,
    /// Every partition of the source is on this node.
    all_here: bool,
}

struct Peers<W> {
    /// By partition index: the last watermark published (−∞ before the first); for a
    /// partition on another node, the highest seen on its channels here (+∞ before any).
    watermarks: Vec<i64>,
    /// Partitions on other nodes whose watermark came over a channel.
    heard: Vec<bool>,
    /// By partition here: how far its watermark rose at its last move (0 before one).
    steps: Vec<i64>,
    /// Partitions waiting, with what wakes them (at most one entry per partition).
    waiting: Vec<(usize, W)>,
}

impl<W> Peers<W> {
    /// The slowest watermark of every partition but `me` (+∞ when there is none), one on
    /// another node counted [`CHANNEL_CREDITS`] of `me`'s steps past what was heard (module
    /// doc).
    fn slowest_besides(&self, me: usize) -> i64 {
        let lead = self
            .steps
            .get(me)
            .map_or(0, |&step| step.saturating_mul(i64::from(CHANNEL_CREDITS)));
        self.watermarks
            .iter()
            .zip(&self.heard)
            .enumerate()
            .filter(|&(i, _)| i != me)
            .map(|(_, (&w, &heard))| if heard { w.saturating_add(lead) } else { w })
            .min()
            .unwrap_or(i64::MAX)
    }
}

impl<W> SourcePeers<W> {
    /// The partitions `local` of a source of `parallelism` partitions are on this node.
    pub(crate) fn new(parallelism: usize, local: impl IntoIterator<Item = usize>) -> Self {
        let mut watermarks = vec![i64::MAX; parallelism];
        for p in local {
            if let Some(w) = watermarks.get_mut(p) {
                *w = i64::MIN;
            }
        }
        SourcePeers {
            // Partitions on other nodes start at +∞.
            all_here: watermarks.iter().all(|&w| w == i64::MIN),
            state: Mutex::new(Peers {
                heard: vec![false; parallelism],
                steps: vec![0; parallelism],
                watermarks,
                waiting: Vec::new(),
            }),
        }
    }

    /// Whether every partition of the source is on this node (then nothing relayed about the
    /// others adds to what this knows first-hand; see [`slowest_elsewhere`]).
    pub(crate) fn all_here(&self) -> bool {
        self.all_here
    }

    /// A channel from partition `from` on another node brought its watermark `watermark`
    /// (+∞: it ended, or went idle). Channels lag the partition a little and several bring
    /// the same watermarks, so its value only rises, from the first one heard. Returns the
    /// waiting partitions to wake when it rose.
    pub(crate) fn heard(&self, from: usize, watermark: i64) -> Vec<W> {
        let mut peers = self.lock();
        let Some(first) = peers
            .heard
            .get_mut(from)
            .map(|h| !std::mem::replace(h, true))
        else {
            return Vec::new();
        };
        let known = &mut peers.watermarks[from];
        if !first && *known >= watermark {
            return Vec::new();
        }
        *known = watermark;
        std::mem::take(&mut peers.waiting)
            .into_iter()
            .map(|(_, w)| w)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Peers<W>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Partition `me` is at `watermark` now. Returns the slowest watermark of the others,
    /// and the waiting partitions to wake when `me` moved (they look again).
    pub(crate) fn publish(&self, me: usize, watermark: i64) -> (i64, Vec<W>) {
        let mut peers = self.lock();
        let Some(&before) = peers.watermarks.get(me).filter(|&&w| w != watermark) else {
            return (peers.slowest_besides(me), Vec::new());
        };
        peers.watermarks[me] = watermark;
        if before > i64::MIN && watermark < i64::MAX && watermark > before {
            peers.steps[me] = watermark - before;
        }
        let slowest = peers.slowest_besides(me);
        let (wake, keep) = std::mem::take(&mut peers.waiting)
            .into_iter()
            .partition(|(p, _)| *p != me);
        peers.waiting = keep;
        (slowest, wake.into_iter().map(|(_, w)| w).collect())
    }

    /// Partition `me` last saw the others' slowest watermark at `seen` and waits for it to
    /// move: `waker` is kept to wake it then, unless it has moved already — then the new
    /// value is returned and nothing is kept.
    pub(crate) fn wait(&self, me: usize, seen: i64, waker: W) -> Option<i64> {
        let mut peers = self.lock();
        let slowest = peers.slowest_besides(me);
        if slowest != seen {
            return Some(slowest);
        }
        peers.waiting.retain(|(p, _)| *p != me);
        peers.waiting.push((me, waker));
        None
    }
}

#[cfg(test)]
mod tests;

//! Test doubles of the layer's surroundings: a clock set by hand, and the coordinator's
//! chains of pieces.

use crate::operator::{Changes, KeyGroupState, SavedState};
use crate::state::ttl::Clock;
use quiver_protocol::KeyGroup;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock the test sets by hand.
#[derive(Default)]
pub(crate) struct TestClock(AtomicI64);

impl TestClock {
    pub(crate) fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The coordinator's chains, as a model: per complete checkpoint, each key group's pieces
/// (without the header) and the header of the checkpoint.
#[derive(Default)]
pub(crate) struct Chains {
    complete: BTreeMap<u64, (GroupChains, Vec<u8>)>,
}

/// Each key group's pieces, in order.
type GroupChains = BTreeMap<KeyGroup, Vec<Vec<u8>>>;

impl Chains {
    /// Checkpoint `n` completes: the chains of `base`, each changed group's delta appended.
    pub(crate) fn complete(&mut self, n: u64, base: Option<u64>, changes: Changes) {
        let mut chains = base.map_or_else(BTreeMap::new, |b| self.complete[&b].0.clone());
        for delta in changes.deltas {
            chains.entry(delta.group).or_default().push(delta.bytes);
        }
        self.complete.insert(n, (chains, changes.meta));
    }

    /// What a partition owning `groups` restores from checkpoint `n`.
    pub(crate) fn restore(&self, n: u64, groups: std::ops::Range<u32>) -> SavedState {
        let (chains, meta) = &self.complete[&n];
        let mut pieces = Vec::new();
        for (group, chain) in chains.range(KeyGroup(groups.start)..KeyGroup(groups.end)) {
            for bytes in chain.iter().chain([meta]) {
                pieces.push(KeyGroupState {
                    group: *group,
                    bytes: bytes.clone(),
                });
            }
        }
        pieces.into()
    }
}

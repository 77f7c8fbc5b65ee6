//! State time-to-live of the aggregates: what a key's state is when `job.state_ttl` expires
//! it. The TTL itself (semantics, clock, last writes, incremental cleanup) is the keyed-state
//! layer's (`crate::state::ttl`).
//!
//! - Running aggregate: a key's accumulators.
//! - Windowed aggregates (tumbling, sliding, session): a key's state is all its pending
//!   windows (or open sessions). A record accepted into a window writes the key; a late record
//!   writes nothing. When a key was not written for `ttl`, **its pending windows are dropped
//!   without firing**: a window still open at that point loses its partial result, and a later
//!   record of the key opens fresh windows (a window whose earlier records expired emits only
//!   what came after). This bounds window state by the keys written within one `ttl` even when
//!   the watermark stalls or windows are long; with a `ttl` longer than the windows' span plus
//!   the watermark's lag, only keys whose windows would not fire in time are affected.
//!
//! Expired keys are counted (`state_expired` in the task's metrics, `expired` in `quiver job
//! status`), so a job that drops windows unfired shows it.

use super::key::GroupKey;
use super::table::AccTable;
use crate::state::ttl::Expiry;

/// Last writes per key of a windowed aggregate: a key's pending windows (or sessions) expire
/// together, `ttl` after the last record accepted into any of them.
pub(crate) struct KeyExpiry<K: GroupKey> {
    /// The keys (no accumulators), removable, their slots numbering `expiry`'s times.
    keys: AccTable<K>,
    expiry: Expiry,
}

impl<K: GroupKey> KeyExpiry<K> {
    /// Last writes expiring as `expiry` says.
    pub(crate) fn new(expiry: Expiry) -> KeyExpiry<K> {
        KeyExpiry {
            keys: AccTable::new(&[]),
            expiry,
        }
    }

    /// Reads the clock: the time of the next writes and expiry checks.
    pub(crate) fn tick(&mut self) -> i64 {
        self.expiry.tick()
    }

    /// Whether `key` (whose table hash is `hash`) holds state that has expired.
    #[inline]
    pub(crate) fn is_expired(&self, key: K::Ref<'_>, hash: u64) -> bool {
        self.keys
            .find(key, hash)
            .is_some_and(|slot| self.expiry.expired(self.expiry.written(slot)))
    }

    /// A record was accepted into `key`'s state now.
    #[inline]
    pub(crate) fn write(&mut self, key: K::Ref<'_>, hash: u64) -> Result<(), String> {
        let (_, slot, new) = self.keys.find_or_insert(key, hash)?;
        self.expiry.write(slot, new);
        Ok(())
    }

    /// The last write of `key`, if it has state.
    pub(crate) fn written(&self, key: &K) -> Option<i64> {
        let (slot, _) = self.keys.get(key)?;
        Some(self.expiry.written(slot))
    }

    /// State last written at `written` has expired at the last tick.
    pub(crate) fn expired(&self, written: i64) -> bool {
        self.expiry.expired(written)
    }

    /// Whether `key`'s state has not expired at the last tick.
    pub(crate) fn is_live(&self, key: &K) -> bool {
        self.written(key).is_none_or(|w| !self.expired(w))
    }

    /// Restore: `key` was last written at `written` (the latest of several restored wins).
    pub(crate) fn restore(&mut self, key: K, written: i64) -> Result<(), String> {
        let earlier = self.written(&key);
        let (slot, new) = self.keys.insert(key, &[])?;
        self.expiry
            .set(slot, new, earlier.map_or(written, |e| e.max(written)));
        Ok(())
    }

    /// Keys found expired so far.
    pub(crate) fn expired_count(&self) -> u64 {
        self.expiry.expired_count()
    }

    /// Removes up to a budget's worth of expired keys (see [`Expiry::clean`]), passing each to
    /// `removed`, whose state the caller drops.
    pub(crate) fn clean(&mut self, batch: usize, mut removed: impl FnMut(K)) {
        let keys = &mut self.keys;
        self.expiry.clean(batch, |slot| {
            if let Some(key) = keys.swap_remove(slot) {
                removed(key);
            }
        });
    }
}

//! State time-to-live of every aggregate (`job.state_ttl`, opt-in; validated when the spec is
//! parsed: from 1 ms to `quiver_protocol::spec::MAX_STATE_TTL`).
//!
//! Semantics (Flink's processing-time TTL with update type "on create and write"): a key's
//! state expires `ttl` after the last record that wrote it. Expired state is never returned: a
//! record for an expired key starts from fresh state, a snapshot leaves expired keys out, and
//! a restore drops keys that expired in the meantime.
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
//! status`), so a job that drops windows unfired shows it; keys that expired while the job
//! was down (dropped by a restore) are not counted.
//!
//! The time is read once per batch (one clock read, not one per record), so every record of a
//! batch is written at the batch's time. Cleanup is incremental: after each batch a bounded
//! number of slots ([`Expiry::clean`]'s budget) are examined, continuing from a cursor that
//! sweeps the table, and the expired ones are removed. With a budget of four times the batch
//! size a sweep of a table of `S` keys takes `S / 4` records, so a key is removed at most that
//! long after it expired: under key churn the table holds about `K + S / 4`, i.e. at most
//! `4/3 K`, keys, where `K` is the number of keys written within one `ttl`.
//!
//! Times are milliseconds since the Unix epoch from a [`Clock`]. The production
//! [`WallClock`] reads the system time once and then advances with a monotonic `Instant`:
//! it never goes backwards within a process and stays comparable across processes, so
//! snapshots store absolute last-write times. The time a job was down counts toward expiry
//! (a restore drops what expired meanwhile); clock skew between nodes shifts expiry by the
//! skew.

use super::key::GroupKey;
use super::table::AccTable;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of processing time.
pub(crate) trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch; never decreasing.
    fn now_ms(&self) -> i64;
}

/// The system time at construction, advanced by a monotonic clock.
#[derive(Debug)]
pub(crate) struct WallClock {
    epoch_ms: i64,
    start: Instant,
}

impl WallClock {
    /// A clock starting at the system's current time.
    pub(crate) fn new() -> WallClock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        WallClock {
            epoch_ms: i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX),
            start: Instant::now(),
        }
    }
}

impl Clock for WallClock {
    fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.epoch_ms.saturating_add(elapsed)
    }
}

/// The fewest slots a cleanup examines after a batch.
const MIN_CLEANUP_BUDGET: usize = 64;

/// Last-write times of the slots of an [`AccTable`],
/// and the incremental cleanup's cursor.
#[derive(Clone)]
pub(crate) struct Expiry {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    /// The time of the batch being processed.
    now: i64,
    /// Last write of every slot, in slot order.
    written: Vec<i64>,
    /// Keys found expired so far.
    expired: u64,
    /// The next slot the cleanup examines.
    cursor: usize,
}

impl Expiry {
    /// Expiry after `ttl` by `clock` (the spec bounds `ttl` to 1 ms ..= `i64::MAX` ms; a
    /// shorter one counts as 1 ms, a longer one as `i64::MAX` ms).
    pub(crate) fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Expiry {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let now = clock.now_ms();
        Expiry {
            ttl_ms,
            clock,
            now,
            written: Vec::new(),
            cursor: 0,
            expired: 0,
        }
    }

    /// Reads the clock: the time of the next writes and expiry checks.
    pub(crate) fn tick(&mut self) -> i64 {
        self.now = self.clock.now_ms();
        self.now
    }

    /// State last written at `written` has expired at the time of the last [`Expiry::tick`].
    #[inline]
    pub(crate) fn expired(&self, written: i64) -> bool {
        self.now.saturating_sub(written) >= self.ttl_ms
    }

    /// A record writes slot `slot` (`new`: just created) at the current time. Returns whether
    /// the slot held expired state, which the caller must then reset.
    #[inline]
    pub(crate) fn write(&mut self, slot: usize, new: bool) -> bool {
        if new {
            self.written.push(self.now);
            return false;
        }
        let expired = self.expired(self.written[slot]);
        self.written[slot] = self.now;
        self.expired += u64::from(expired);
        expired
    }

    /// Records that slot `slot` (`new`: just created) was last written at `written` (restore).
    pub(crate) fn set(&mut self, slot: usize, new: bool, written: i64) {
        if new {
            self.written.push(written);
        } else {
            self.written[slot] = written;
        }
    }

    /// Forgets slot `slot`'s last write; the last slot's moves into it, as
    /// [`AccTable::swap_remove`] moves its key (the cleanup does both itself).
    #[cfg(test)]
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        if slot < self.written.len() {
            self.written.swap_remove(slot);
        }
    }

    /// The last write of slot `slot`.
    pub(crate) fn written(&self, slot: usize) -> i64 {
        self.written[slot]
    }

    /// Keys found expired so far (by a write or by the cleanup).
    pub(crate) fn expired_count(&self) -> u64 {
        self.expired
    }

    /// Examines up to `max(4 × batch, 64)` slots of `table` from the cursor on, removing
    /// the expired ones and passing each removed key to `removed`.
    pub(crate) fn clean<K: GroupKey>(
        &mut self,
        table: &mut AccTable<K>,
        batch: usize,
        mut removed: impl FnMut(K),
    ) {
        let budget = (4 * batch).max(MIN_CLEANUP_BUDGET);
        for _ in 0..budget {
            if self.written.is_empty() {
                break;
            }
            if self.cursor >= self.written.len() {
                self.cursor = 0;
            }
            if self.expired(self.written[self.cursor]) {
                if let Some(key) = table.swap_remove(self.cursor) {
                    removed(key);
                }
                self.written.swap_remove(self.cursor);
                self.expired += 1;
            } else {
                self.cursor += 1;
            }
        }
    }
}

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
    pub(crate) fn clean(&mut self, batch: usize, removed: impl FnMut(K)) {
        self.expiry.clean(&mut self.keys, batch, removed);
    }
}

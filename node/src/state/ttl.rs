//! State time-to-live of every keyed operator (`job.state_ttl`, opt-in; validated when the
//! spec is parsed: from 1 ms to `quiver_protocol::spec::MAX_STATE_TTL`), shared by the
//! aggregates (`crate::operators::aggregate::ttl` says what a key's state is there) and
//! matrix factorisation's users (`crate::ml_stages`).
//!
//! Semantics (Flink's processing-time TTL with update type "on create and write"): a key's
//! state expires `ttl` after the last record that wrote it. Expired state is never returned: a
//! record for an expired key starts from fresh state, a snapshot leaves expired keys out, and
//! a restore drops keys that expired in the meantime. Expired keys are counted
//! (`state_expired` in the task's metrics); keys that expired while the job was down (dropped
//! by a restore) are not counted.
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

/// Last-write times of the slots of a keyed operator's table (slots numbered from 0, a
/// removed slot taking the last one's place, as `Vec::swap_remove` does), and the
/// incremental cleanup's cursor.
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

    /// Forgets every slot (the table was emptied).
    pub(crate) fn clear(&mut self) {
        self.written.clear();
        self.cursor = 0;
    }

    /// The last write of slot `slot`.
    pub(crate) fn written(&self, slot: usize) -> i64 {
        self.written[slot]
    }

    /// Keys found expired so far (by a write or by the cleanup).
    pub(crate) fn expired_count(&self) -> u64 {
        self.expired
    }

    /// Forgets slot `slot`'s last write, the last slot's moving into it as a table's
    /// `swap_remove` moves its key (the cleanup does both itself).
    #[cfg(test)]
    pub(crate) fn swap_remove(&mut self, slot: usize) {
        if slot < self.written.len() {
            self.written.swap_remove(slot);
        }
    }

    /// Slot `slot` holds expired state at the last tick: then its time is dropped (the last
    /// slot's taking its place), it is counted as expired, and the caller must remove the slot
    /// from its table the same way and forget the key's state. Returns whether it expired.
    pub(crate) fn take_expired(&mut self, slot: usize) -> bool {
        let expired = self.written.get(slot).is_some_and(|&w| self.expired(w));
        if expired {
            self.written.swap_remove(slot);
            self.expired += 1;
        }
        expired
    }

    /// Examines up to `max(4 × batch, 64)` slots from the cursor on, calling `remove` with
    /// each expired one: the caller removes that slot from its table, the last slot taking its
    /// place.
    pub(crate) fn clean(&mut self, batch: usize, mut remove: impl FnMut(usize)) {
        let budget = (4 * batch).max(MIN_CLEANUP_BUDGET);
        for _ in 0..budget {
            if self.written.is_empty() {
                break;
            }
            if self.cursor >= self.written.len() {
                self.cursor = 0;
            }
            if self.take_expired(self.cursor) {
                remove(self.cursor);
            } else {
                self.cursor += 1;
            }
        }
    }
}

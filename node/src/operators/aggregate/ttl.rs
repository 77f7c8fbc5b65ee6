//! State time-to-live of running aggregates (`job.state_ttl`).
//!
//! Semantics (Flink's processing-time TTL with update type "on create and write"): a key's
//! state expires `ttl` after the last record that wrote it. Expired state is never returned: a
//! record for an expired key starts from fresh accumulators, a snapshot leaves expired keys
//! out, and a restore drops keys that expired in the meantime.
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
//!
//! Windowed aggregates do not use a TTL: their state is bounded by window firing (a window's
//! or session's state is dropped when the watermark closes it), and dropping a pending
//! window's partial state would silently change its result.

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

/// Last-write times of the slots of an [`AccTable`] (built with [`AccTable::removable`]),
/// and the incremental cleanup's cursor.
#[derive(Clone)]
pub(crate) struct Expiry {
    ttl_ms: i64,
    clock: Arc<dyn Clock>,
    /// The time of the batch being processed.
    now: i64,
    /// Last write of every slot, in slot order.
    written: Vec<i64>,
    /// The next slot the cleanup examines.
    cursor: usize,
}

impl Expiry {
    /// Expiry after `ttl` (at least 1 ms) by `clock`.
    pub(crate) fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Result<Expiry, String> {
        let ttl_ms = i64::try_from(ttl.as_millis())
            .ok()
            .filter(|&ms| ms > 0)
            .ok_or_else(|| {
                format!(
                    "state_ttl must be between 1 ms and {} ms, got {ttl:?}",
                    i64::MAX
                )
            })?;
        let now = clock.now_ms();
        Ok(Expiry {
            ttl_ms,
            clock,
            now,
            written: Vec::new(),
            cursor: 0,
        })
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

    /// The last write of slot `slot`.
    pub(crate) fn written(&self, slot: usize) -> i64 {
        self.written[slot]
    }

    /// Examines up to `max(4 × batch, 64)` slots of `table` from the cursor on, removing
    /// the expired ones. Returns how many were removed.
    pub(crate) fn clean<K: GroupKey>(&mut self, table: &mut AccTable<K>, batch: usize) -> usize {
        let budget = (4 * batch).max(MIN_CLEANUP_BUDGET);
        let mut removed = 0;
        for _ in 0..budget {
            if self.written.is_empty() {
                break;
            }
            if self.cursor >= self.written.len() {
                self.cursor = 0;
            }
            if self.expired(self.written[self.cursor]) {
                table.swap_remove(self.cursor);
                self.written.swap_remove(self.cursor);
                removed += 1;
            } else {
                self.cursor += 1;
            }
        }
        removed
    }
}

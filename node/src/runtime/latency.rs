//! Recording latencies on the hot path: a [`LatencyRecorder`] is a histogram of relaxed
//! atomic counters (one `fetch_add` per observation, per batch and never per row), read into
//! a [`Histogram`] snapshot by the heartbeat and `/metrics`; and the wall clock that stamps
//! batches at their source and measures them at their sink.

use quiver_protocol::histogram::{bucket_of, Histogram, BUCKETS};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A histogram of durations over the fixed buckets of `quiver_protocol::histogram`.
#[derive(Debug)]
pub(crate) struct LatencyRecorder {
    counts: [AtomicU64; BUCKETS],
    sum_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl LatencyRecorder {
    /// Records one observation of `us` microseconds.
    #[inline]
    pub(crate) fn observe_us(&self, us: u64) {
        self.counts[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Records one observation of `elapsed`.
    #[inline]
    pub(crate) fn observe(&self, elapsed: Duration) {
        self.observe_us(micros(elapsed));
    }

    /// The observations so far (empty counts when there is none).
    pub(crate) fn snapshot(&self) -> Histogram {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        if counts.iter().all(|&n| n == 0) {
            return Histogram::default();
        }
        Histogram {
            counts,
            sum_us: self.sum_us.load(Ordering::Relaxed),
            max_us: self.max_us.load(Ordering::Relaxed),
        }
    }
}

/// `d` in whole µs (saturating).
#[inline]
pub(crate) fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

/// The wall clock now, µs since the Unix epoch: what stamps a batch at its source
/// (`Batch::read_at_us`) and what a sink compares the stamp with. Across hosts the latency
/// it measures is only as good as the hosts' clock synchronisation.
#[inline]
pub(crate) fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().min(i64::MAX as u128) as i64)
}

/// µs from `read_at_us` to now; 0 when the clock went back (a stamp from a host ahead).
#[inline]
pub(crate) fn micros_since(read_at_us: i64) -> u64 {
    unix_micros().saturating_sub(read_at_us).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorder_snapshots_what_a_histogram_observing_the_same_values_holds() {
        let values = [3u64, 75, 75, 9_999, 64_000_000];
        let recorder = LatencyRecorder::default();
        let mut expected = Histogram::default();
        assert_eq!(recorder.snapshot(), expected);
        for v in values {
            recorder.observe_us(v);
            expected.observe_us(v);
        }
        recorder.observe(Duration::from_millis(2));
        expected.observe_us(2_000);
        assert_eq!(recorder.snapshot(), expected);
        assert_eq!(expected.max_us, 64_000_000);
    }
}

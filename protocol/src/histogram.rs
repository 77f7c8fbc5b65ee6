//! Latency histograms with fixed buckets: what a task records per batch (source-to-sink
//! latency, the time to process a batch), carried compactly on the heartbeat and merged on the
//! coordinator by adding bucket counts.
//!
//! Every histogram has the same [`BOUNDS_US`]: upper bounds from 50 µs to 10 s in a 1–1.5–2–3–
//! 5–7 progression per decade (a ratio of at most 5/3 between neighbours, 1.4 on average, so
//! a quantile read from the buckets is within its bucket's ratio of the truth), plus an
//! overflow bucket. Fixed bounds
//! make a snapshot a short list of counts and a merge a sum.

use serde::{Deserialize, Serialize};

/// Upper bounds (inclusive) of the buckets, in microseconds; one more bucket takes the rest.
pub const BOUNDS_US: [u64; 33] = [
    50, 70, 100, 150, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 7_000, 10_000, 15_000,
    20_000, 30_000, 50_000, 70_000, 100_000, 150_000, 200_000, 300_000, 500_000, 700_000,
    1_000_000, 1_500_000, 2_000_000, 3_000_000, 5_000_000, 7_000_000, 10_000_000,
];

/// Buckets of a histogram: one per bound and the overflow.
pub const BUCKETS: usize = BOUNDS_US.len() + 1;

/// The bucket a value of `us` microseconds falls in.
#[inline]
pub fn bucket_of(us: u64) -> usize {
    BOUNDS_US.partition_point(|&b| b < us)
}

/// A histogram of durations: counts per bucket of [`BOUNDS_US`], their sum and the largest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// Observations per bucket ([`BUCKETS`] entries; empty while nothing was observed, which
    /// keeps an unused histogram at one byte on the wire).
    pub counts: Vec<u64>,
    /// The sum of the observations, µs.
    pub sum_us: u64,
    /// The largest observation, µs.
    pub max_us: u64,
}

impl Histogram {
    /// Observations in all.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Records one observation of `us` microseconds.
    pub fn observe_us(&mut self, us: u64) {
        self.counts.resize(BUCKETS, 0);
        self.counts[bucket_of(us)] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.max_us = self.max_us.max(us);
    }

    /// Adds `other`'s observations (a bucket count beyond [`BUCKETS`], from a malformed
    /// report, goes to the overflow bucket).
    pub fn merge(&mut self, other: &Histogram) {
        if other.counts.is_empty() {
            return;
        }
        self.counts.resize(BUCKETS, 0);
        for (i, &n) in other.counts.iter().enumerate() {
            let b = i.min(BUCKETS - 1);
            self.counts[b] = self.counts[b].saturating_add(n);
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    /// The `q` quantile (0 ≤ q ≤ 1) in microseconds, as Prometheus' `histogram_quantile`
    /// estimates it: interpolated linearly within the bucket holding the rank, the first
    /// bucket from 0; in the overflow bucket (and never above) the largest observation.
    /// `None` without observations.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 || ((below + n) as f64) < rank {
                below += n;
                continue;
            }
            let Some(&upper) = BOUNDS_US.get(i) else {
                break;
            };
            let lower = if i == 0 { 0 } else { BOUNDS_US[i - 1] };
            let within = (rank - below as f64) / n as f64;
            let estimate = lower as f64 + (upper - lower) as f64 * within;
            return Some(estimate.min(self.max_us as f64));
        }
        Some(self.max_us as f64)
    }
}

#[cfg(test)]
mod tests;

//! Source-to-sink latency per sink, as `quiver job status` shows it: each chain with sinks,
//! its partitions' histograms merged, read as quantiles.

use crate::histogram::Histogram;
use crate::messages::TaskReport;
use serde::{Deserialize, Serialize};

/// The source-to-sink latency of one chain with sinks, over its partitions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkLatency {
    /// The chain's operators, head first (`counts → out`).
    pub operators: String,
    /// Stamped batches its sinks wrote.
    pub batches: u64,
    /// The median, ms (estimated from the histogram's buckets).
    pub p50_ms: f64,
    /// The 99th percentile, ms (estimated from the histogram's buckets).
    pub p99_ms: f64,
    /// The largest, ms (exact).
    pub max_ms: f64,
}

/// One [`SinkLatency`] per chain whose sinks wrote stamped batches, in the order the chains
/// first appear in `tasks`.
pub fn per_sink(tasks: &[TaskReport]) -> Vec<SinkLatency> {
    let mut chains: Vec<(&str, Histogram)> = Vec::new();
    for t in tasks.iter().filter(|t| t.metrics.sink_latency.count() > 0) {
        match chains.iter_mut().find(|(name, _)| *name == t.operators) {
            Some((_, h)) => h.merge(&t.metrics.sink_latency),
            None => chains.push((&t.operators, t.metrics.sink_latency.clone())),
        }
    }
    chains
        .into_iter()
        .map(|(operators, h)| SinkLatency {
            operators: operators.to_string(),
            batches: h.count(),
            p50_ms: h.quantile_us(0.5).unwrap_or(0.0) / 1e3,
            p99_ms: h.quantile_us(0.99).unwrap_or(0.0) / 1e3,
            max_ms: h.max_us as f64 / 1e3,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{TaskId, TaskMetrics};
    use crate::{NodeId, OperatorId, PartitionId};

    fn task(operators: &str, partition: u32, latencies_us: &[u64]) -> TaskReport {
        let mut metrics = TaskMetrics::default();
        for &us in latencies_us {
            metrics.sink_latency.observe_us(us);
        }
        TaskReport {
            task: TaskId {
                operator: OperatorId(1),
                partition: PartitionId(partition),
            },
            operators: operators.to_string(),
            node: NodeId(1),
            finished: false,
            metrics,
        }
    }

    #[test]
    fn partitions_of_a_sink_chain_are_merged_and_chains_without_sinks_left_out() {
        // 100 batches: 98 of 1.2 ms and 2 of 6 ms, over two partitions.
        let mut first = vec![1_200; 49];
        first.push(6_000);
        let tasks = [
            task("events", 0, &[]),
            task("counts → out", 0, &first),
            task("counts → out", 1, &first),
        ];
        let all = per_sink(&tasks);
        assert_eq!(all.len(), 1);
        let s = &all[0];
        assert_eq!((s.operators.as_str(), s.batches), ("counts → out", 100));
        // Rank 50 of 98 in (1000, 1500]: 1000 + 500 × 50/98 µs.
        assert!((s.p50_ms - (1.0 + 0.5 * 50.0 / 98.0)).abs() < 1e-9, "{s:?}");
        // Rank 99 is the first of two in (5000, 7000]: 5000 + 2000 × 1/2 = 6000 µs.
        assert!((s.p99_ms - 6.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.max_ms, 6.0);
    }
}

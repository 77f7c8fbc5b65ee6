//! Histogram families built from [`Histogram`] snapshots: the fixed buckets a task recorded
//! (or the coordinator merged) encoded as a Prometheus histogram, bounds in seconds.

use super::Labels;
use crate::histogram::{Histogram, BOUNDS_US, BUCKETS};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;

/// One histogram family: a snapshot per series.
#[derive(Debug, Default)]
pub(super) struct HistogramFamily {
    series: Vec<(Labels, Histogram)>,
}

impl HistogramFamily {
    /// A family of these series.
    pub(super) fn new(series: impl IntoIterator<Item = (Labels, Histogram)>) -> Self {
        HistogramFamily {
            series: series.into_iter().collect(),
        }
    }
}

impl EncodeMetric for HistogramFamily {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.series {
            let mut buckets: Vec<(f64, u64)> = BOUNDS_US
                .iter()
                .map(|&b| b as f64 / 1e6)
                .chain([f64::INFINITY])
                .map(|bound| (bound, 0))
                .collect();
            for (bucket, &n) in buckets.iter_mut().zip(&h.counts).take(BUCKETS) {
                bucket.1 = n;
            }
            encoder.encode_family(labels)?.encode_histogram::<Labels>(
                h.sum_us as f64 / 1e6,
                h.count(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

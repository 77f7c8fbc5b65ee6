//! Prometheus metrics as the coordinator and the nodes export them on `/metrics` (OpenMetrics
//! text, the `prometheus-client` crate): names, help texts and labels both agree on. A scrape
//! builds a fresh [`Exposition`] from the process's current figures — counters a task keeps
//! since it started, reported with heartbeats — rather than keeping registered metrics
//! alive, so a finished job or a lost node simply stops appearing.
//!
//! Every task's series carry `job`, `operator` (the operators of its chain, head first) and
//! `partition`; the coordinator's add `node`.

mod columns;
mod histograms;

use crate::messages::TaskMetrics;
use histograms::HistogramFamily;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label names and values of one series.
pub type Labels = Vec<(String, String)>;

/// A float gauge.
type FloatGauge = Gauge<f64, AtomicU64>;

/// A task family: its name, help, and how to read its value from a task's counters.
type TaskFamily<T> = (&'static str, &'static str, fn(&TaskMetrics) -> T);

/// One scrape's metrics, built from current figures, then encoded.
#[derive(Default)]
pub struct Exposition {
    registry: Registry,
}

/// One task's counters with the labels that name it.
pub struct TaskSample<'a> {
    /// `job`, `operator`, `partition` (and `node` on the coordinator).
    pub labels: Labels,
    /// Its counters as of its last report.
    pub metrics: &'a TaskMetrics,
}

impl Exposition {
    /// A counter family `quiver_NAME` (exported as `quiver_NAME_total`), one series per
    /// sample.
    pub fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in samples {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry
            .register(format!("quiver_{name}"), help, family);
    }

    /// A gauge family `quiver_NAME`, one series per sample.
    pub fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        let family = Family::<Labels, FloatGauge>::default();
        for (labels, value) in samples {
            family.get_or_create(&labels).set(value);
        }
        self.registry
            .register(format!("quiver_{name}"), help, family);
    }

    /// Every task family, one series per task.
    pub fn tasks(&mut self, tasks: &[TaskSample<'_>]) {
        let counters: [TaskFamily<u64>; 10] = [
            (
                "task_records_in",
                "Records a task read from its inputs (a source: produced).",
                |m| m.records_in,
            ),
            (
                "task_records_out",
                "Records a task emitted to downstream tasks.",
                |m| m.records_out,
            ),
            ("task_sink_records", "Records a task's sinks wrote.", |m| {
                m.sink_records
            }),
            (
                "task_late_records",
                "Late records a task counted and dropped (no late sink).",
                |m| m.late_dropped,
            ),
            (
                "task_bad_records",
                "Malformed records a source skipped (bad_records = \"skip\").",
                |m| m.skipped,
            ),
            (
                "task_sent_bytes",
                "Bytes a task sent over QUIC to other nodes.",
                |m| m.bytes_sent,
            ),
            (
                "task_received_bytes",
                "Bytes a task received over QUIC from other nodes.",
                |m| m.bytes_received,
            ),
            (
                "task_state_expired",
                "Keys whose state expired (state_ttl).",
                |m| m.state_expired,
            ),
            (
                "task_refused_updates",
                "Model updates a task's learners refused (non-finite).",
                |m| m.refused_updates,
            ),
            (
                "task_drifts",
                "Drifts a task's learners detected on their drift policy's column.",
                |m| m.drifts,
            ),
        ];
        for (name, help, value) in counters {
            self.counter(
                name,
                help,
                tasks.iter().map(|t| (t.labels.clone(), value(t.metrics))),
            );
        }
        let gauges: [TaskFamily<f64>; 8] = [
            (
                "task_state_entries",
                "Keyed state entries a task holds.",
                |m| m.state_entries as f64,
            ),
            (
                "task_max_queued_batches",
                "The most batches ever queued on one input channel of a task (backpressure).",
                |m| m.max_queued_batches as f64,
            ),
            (
                "task_input_credits",
                "Batches each input channel of a task may have in flight.",
                |m| m.credits as f64,
            ),
            (
                "task_checkpoint_alignment_seconds",
                "The last checkpoint's barrier alignment in a task.",
                |m| m.last_align_us as f64 / 1e6,
            ),
            (
                "task_checkpoint_snapshot_seconds",
                "The last checkpoint's pause to copy a task's state.",
                |m| m.last_snapshot_us as f64 / 1e6,
            ),
            (
                "task_checkpoint_encode_seconds",
                "The last checkpoint's encoding of a task's copied state (in the background).",
                |m| m.last_encode_us as f64 / 1e6,
            ),
            (
                "task_checkpoint_upload_seconds",
                "The last checkpoint's upload of a task's state, until the coordinator stored it.",
                |m| m.last_upload_us as f64 / 1e6,
            ),
            (
                "task_checkpoint_bytes",
                "Bytes a task's last checkpoint encoded and uploaded.",
                |m| m.last_snapshot_bytes as f64,
            ),
        ];
        for (name, help, value) in gauges {
            self.gauge(
                name,
                help,
                tasks.iter().map(|t| (t.labels.clone(), value(t.metrics))),
            );
        }
        self.gauge(
            "task_source_watermark_seconds",
            "A source task's watermark (its slowest reading split), seconds since the epoch.",
            tasks.iter().filter_map(|t| {
                let w = t
                    .metrics
                    .source_watermark
                    .filter(|w| *w != i64::MIN && *w != i64::MAX)?;
                Some((t.labels.clone(), w as f64 / 1e3))
            }),
        );
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.gauge(
            "task_source_watermark_lag_seconds",
            "How far a source task's watermark is behind the wall clock (event time read as ms \
             since the epoch; replayed old data lags by its age).",
            tasks.iter().filter_map(|t| {
                let w = t
                    .metrics
                    .source_watermark
                    .filter(|w| *w != i64::MIN && *w != i64::MAX)?;
                Some((t.labels.clone(), now_ms.saturating_sub(w) as f64 / 1e3))
            }),
        );
        self.task_latencies(tasks);
        self.columns(tasks);
    }

    /// The latency histograms and waiting times of every task: source-to-sink latency of
    /// the tasks with sinks, batch processing time, time waiting for credit, and a source's
    /// time held back by alignment.
    fn task_latencies(&mut self, tasks: &[TaskSample<'_>]) {
        self.counter(
            "task_sink_batches",
            "Batches a task's sinks wrote.",
            tasks
                .iter()
                .map(|t| (t.labels.clone(), t.metrics.sink_batches)),
        );
        self.registry.register(
            "quiver_task_sink_latency_seconds",
            "Source-to-sink latency of the batches a task's sinks wrote: from the source \
             reading a batch's oldest record to the sink writing it (wall clocks).",
            HistogramFamily::new(tasks.iter().filter_map(|t| {
                let h = &t.metrics.sink_latency;
                (h.count() > 0).then(|| (t.labels.clone(), h.clone()))
            })),
        );
        self.gauge(
            "task_sink_latency_max_seconds",
            "The largest source-to-sink latency a task's sinks saw.",
            tasks.iter().filter_map(|t| {
                let h = &t.metrics.sink_latency;
                (h.count() > 0).then(|| (t.labels.clone(), h.max_us as f64 / 1e6))
            }),
        );
        self.registry.register(
            "quiver_task_batch_seconds",
            "The time a task took to process one batch, through its chain to its output \
             flushed.",
            HistogramFamily::new(
                tasks
                    .iter()
                    .map(|t| (t.labels.clone(), t.metrics.batch_time.clone())),
            ),
        );
        self.float_counter(
            "task_backpressure_seconds",
            "Time a task waited for credit to send downstream (backpressure).",
            tasks
                .iter()
                .map(|t| (t.labels.clone(), t.metrics.credit_wait_us as f64 / 1e6)),
        );
        self.float_counter(
            "task_source_aligned_seconds",
            "Time a source task was held back by alignment (ahead of its source's slowest \
             partition).",
            tasks
                .iter()
                .filter(|t| t.metrics.source_watermark.is_some())
                .map(|t| (t.labels.clone(), t.metrics.aligned_pause_us as f64 / 1e6)),
        );
    }

    /// A counter family `quiver_NAME` of fractional values (seconds), exported as
    /// `quiver_NAME_total`.
    fn float_counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, f64)>,
    ) {
        let family = Family::<Labels, Counter<f64, AtomicU64>>::default();
        for (labels, value) in samples {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry
            .register(format!("quiver_{name}"), help, family);
    }

    /// The OpenMetrics text of everything added.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The `Content-Type` of [`Exposition::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels from name-value pairs.
pub fn labels<const N: usize>(pairs: [(&str, String); N]) -> Labels {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_counters_are_exported_with_their_labels_and_units() {
        let metrics = TaskMetrics {
            records_in: 1200,
            sink_records: 7,
            last_align_us: 2_500,
            source_watermark: Some(1_700_000_000_500),
            ..TaskMetrics::default()
        };
        let idle = TaskMetrics {
            source_watermark: Some(i64::MIN),
            ..TaskMetrics::default()
        };
        let mut exposition = Exposition::default();
        let task = |p: u32, m| TaskSample {
            labels: labels([
                ("job", "job-1".into()),
                ("operator", "events".into()),
                ("partition", p.to_string()),
            ]),
            metrics: m,
        };
        exposition.tasks(&[task(0, &metrics), task(1, &idle)]);
        let text = exposition.encode();
        for line in [
            "# TYPE quiver_task_records_in counter",
            r#"quiver_task_records_in_total{job="job-1",operator="events",partition="0"} 1200"#,
            r#"quiver_task_sink_records_total{job="job-1",operator="events",partition="0"} 7"#,
            r#"quiver_task_checkpoint_alignment_seconds{job="job-1",operator="events",partition="0"} 0.0025"#,
            r#"quiver_task_source_watermark_seconds{job="job-1",operator="events",partition="0"} 1700000000.5"#,
            r#"quiver_task_records_in_total{job="job-1",operator="events",partition="1"} 0"#,
            "# EOF",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains(r#"quiver_task_source_watermark_seconds{job="job-1",operator="events",partition="1"}"#),
            "a watermark not known yet is not exported:\n{text}"
        );
    }

    #[test]
    fn latency_histograms_are_exported_as_cumulative_buckets_in_seconds() {
        let mut metrics = TaskMetrics {
            credit_wait_us: 1_500_000,
            sink_batches: 3,
            ..TaskMetrics::default()
        };
        for us in [40, 1_200, 20_000_000] {
            metrics.sink_latency.observe_us(us);
        }
        metrics.batch_time.observe_us(300);
        let mut exposition = Exposition::default();
        let labels = labels([
            ("job", "job-1".into()),
            ("operator", "counts → out".into()),
            ("partition", "0".into()),
        ]);
        exposition.tasks(&[TaskSample {
            labels,
            metrics: &metrics,
        }]);
        let text = exposition.encode();
        let series = r#"job="job-1",operator="counts → out",partition="0""#;
        for line in [
            "# TYPE quiver_task_sink_latency_seconds histogram".to_string(),
            format!("quiver_task_sink_latency_seconds_count{{{series}}} 3"),
            format!("quiver_task_sink_latency_seconds_sum{{{series}}} 20.00124"),
            format!(r#"quiver_task_sink_latency_seconds_bucket{{le="0.001",{series}}} 1"#),
            format!(r#"quiver_task_sink_latency_seconds_bucket{{le="0.0015",{series}}} 2"#),
            format!(r#"quiver_task_sink_latency_seconds_bucket{{le="10.0",{series}}} 2"#),
            format!(r#"quiver_task_sink_latency_seconds_bucket{{le="+Inf",{series}}} 3"#),
            format!("quiver_task_sink_latency_max_seconds{{{series}}} 20.0"),
            format!("quiver_task_sink_batches_total{{{series}}} 3"),
            format!(r#"quiver_task_batch_seconds_bucket{{le="0.0003",{series}}} 1"#),
            format!("quiver_task_batch_seconds_count{{{series}}} 1"),
            format!("quiver_task_backpressure_seconds_total{{{series}}} 1.5"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains("quiver_task_source_aligned_seconds_total{"),
            "only sources have an alignment pause:\n{text}"
        );
    }
}

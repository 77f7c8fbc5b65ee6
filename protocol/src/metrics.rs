//! Prometheus metrics as the coordinator and the nodes export them on `/metrics` (OpenMetrics
//! text, the `prometheus-client` crate): names, help texts and labels both agree on. A scrape
//! builds a fresh [`Exposition`] from the process's current figures — counters a task keeps
//! since it started, reported with heartbeats — rather than keeping registered metrics
//! alive, so a finished job or a lost node simply stops appearing.
//!
//! Every task's series carry `job`, `operator` (the operators of its chain, head first) and
//! `partition`; the coordinator's add `node`.

mod columns;

use crate::messages::TaskMetrics;
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
        let gauges: [TaskFamily<f64>; 6] = [
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
        self.columns(tasks);
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
}

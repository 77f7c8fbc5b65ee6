//! The data-quality families (`quiver_column_*`): one series per watched column of a task,
//! labelled as the task with `operator` narrowed to the source or stage that emits the column
//! and `column` added.

use super::{Exposition, Labels, TaskSample};
use crate::quality::{ColumnQuality, DriftWindow};

/// A column family: its name, help, and how to read its value.
type ColumnFamily<T> = (&'static str, &'static str, fn(&ColumnQuality) -> T);

/// A drift gauge: its name, help, and which statistic it shows.
type DriftGauge = (&'static str, &'static str, fn(&DriftWindow) -> f64);

impl Exposition {
    /// Every column family, one series per watched column of each task.
    pub fn columns(&mut self, tasks: &[TaskSample<'_>]) {
        let series: Vec<(Labels, &ColumnQuality)> = tasks
            .iter()
            .flat_map(|t| {
                t.metrics
                    .columns
                    .iter()
                    .map(|c| (column_labels(&t.labels, c), c))
            })
            .collect();
        let counters: [ColumnFamily<u64>; 4] = [
            (
                "column_values",
                "Values of a watched column an operator emitted.",
                |c| c.values,
            ),
            ("column_nulls", "Nulls in a watched column.", |c| c.nulls),
            (
                "column_nan",
                "NaN and ±infinity in a watched f64 column.",
                |c| c.non_finite,
            ),
            (
                "column_out_of_range",
                "Values of a watched column outside its checks' min..=max (non-finite included).",
                |c| c.out_of_range,
            ),
        ];
        for (name, help, value) in counters {
            self.counter(
                name,
                help,
                series.iter().map(|(l, c)| (l.clone(), value(c))),
            );
        }
        let gauges: [DriftGauge; 5] = [
            ("column_window_mean", "Mean of a column's last drift window.", |d| d.mean),
            (
                "column_window_std",
                "Standard deviation of a column's last drift window.",
                |d| d.std,
            ),
            ("column_window_min", "Least value of a column's last drift window.", |d| d.min),
            ("column_window_max", "Greatest value of a column's last drift window.", |d| {
                d.max
            }),
            (
                "column_drift_psi",
                "Population stability index of a column's last drift window against its first (reference) window, over the reference's deciles.",
                |d| d.psi,
            ),
        ];
        for (name, help, value) in gauges {
            self.gauge(
                name,
                help,
                series
                    .iter()
                    .filter_map(|(l, c)| Some((l.clone(), value(c.drift.as_ref()?)))),
            );
        }
    }
}

/// A task's labels with `operator` set to the column's operator, and `column` added.
fn column_labels(task: &Labels, column: &ColumnQuality) -> Labels {
    let mut labels: Labels = task
        .iter()
        .map(|(k, v)| match k.as_str() {
            "operator" => (k.clone(), column.operator.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    labels.push(("column".to_string(), column.column.clone()));
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::TaskMetrics;
    use crate::metrics::labels;

    #[test]
    fn each_watched_column_is_a_series_named_after_its_operator() {
        let metrics = TaskMetrics {
            columns: vec![ColumnQuality {
                operator: "events".into(),
                column: "amount".into(),
                values: 9,
                nulls: 2,
                non_finite: 1,
                out_of_range: 3,
                drift: Some(DriftWindow {
                    windows: 2,
                    count: 4,
                    mean: 2.5,
                    std: 0.5,
                    min: 2.0,
                    max: 3.0,
                    psi: 0.25,
                }),
            }],
            ..TaskMetrics::default()
        };
        let mut exposition = Exposition::default();
        exposition.columns(&[TaskSample {
            labels: labels([
                ("job", "job-1".into()),
                ("operator", "events → scaled".into()),
                ("partition", "0".into()),
            ]),
            metrics: &metrics,
        }]);
        let text = exposition.encode();
        let at = r#"{job="job-1",operator="events",partition="0",column="amount"}"#;
        for line in [
            format!("quiver_column_nulls_total{at} 2"),
            format!("quiver_column_nan_total{at} 1"),
            format!("quiver_column_out_of_range_total{at} 3"),
            format!("quiver_column_values_total{at} 9"),
            format!("quiver_column_window_mean{at} 2.5"),
            format!("quiver_column_drift_psi{at} 0.25"),
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
    }
}

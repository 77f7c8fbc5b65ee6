//! How job and cluster reports are shown to a person.

use quiver_protocol::messages::{CheckpointInfo, ClusterReport, JobReport, JobSummary};
use quiver_protocol::JobId;
use std::fmt::Write;

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of progress: state, time, records in and out, rate, and while the job is live,
/// why it waits or recovers (e.g. `waiting for slots: …`).
pub(crate) fn progress_line(report: &JobReport) -> String {
    let secs = report.elapsed_ms as f64 / 1000.0;
    let rate = if secs > 0.0 {
        (report.source_records as f64 / secs) as u64
    } else {
        0
    };
    let mut line = format!(
        "{} {:?}: {:.1} s, {} records in ({}/s), {} out",
        report.summary.job,
        report.summary.state,
        secs,
        thousands(report.source_records),
        thousands(rate),
        thousands(report.sink_records)
    );
    if let (false, Some(why)) = (report.summary.state.is_terminal(), &report.error) {
        let _ = write!(line, " — {why}");
    }
    line
}

/// `quiver job list`.
pub(crate) fn jobs(jobs: &[JobSummary]) -> String {
    if jobs.is_empty() {
        return "no jobs yet: submit one with `quiver job submit SPEC`\n".into();
    }
    let mut out = format!(
        "{:<10} {:<24} {:<11} {}\n",
        "JOB", "NAME", "STATE", "GENERATION"
    );
    for j in jobs {
        let _ = writeln!(
            out,
            "{:<10} {:<24} {:<11} {}",
            j.job.to_string(),
            j.name,
            format!("{:?}", j.state),
            j.generation.0
        );
    }
    out
}

/// `quiver job status`.
pub(crate) fn job(report: &JobReport) -> String {
    let s = &report.summary;
    let mut out = format!(
        "{} {} — {:?} (generation {})\n{}\n",
        s.job,
        s.name,
        s.state,
        s.generation.0,
        progress_line(report)
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "error: {error}");
    }
    if let Some(checkpoint) = report.last_checkpoint {
        let _ = writeln!(
            out,
            "last checkpoint: {checkpoint} ({} B stored), restarts: {} ({} since it, {} \
             allowed in a row)",
            thousands(report.checkpoint_bytes),
            report.restarts.total,
            report.restarts.in_a_row,
            report.restarts.allowed
        );
    }
    if let Some(t) = report.recoveries.last() {
        let _ = writeln!(
            out,
            "last recovery: {} ms to publish again (detect {}, restore point {}, placement {}, \
             deploy {}, first output {} ms){}: {}",
            thousands(t.total_ms),
            t.detect_ms,
            t.restore_point_ms,
            t.placement_ms,
            t.deploy_ms,
            t.first_output_ms,
            if t.attempts > 1 {
                format!(", {} attempts", t.attempts)
            } else {
                String::new()
            },
            t.reason
        );
    }
    if report.expired_checkpoints > 0 {
        let _ = writeln!(
            out,
            "checkpoints expired: {} (barriers move slowly under backpressure; output is \
             published when a checkpoint completes)",
            report.expired_checkpoints
        );
    }
    if report.state_entries > 0 || report.state_expired > 0 {
        let expired = if report.state_expired > 0 {
            format!(
                " ({} keys expired by state_ttl)",
                thousands(report.state_expired)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "state: {} keyed entries{expired}",
            thousands(report.state_entries)
        );
    }
    if let Some(r) = &report.ratings {
        let _ = writeln!(
            out,
            "ratings: RMSE {:.4}, MAE {:.4} over {} rated rows (online: each predicted before \
             the model learnt from it)",
            r.rmse,
            r.mae,
            thousands(r.count)
        );
    }
    if report.refused_updates > 0 {
        let _ = writeln!(
            out,
            "models: {} updates refused (a learner diverging: they would have made the model \
             non-finite; lower its learning rate or scale its features)",
            thousands(report.refused_updates)
        );
    }
    let checkpointed: Vec<_> = report
        .tasks
        .iter()
        .filter(|t| t.metrics.last_snapshot_us > 0 || t.metrics.last_snapshot_bytes > 0)
        .collect();
    if !checkpointed.is_empty() {
        let mut all = quiver_protocol::messages::TaskMetrics::default();
        checkpointed.iter().for_each(|t| all.add(&t.metrics));
        let _ = writeln!(
            out,
            "last checkpoint per task: alignment ≤ {:.1} ms, state copy ≤ {:.1} ms, encoding ≤ \
             {:.1} ms, upload and store ≤ {:.1} ms, {} B uploaded in all",
            all.last_align_us as f64 / 1000.0,
            all.last_snapshot_us as f64 / 1000.0,
            all.last_encode_us as f64 / 1000.0,
            all.last_upload_us as f64 / 1000.0,
            thousands(all.last_snapshot_bytes)
        );
    }
    for s in &report.sink_latency {
        let _ = writeln!(
            out,
            "source-to-sink latency into {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} \
             batches",
            s.operators,
            s.p50_ms,
            s.p99_ms,
            s.max_ms,
            thousands(s.batches)
        );
    }
    out.push_str(&data_quality(report));
    let _ = writeln!(out, "tasks:");
    for t in &report.tasks {
        let m = &t.metrics;
        let _ = writeln!(
            out,
            "  {} [p{}] on {} {}: in {}, out {}, to sinks {}, late {}, skipped {}, \
             QUIC sent {} B / received {} B, queued ≤ {} of {} credits",
            t.operators,
            t.task.partition.0,
            t.node,
            if t.finished { "finished" } else { "running" },
            thousands(m.records_in),
            thousands(m.records_out),
            thousands(m.sink_records),
            m.late_dropped,
            m.skipped,
            thousands(m.bytes_sent),
            thousands(m.bytes_received),
            m.max_queued_batches,
            m.credits
        );
    }
    out
}

/// The watched columns of a job's operators (`checks`), summed over partitions; the drift
/// shown is the last window of the partition whose window moved most.
fn data_quality(report: &JobReport) -> String {
    let mut columns = Vec::new();
    for t in &report.tasks {
        quiver_protocol::quality::merge(&mut columns, &t.metrics.columns);
    }
    if columns.is_empty() {
        return String::new();
    }
    let mut out = "data quality (watched columns, all partitions):\n".to_string();
    for c in &columns {
        let _ = write!(
            out,
            "  {}.{}: {} values, {} null, {} NaN/inf, {} out of range",
            c.operator,
            c.column,
            thousands(c.values),
            thousands(c.nulls),
            thousands(c.non_finite),
            thousands(c.out_of_range)
        );
        if let Some(d) = &c.drift {
            let _ = write!(
                out,
                "; window {} of {} values: mean {:.4}, std {:.4}, min {}, max {}, PSI {:.4}",
                d.windows, d.count, d.mean, d.std, d.min, d.max, d.psi
            );
        }
        out.push('\n');
    }
    out
}

/// `quiver checkpoint list`.
pub(crate) fn checkpoints(job: JobId, list: &[CheckpointInfo]) -> String {
    if list.is_empty() {
        return format!("{job} has no completed checkpoint yet\n");
    }
    let mut out = format!(
        "{:<20} {:<10} {:<11} {:>12} {:>12} {:>9}\n",
        "CHECKPOINT", "KIND", "GENERATION", "SIZE (B)", "NEW (B)", "TOOK (ms)"
    );
    for c in list {
        let _ = writeln!(
            out,
            "{:<20} {:<10} {:<11} {:>12} {:>12} {:>9}",
            format!("{job}/{}", c.checkpoint),
            format!("{:?}", c.kind),
            c.generation.0,
            thousands(c.bytes),
            thousands(c.new_bytes),
            c.duration_ms
        );
    }
    out
}

/// `quiver cluster status`: a lost node shows `lost` and when (UTC) until the coordinator
/// forgets it.
pub(crate) fn cluster(report: &ClusterReport) -> String {
    if report.nodes.is_empty() {
        return "no nodes have joined: start one with `quiver node --coordinator ADDR`\n".into();
    }
    let mut out = format!(
        "{:<8} {:<22} {:<6} {:<6} {:<6} {:>14} {:>14} {:<16} {}\n",
        "NODE",
        "EXCHANGE",
        "STATE",
        "SLOTS",
        "TASKS",
        "SENT (B)",
        "RECEIVED (B)",
        "LAST HEARTBEAT",
        "LOST AT"
    );
    for n in &report.nodes {
        let _ = writeln!(
            out,
            "{:<8} {:<22} {:<6} {:<6} {:<6} {:>14} {:>14} {:<16} {}",
            n.node.to_string(),
            n.listen.to_string(),
            if n.alive { "alive" } else { "lost" },
            n.slots,
            n.tasks,
            thousands(n.bytes_sent),
            thousands(n.bytes_received),
            format!("{} ms ago", n.last_heartbeat_ms),
            n.lost_at_ms.map_or_else(|| "-".to_string(), utc)
        );
    }
    out
}

/// Milliseconds since the Unix epoch as a UTC time, `2000-02-29 00:00:00 UTC`.
fn utc(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{data_quality, thousands, utc};
    use quiver_protocol::messages::{
        JobReport, JobState, JobSummary, Restarts, TaskId, TaskMetrics, TaskReport,
    };
    use quiver_protocol::quality::{ColumnQuality, DriftWindow};
    use quiver_protocol::{Generation, JobId, NodeId, OperatorId, PartitionId};

    #[test]
    fn job_status_sums_each_watched_column_over_partitions() {
        let column = |nulls, psi| ColumnQuality {
            operator: "events".into(),
            column: "amount".into(),
            values: 1000,
            nulls,
            non_finite: 1,
            out_of_range: 2,
            drift: Some(DriftWindow {
                windows: 3,
                count: 500,
                mean: 50.0,
                std: 28.8,
                min: 0.0,
                max: 99.5,
                psi,
            }),
        };
        let task = |p, c| TaskReport {
            task: TaskId {
                operator: OperatorId(0),
                partition: PartitionId(p),
            },
            operators: "events".into(),
            node: NodeId(1),
            finished: false,
            metrics: TaskMetrics {
                columns: vec![c],
                ..TaskMetrics::default()
            },
        };
        let report = JobReport {
            summary: JobSummary {
                job: JobId(1),
                name: "j".into(),
                state: JobState::Running,
                generation: Generation(1),
            },
            error: None,
            elapsed_ms: 0,
            source_records: 0,
            sink_records: 0,
            tasks: vec![task(0, column(3, 0.01)), task(1, column(4, 0.3))],
            last_checkpoint: None,
            restarts: Restarts {
                total: 0,
                in_a_row: 0,
                allowed: 0,
            },
            recoveries: Vec::new(),
            expired_checkpoints: 0,
            state_entries: 0,
            state_expired: 0,
            refused_updates: 0,
            ratings: None,
            checkpoint_bytes: 0,
            sink_latency: Vec::new(),
        };
        assert_eq!(
            data_quality(&report),
            "data quality (watched columns, all partitions):\n  events.amount: 2,000 values, \
             7 null, 2 NaN/inf, 4 out of range; window 3 of 500 values: mean 50.0000, std \
             28.8000, min 0, max 99.5, PSI 0.3000\n"
        );
    }

    #[test]
    fn epoch_milliseconds_read_as_utc() {
        // Reference values from `date -u -d @SECONDS`.
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_796_004_245_999), "2026-11-30 02:04:05 UTC");
    }

    #[test]
    fn groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

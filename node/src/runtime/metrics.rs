//! Live counters of a task, updated on the hot path with relaxed atomics and read by the
//! heartbeat.

use super::credit::ChannelGauge;
use super::latency::LatencyRecorder;
use crate::quality::QualityBoard;
use quiver_protocol::messages::{RatingErrors, TaskMetrics};
use quiver_protocol::models::ServedVersion;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Counters of one task.
#[derive(Debug, Default)]
pub struct TaskCounters {
    pub(crate) records_in: AtomicU64,
    pub(crate) records_out: AtomicU64,
    pub(crate) sink_records: AtomicU64,
    pub(crate) late_dropped: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) state_entries: AtomicU64,
    pub(crate) state_expired: AtomicU64,
    pub(crate) refused_updates: AtomicU64,
    pub(crate) drifts: AtomicU64,
    pub(crate) last_align_us: AtomicU64,
    pub(crate) last_snapshot_us: AtomicU64,
    pub(crate) last_encode_us: AtomicU64,
    pub(crate) last_upload_us: AtomicU64,
    pub(crate) last_snapshot_bytes: AtomicU64,
    pub(crate) inputs: Vec<Arc<ChannelGauge>>,
    /// A source task's alignment watermark (see `TaskMetrics::source_watermark`); `None` for
    /// other tasks.
    source_watermark: Option<AtomicI64>,
    /// What the task's learner partitions scored per version, as of the last gauge read.
    served: Mutex<Vec<ServedVersion>>,
    /// The progressive error of the task's rating predictions, as of the last gauge read.
    rating_errors: Mutex<RatingErrors>,
    /// Batches the task's sinks wrote.
    pub(crate) sink_batches: AtomicU64,
    /// Source-to-sink latency of the batches the task's sinks wrote.
    pub(crate) sink_latency: LatencyRecorder,
    /// The time to process one batch.
    pub(crate) batch_time: LatencyRecorder,
    /// µs waited for credit to send downstream.
    pub(crate) credit_wait_us: AtomicU64,
    /// A source task's µs held back by alignment.
    pub(crate) aligned_pause_us: AtomicU64,
    /// The watched columns of the task's operators (`checks`).
    pub(crate) quality: QualityBoard,
}

impl TaskCounters {
    /// Counters for a task with `inputs` input channels.
    pub fn new(inputs: usize) -> TaskCounters {
        TaskCounters {
            inputs: (0..inputs).map(|_| Arc::default()).collect(),
            ..TaskCounters::default()
        }
    }

    /// Counters for a source task: its alignment watermark starts at −∞ (nothing read).
    pub(crate) fn for_source() -> TaskCounters {
        TaskCounters {
            source_watermark: Some(AtomicI64::new(i64::MIN)),
            ..TaskCounters::default()
        }
    }

    /// A source task's alignment watermark is now `watermark`.
    pub(crate) fn set_source_watermark(&self, watermark: i64) {
        if let Some(w) = &self.source_watermark {
            w.store(watermark, Ordering::Relaxed);
        }
    }

    /// A source task's alignment watermark as last set (`None` for other tasks).
    pub(crate) fn source_watermark(&self) -> Option<i64> {
        self.source_watermark
            .as_ref()
            .map(|w| w.load(Ordering::Relaxed))
    }

    /// Records what the task's learner partitions scored per version.
    pub(crate) fn set_served(&self, served: Vec<ServedVersion>) {
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) = served;
    }

    /// Records the progressive error of the task's rating predictions.
    pub(crate) fn set_rating_errors(&self, errors: RatingErrors) {
        *self.rating_errors.lock().unwrap_or_else(|e| e.into_inner()) = errors;
    }

    /// What the task's learner partitions scored per version.
    pub(crate) fn served(&self) -> Vec<ServedVersion> {
        self.served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The task waited `waited` for credit to send downstream.
    pub(crate) fn waited_for_credit(&self, waited: std::time::Duration) {
        Self::add(&self.credit_wait_us, super::latency::micros(waited));
    }

    /// Adds `n` to a counter.
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot for reports.
    pub fn snapshot(&self) -> TaskMetrics {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TaskMetrics {
            records_in: load(&self.records_in),
            records_out: load(&self.records_out),
            sink_records: load(&self.sink_records),
            late_dropped: load(&self.late_dropped),
            skipped: load(&self.skipped),
            bytes_sent: load(&self.bytes_sent),
            bytes_received: load(&self.bytes_received),
            max_queued_batches: self
                .inputs
                .iter()
                .map(|g| g.max_queued())
                .max()
                .unwrap_or(0),
            credits: u64::from(super::credit::CHANNEL_CREDITS),
            state_entries: load(&self.state_entries),
            state_expired: load(&self.state_expired),
            refused_updates: load(&self.refused_updates),
            drifts: load(&self.drifts),
            last_align_us: load(&self.last_align_us),
            last_snapshot_us: load(&self.last_snapshot_us),
            last_encode_us: load(&self.last_encode_us),
            last_upload_us: load(&self.last_upload_us),
            last_snapshot_bytes: load(&self.last_snapshot_bytes),
            source_watermark: self
                .source_watermark
                .as_ref()
                .map(|w| w.load(Ordering::Relaxed)),
            rating_errors: *self.rating_errors.lock().unwrap_or_else(|e| e.into_inner()),
            sink_batches: load(&self.sink_batches),
            sink_latency: self.sink_latency.snapshot(),
            batch_time: self.batch_time.snapshot(),
            credit_wait_us: load(&self.credit_wait_us),
            aligned_pause_us: load(&self.aligned_pause_us),
            columns: self.quality.report(),
        }
    }
}

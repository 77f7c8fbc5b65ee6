//! The chaos run's view of the checked job: `quiver job status --json` sampled every 200 ms
//! on a thread of its own, and waits on those samples.

use super::cluster::Cli;
use quiver_protocol::messages::JobState;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the monitor asks for the job's status.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// The job as the monitor saw it at one moment.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) at: Instant,
    pub(super) state: JobState,
    pub(super) checkpoint: u64,
    pub(super) source_records: u64,
    pub(super) restarts: u32,
}

/// Samples a job's status in the background until dropped.
pub(super) struct Monitor {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Monitor {
    /// Starts sampling `job`.
    pub(super) fn start(cli: Cli, job: &'static str) -> Monitor {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(r) = cli.status(job) {
                        let sample = Sample {
                            at: Instant::now(),
                            state: r.summary.state,
                            checkpoint: r.last_checkpoint.map_or(0, |c| c.0),
                            source_records: r.source_records,
                            restarts: r.restarts.total,
                        };
                        samples
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(sample);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        Monitor {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// The newest sample.
    pub(super) fn latest(&self) -> Option<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .copied()
    }

    /// The samples taken at or after `from`.
    pub(super) fn since(&self, from: Instant) -> Vec<Sample> {
        let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.iter().filter(|s| s.at >= from).copied().collect()
    }

    /// Waits until a sample after `after` satisfies `done`, calling `meanwhile` between
    /// looks; returns it, or `None` after `limit`, if the job failed, or once a signal
    /// stopped the run.
    pub(super) fn wait(
        &self,
        after: Instant,
        limit: Duration,
        done: impl Fn(&Sample) -> bool,
        mut meanwhile: impl FnMut(),
    ) -> Option<Sample> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline && super::interrupt::received().is_none() {
            meanwhile();
            if let Some(s) = self.latest().filter(|s| s.at > after) {
                if done(&s) {
                    return Some(s);
                }
                if matches!(s.state, JobState::Failed | JobState::Cancelled) {
                    return None;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// When a job hit by a fault that is over at once (a kill, a panic) published again: the
/// first of `samples` (taken from the fault on, oldest first, up to one at which the job
/// surely runs again) at which it ran with its latest restart count and had completed a
/// checkpoint newer than `before` (the newest before the fault) and than any seen while an
/// earlier run was still counted — so a checkpoint of the run the fault hit, completing
/// just after it, is not taken for the recovered run's. Counts from the fault, not from
/// a killed process's restart: a job that recovered before the restart recovered then.
pub(super) fn published_again(before: u64, samples: &[Sample]) -> Option<Sample> {
    let last = samples.last()?;
    let old = samples
        .iter()
        .filter(|s| s.restarts < last.restarts)
        .map(|s| s.checkpoint)
        .fold(before, u64::max);
    samples
        .iter()
        .find(|s| s.restarts == last.restarts && s.state == JobState::Running && s.checkpoint > old)
        .copied()
}

/// Events processed up to `to` by the samples' source counters; a counter that went down
/// was reset by a redeploy and counts from zero.
pub(super) fn processed(samples: &[Sample], to: Instant) -> u64 {
    samples
        .windows(2)
        .filter(|w| w[1].at <= to)
        .map(|w| {
            w[1].source_records
                .checked_sub(w[0].source_records)
                .unwrap_or(w[1].source_records)
        })
        .sum()
}

#[cfg(test)]
mod tests;

//! Checkpoint-store work taken off the cluster lock: completing a checkpoint (two sled
//! flushes around its manifest and a read-back of the blobs it wrote) and finding the newest
//! valid checkpoint of a recovering job (a read of every blob it references). Both can take
//! seconds on a large state or a slow disk; under the lock they would stall every heartbeat,
//! acknowledgement and status request of the whole cluster.
//!
//! The cluster queues the work and goes on; the server runs it on the blocking pool and hands
//! the outcome back under the lock ([`Cluster::offload_done`]). Meanwhile the job waits in a
//! state that says so:
//! - **completing**: no checkpoint is triggered, and a failure reported meanwhile is deferred
//!   until the manifest is written or refused. A recovery started in between would pick its
//!   restore point before the checkpoint completes, while the checkpoint could still complete
//!   afterwards and become the next recovery's restore point with its sinks' output already
//!   thrown away.
//! - **finding its restore point**: a recovering job is not redeployed before it is known.

use super::phase::Phase;
use super::Cluster;
use crate::checkpoint_store::{CheckpointStore, Manifest};
use crate::registry::Registration;
use quiver_protocol::{CheckpointId, Generation, JobId};
use std::sync::Arc;
use tokio::sync::Notify;

/// Store work queued by the cluster, to run off its lock.
#[derive(Debug, Clone)]
pub(crate) enum Offload {
    /// Write the manifest of a checkpoint every task acknowledged.
    Complete {
        /// Its job's generation that took it.
        generation: Generation,
        /// The manifest to write.
        manifest: Manifest,
    },
    /// Find the newest valid checkpoint of a recovering job.
    FindRestore {
        /// The job.
        job: JobId,
        /// The generation that will restore from it.
        generation: Generation,
    },
}

/// What an [`Offload`] found, for [`Cluster::offload_done`].
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A checkpoint's manifest was written (`Ok`) or could not be (why), taking `took`.
    Completed {
        generation: Generation,
        manifest: Manifest,
        result: Result<(), String>,
        took: std::time::Duration,
    },
    /// The newest valid checkpoint (`None`: none, or the store could not be read).
    RestoreFound {
        job: JobId,
        generation: Generation,
        restore: Option<(CheckpointId, Generation)>,
    },
}

impl Offload {
    /// Does the work (blocking I/O: call it on the blocking pool).
    pub(crate) fn run(self, store: &CheckpointStore) -> Outcome {
        match self {
            Offload::Complete {
                generation,
                manifest,
            } => {
                let started = std::time::Instant::now();
                let result = store
                    .complete(manifest.job, &manifest)
                    .map_err(|e| e.to_string());
                Outcome::Completed {
                    generation,
                    manifest,
                    result,
                    took: started.elapsed(),
                }
            }
            Offload::FindRestore { job, generation } => {
                let restore = match store.latest_valid(job) {
                    Ok(found) => found.map(|m| (m.checkpoint, m.generation)),
                    Err(e) => {
                        tracing::error!("cannot read the checkpoints of {job}: {e}");
                        None
                    }
                };
                Outcome::RestoreFound {
                    job,
                    generation,
                    restore,
                }
            }
        }
    }

    /// The outcome when the work could not run at all (`why`).
    pub(crate) fn failed(&self, why: &str) -> Outcome {
        match self {
            Offload::Complete {
                generation,
                manifest,
            } => Outcome::Completed {
                generation: *generation,
                manifest: manifest.clone(),
                result: Err(why.to_string()),
                took: std::time::Duration::ZERO,
            },
            Offload::FindRestore { job, generation } => Outcome::RestoreFound {
                job: *job,
                generation: *generation,
                restore: None,
            },
        }
    }
}

/// The queue of [`Offload`]s, and a wake-up for whoever runs them.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    work: Vec<Offload>,
    wake: Arc<Notify>,
}

impl Queue {
    /// Queues work and wakes the runner (a wake-up before it waits is kept).
    pub(crate) fn push(&mut self, offload: Offload) {
        self.work.push(offload);
        self.wake.notify_one();
    }
}

/// A checkpoint whose manifest is being written.
#[derive(Debug)]
pub(super) struct Completing {
    /// The checkpoint.
    pub(super) checkpoint: CheckpointId,
    /// The final checkpoint of exhausted sources.
    pub(super) last: bool,
    /// The first failure reported meanwhile, handled once the checkpoint completed or not.
    pub(super) deferred_failure: Option<String>,
}

impl Cluster {
    /// Takes the queued store work.
    pub(crate) fn take_offloads(&mut self) -> Vec<Offload> {
        std::mem::take(&mut self.offloads.work)
    }

    /// What wakes the runner of store work when some is queued.
    pub(crate) fn offloads_waker(&self) -> Arc<Notify> {
        self.offloads.wake.clone()
    }

    /// Store work finished: completes the checkpoint (commits, retention, savepoint waiters)
    /// and handles a failure deferred meanwhile, or lets a recovery go on with its restore
    /// point. Returns the registration of the model versions a checkpoint produced, for the
    /// caller to run off the lock.
    pub(crate) fn offload_done(&mut self, outcome: Outcome) -> Option<Registration> {
        match outcome {
            Outcome::Completed {
                generation,
                manifest,
                result,
                took,
            } => self.completion_done(generation, &manifest, result, took),
            Outcome::RestoreFound {
                job,
                generation,
                restore,
            } => {
                self.restore_found(job, generation, restore);
                None
            }
        }
    }

    fn completion_done(
        &mut self,
        generation: Generation,
        manifest: &Manifest,
        result: Result<(), String>,
        took: std::time::Duration,
    ) -> Option<Registration> {
        let job = manifest.job;
        let entry = self.jobs.get_mut(&job)?;
        let ours = entry.record.generation == generation
            && entry
                .completing
                .as_ref()
                .is_some_and(|c| c.checkpoint == manifest.checkpoint);
        if !ours {
            return None;
        }
        let completing = entry.completing.take()?;
        entry.last_manifest_store = took;
        let checkpoint = manifest.checkpoint;
        if let Err(e) = result {
            if let Some(why) = completing.deferred_failure {
                tracing::warn!("{job}: {why} (while {checkpoint} completed)");
            }
            self.recover_or_fail(job, format!("cannot complete {checkpoint}: {e}"));
            return None;
        }
        let registration = self.checkpoint_completed(manifest, completing.last);
        if let Some(why) = completing.deferred_failure {
            self.recover_or_fail(job, why);
        }
        registration
    }

    fn restore_found(
        &mut self,
        job: JobId,
        generation: Generation,
        restore: Option<(CheckpointId, Generation)>,
    ) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        let Phase::Recovering(recovering) = &mut entry.phase else {
            return;
        };
        if entry.record.generation != generation || !recovering.finding_restore {
            return;
        }
        recovering.finding_restore = false;
        if let Some(clock) = &mut entry.recovery {
            clock.restore_found(std::time::Instant::now());
        }
        if restore.is_some() {
            entry.restore = restore;
        }
        tracing::info!(
            "{job}: {generation} restores from {}",
            entry
                .restore
                .map_or("the start".to_string(), |(c, _)| c.to_string()),
        );
        self.schedule_waiting();
    }
}

#[cfg(test)]
mod tests;

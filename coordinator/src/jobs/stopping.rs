//! `quiver job stop`: a savepoint after which the sources pause, then the sinks publish what
//! they staged up to it, then the job stops. The user's answer waits for the publishing, so
//! when `quiver job stop` returns, the job's published output ends exactly where the
//! savepoint's state does — every partition's, not only those that were quick.
//!
//! If a node is lost while the sinks publish, the job is redeployed from the savepoint like any
//! recovery — building its sinks publishes what the savepoint covers — and stopped before it
//! starts. If the sinks do not confirm within [`PUBLISH_TIMEOUT`] the job is stopped anyway and
//! the user is told that a job resumed from the savepoint publishes the rest.

use super::Cluster;
use quiver_protocol::messages::{AfterBarrier, SavepointRef, SnapshotKind, TaskId};
use quiver_protocol::{CheckpointId, Generation, JobId};
use std::time::{Duration, Instant};

/// How long the sinks of a stopping job may take to confirm publishing.
pub(crate) const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a `quiver job stop` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopState {
    /// Nobody asked to stop the job.
    NotAsked,
    /// Stop at the next savepoint (requested, not triggered yet).
    AtSavepoint,
    /// The stop's savepoint was triggered: the sources pause after its barrier.
    Paused {
        /// The savepoint.
        savepoint: CheckpointId,
    },
    /// The savepoint completed and the sources paused; waiting for every task to publish.
    Publishing {
        /// The savepoint.
        savepoint: CheckpointId,
        /// When it completed.
        since: Instant,
    },
}

impl Cluster {
    /// What the sources do after the barrier of a checkpoint of `kind` (`last`: the final
    /// one) while the job's stop stands at `stop`.
    pub(super) fn after_barrier(stop: StopState, kind: SnapshotKind, last: bool) -> AfterBarrier {
        if last {
            AfterBarrier::End
        } else if kind == SnapshotKind::Savepoint && stop == StopState::AtSavepoint {
            AfterBarrier::Pause
        } else {
            AfterBarrier::Continue
        }
    }

    /// A savepoint completed (its commit is on its way to the nodes): answer who waits for
    /// it, or — for a stop — wait until every task published it.
    pub(super) fn savepoint_completed(&mut self, job: JobId, savepoint: CheckpointId) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if matches!(
            entry.stop,
            StopState::AtSavepoint | StopState::Paused { .. }
        ) {
            entry.stop = StopState::Publishing {
                savepoint,
                since: Instant::now(),
            };
            self.stop_if_published(job);
            return;
        }
        for waiter in entry.savepoint_waiters.drain(..) {
            let _ = waiter.send(Ok(SavepointRef {
                job,
                checkpoint: savepoint,
            }));
        }
    }

    /// A task published its sinks' output up to `checkpoint`.
    pub(crate) fn committed(
        &mut self,
        job: JobId,
        generation: Generation,
        task: TaskId,
        checkpoint: CheckpointId,
    ) {
        let Some(status) = self.task_mut(job, generation, task) else {
            return;
        };
        status.committed = status.committed.max(Some(checkpoint));
        self.stop_if_published(job);
    }

    /// Stops a job whose stop savepoint every task has published.
    fn stop_if_published(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        let StopState::Publishing { savepoint, .. } = entry.stop else {
            return;
        };
        let published = entry
            .tasks
            .values()
            .all(|t| t.finished || t.committed >= Some(savepoint));
        if published {
            self.finish_stop(job, savepoint, None);
        }
    }

    /// Times out the publishing of a stopping job (called on every tick while it runs).
    pub(super) fn stop_tick(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        if let StopState::Publishing { savepoint, since } = entry.stop {
            if since.elapsed() > PUBLISH_TIMEOUT {
                let why = format!(
                    "not every sink confirmed publishing within {} s; a job started with \
                     --from-savepoint {job}/{savepoint} publishes the rest before it goes on",
                    PUBLISH_TIMEOUT.as_secs()
                );
                self.finish_stop(job, savepoint, Some(why));
            }
        }
    }

    /// Whether the job is publishing its stop savepoint (no checkpoint is triggered then,
    /// and a redeployment is stopped before it starts).
    pub(super) fn is_publishing_stop(&self, job: JobId) -> bool {
        self.jobs
            .get(&job)
            .is_some_and(|e| matches!(e.stop, StopState::Publishing { .. }))
    }

    /// Cancels the stopped job and answers who waits: with the savepoint, or with `problem`.
    pub(super) fn finish_stop(
        &mut self,
        job: JobId,
        savepoint: CheckpointId,
        problem: Option<String>,
    ) {
        if let Err(e) = self.cancel(job) {
            tracing::warn!("stopping {job} after its savepoint: {e}");
        }
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        entry.stop = StopState::NotAsked;
        let reference = SavepointRef {
            job,
            checkpoint: savepoint,
        };
        for waiter in entry.savepoint_waiters.drain(..) {
            let _ = waiter.send(match &problem {
                None => Ok(reference),
                Some(why) => Err(format!(
                    "{job} stopped at savepoint {job}/{savepoint}, but {why}"
                )),
            });
        }
        tracing::info!("{job} stopped at its savepoint {savepoint}");
    }

    /// The savepoint of a stop took too long. The sources paused after its barrier, so the
    /// job recovers from its last checkpoint and goes on; the user is told to try again.
    pub(super) fn stop_savepoint_expired(&mut self, job: JobId, why: &str) {
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.stop = StopState::NotAsked;
            for waiter in entry.savepoint_waiters.drain(..) {
                let _ = waiter.send(Err(format!(
                    "the stop's savepoint was dropped: {why}; the job is backpressured (see \
                     `quiver job status`): it recovers from its last checkpoint and goes on; \
                     try `quiver job stop` again"
                )));
            }
        }
        self.recover_or_fail(job, format!("the stop's savepoint was dropped: {why}"));
    }
}

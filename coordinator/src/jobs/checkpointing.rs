//! The coordinator's side of exactly-once (DESIGN.md §5): triggering checkpoints and
//! savepoints, collecting acknowledgements, completing and committing them, and recovering
//! a failed job from its last complete checkpoint with the next generation.

use super::offload::{Completing, Offload};
use super::phase::{Phase, Recovering};
use super::recovery_clock::{self, RecoveryClock};
use super::stopping::StopState;
use super::Cluster;
use crate::checkpoint_store::{CheckpointStore, Manifest};
use crate::lifecycle::JobEvent;
use crate::registry::Registration;
use quiver_protocol::messages::{
    AfterBarrier, CheckpointInfo, JobState, SavepointRef, SnapshotKind, TaskId, ToNode,
};
use quiver_protocol::plan::{JobPlan, OperatorKind};
use quiver_protocol::spec::{JobSpec, SourceKind};
use quiver_protocol::state_schema::StateSchema;
use quiver_protocol::{CheckpointId, Generation, JobId};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// Recoveries a job may take before it fails for good.
pub(crate) const MAX_RESTARTS: u32 = 10;
/// Complete checkpoints kept per job (savepoints are kept besides).
pub(crate) const RETAINED_CHECKPOINTS: usize = 3;

/// How long to wait before the `n`th restart: at once for the first, then doubling from
/// 500 ms up to 10 s, so a crash loop does not spin.
pub(crate) fn backoff(restarts: u32) -> Duration {
    if restarts <= 1 {
        return Duration::ZERO;
    }
    let ms = 500u64.saturating_mul(1 << (restarts - 2).min(10));
    Duration::from_millis(ms.min(10_000))
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Cluster {
    /// Triggers what is due for a running job and times out a stuck checkpoint.
    pub(super) fn checkpoint_tick(&mut self, job: JobId) {
        let now = Instant::now();
        if self.is_publishing_stop(job) {
            return self.stop_tick(job);
        }
        self.serving_tick(job);
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if let Some((checkpoint, timeout)) = entry.schedule.timed_out(now) {
            let why = format!(
                "{checkpoint} was not acknowledged by every task within {} s",
                timeout.as_secs()
            );
            if entry.schedule.pending().is_some_and(|p| p.last) {
                // The sources ended after the final barrier: only a recovery can take another.
                self.recover_or_fail(job, why);
            } else {
                self.expire_checkpoint(job, &why);
            }
            return;
        }
        if entry.completing.is_some() {
            // One checkpoint at a time, until its manifest is written.
            return;
        }
        let sources: Vec<TaskId> = entry
            .tasks
            .keys()
            .filter(|t| {
                matches!(
                    entry.plan.operator(t.operator).map(|o| &o.kind),
                    Some(OperatorKind::Source(_))
                )
            })
            .copied()
            .collect();
        let Phase::Running(running) = &entry.phase else {
            return;
        };
        let exhausted =
            !sources.is_empty() && sources.iter().all(|t| running.exhausted.contains(t));
        let tasks: Vec<TaskId> = entry.tasks.keys().copied().collect();
        let Some(trigger) = entry.schedule.due(now, exhausted, tasks) else {
            return;
        };
        entry.record.next_checkpoint = entry.schedule.next_id();
        if let Err(e) = self.store.save_job(&entry.record) {
            tracing::error!("cannot store {job}: {e}");
        }
        let generation = entry.record.generation;
        let then = Self::after_barrier(entry.stop, trigger.kind, trigger.last);
        if then == AfterBarrier::Pause {
            entry.stop = StopState::Paused {
                savepoint: trigger.checkpoint,
            };
        }
        tracing::debug!("{job}: triggering {} ({then:?})", trigger.checkpoint);
        let nodes: Vec<_> = entry
            .tasks
            .iter()
            .filter(|(t, _)| sources.contains(t))
            .map(|(_, s)| s.node)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let serving = entry.serving.carry(trigger.checkpoint);
        if let Some(saved) = entry.serving.take_changes() {
            if let Err(e) = self.store.save_serving(job, &saved) {
                tracing::error!("cannot store what {job} serves: {e}");
            }
        }
        for node in nodes {
            self.send(
                node,
                ToNode::TriggerCheckpoint {
                    job,
                    generation,
                    checkpoint: trigger.checkpoint,
                    then,
                    serving,
                },
            );
        }
    }

    /// A periodic checkpoint or a savepoint took too long — a backpressured job moves its
    /// barriers slowly — so it is dropped and the job goes on: restarting would not make the
    /// sinks faster, and the next checkpoint covers everything this one would have. Failures
    /// are found by heartbeats and task reports, not by slow checkpoints.
    fn expire_checkpoint(&mut self, job: JobId, why: &str) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        let Some(pending) = entry.schedule.abort() else {
            return;
        };
        entry.expired_checkpoints += 1;
        if let Err(e) = self.checkpoints.abort(job, pending.checkpoint) {
            tracing::warn!("cannot drop {} of {job}: {e}", pending.checkpoint);
        }
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        tracing::warn!("{job}: dropped {}: {why}", pending.checkpoint);
        if pending.kind != SnapshotKind::Savepoint {
            return;
        }
        let paused = StopState::Paused {
            savepoint: pending.checkpoint,
        };
        if entry.stop == paused {
            // The sources paused after its barrier: only a recovery gets them going again.
            return self.stop_savepoint_expired(job, why);
        }
        for waiter in entry.savepoint_waiters.drain(..) {
            let _ = waiter.send(Err(format!(
                "the savepoint was dropped: {why}; the job is backpressured (see `quiver job \
                 status`), try again when its sinks keep up"
            )));
        }
    }

    /// A source task ran dry.
    pub(crate) fn source_exhausted(&mut self, job: JobId, generation: Generation, task: TaskId) {
        if let Some(entry) = self.jobs.get_mut(&job) {
            if let (true, Phase::Running(running)) =
                (entry.record.generation == generation, &mut entry.phase)
            {
                running.exhausted.insert(task);
            }
        }
    }

    /// Whether an upload for `checkpoint` by this generation is wanted now.
    pub(crate) fn accepts_upload(
        &self,
        job: JobId,
        generation: Generation,
        checkpoint: CheckpointId,
    ) -> Result<(), String> {
        let entry = self.jobs.get(&job).ok_or_else(|| format!("no job {job}"))?;
        if entry.record.generation != generation {
            return Err(format!(
                "stale snapshot: {job} runs {}, the task is at {generation}",
                entry.record.generation
            ));
        }
        if !entry.schedule.is_pending(checkpoint) {
            return Err(format!("{checkpoint} of {job} is not in flight"));
        }
        Ok(())
    }

    /// A task stored its snapshot: once every task did, the checkpoint's manifest is queued
    /// to be written off the lock (`offload`), and [`Cluster::checkpoint_completed`] follows.
    pub(crate) fn checkpoint_ack(
        &mut self,
        job: JobId,
        generation: Generation,
        checkpoint: CheckpointId,
        task: TaskId,
    ) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if entry.record.generation != generation {
            return;
        }
        let Some(done) = entry.schedule.ack(checkpoint, task) else {
            return;
        };
        let manifest = Manifest {
            job,
            checkpoint,
            generation,
            kind: done.kind,
            completed_at_ms: now_ms(),
            duration_ms: done.started.elapsed().as_millis() as u64,
            operators: entry
                .plan
                .operators
                .iter()
                .map(|o| (o.name.clone(), o.parallelism))
                .collect(),
            max_parallelism: entry.plan.spec.max_parallelism,
        };
        entry.completing = Some(Completing {
            checkpoint,
            last: done.last,
            deferred_failure: None,
        });
        self.offloads.push(Offload::Complete {
            generation,
            manifest,
        });
    }

    /// A checkpoint's manifest is written: sinks are told to commit, retention runs, and
    /// who waits for a savepoint hears of it. Returns the registration of the model versions
    /// it produced, for the caller to run off the cluster lock.
    pub(super) fn checkpoint_completed(
        &mut self,
        manifest: &Manifest,
        last: bool,
    ) -> Option<Registration> {
        let (job, checkpoint) = (manifest.job, manifest.checkpoint);
        if let Some(entry) = self.jobs.get_mut(&job) {
            // The job runs again: the next failure starts a new row of restarts.
            entry.restarts_in_a_row = 0;
            // The first checkpoint of a recovered run: its sinks publish again.
            let recovered = matches!(entry.phase, Phase::Running(_));
            if let Some(clock) = entry.recovery.take_if(|_| recovered) {
                let times = clock.published(Instant::now());
                tracing::info!(
                    "{job} publishes again {} ms after {} (detect {} ms, restore point {} ms, \
                     placement {} ms, deploy {} ms, first output {} ms)",
                    times.total_ms,
                    times.reason,
                    times.detect_ms,
                    times.restore_point_ms,
                    times.placement_ms,
                    times.deploy_ms,
                    times.first_output_ms
                );
                recovery_clock::remember(&mut entry.recoveries, times);
            }
            entry.serving.completed(checkpoint);
        }
        tracing::info!(
            "{job}: {checkpoint} complete in {} ms{}",
            manifest.duration_ms,
            if last { " (final)" } else { "" }
        );
        self.send_to_job_nodes(job, |job, generation| ToNode::CommitCheckpoint {
            job,
            generation,
            checkpoint,
        });
        self.prune_checkpoints(job);
        if manifest.kind == SnapshotKind::Savepoint {
            self.savepoint_completed(job, checkpoint);
        }
        self.registration(manifest)
    }

    /// Drops checkpoints beyond the retained ones (savepoints and the checkpoints of aliased
    /// model versions stay), and the model versions of the dropped ones.
    pub(super) fn prune_checkpoints(&self, job: JobId) {
        // Versions a predict stage serves are its learner's.
        let served: Vec<(String, CheckpointId)> = self
            .jobs
            .get(&job)
            .map(|e| {
                let spec = &e.plan.spec;
                let served = e.serving.served_versions().into_iter();
                served
                    .map(|(stage, v)| (spec.model_of(&stage).to_string(), v))
                    .collect()
            })
            .unwrap_or_default();
        if let Err(e) = self.registry.prune(job, RETAINED_CHECKPOINTS, &served) {
            tracing::warn!("cannot prune checkpoints of {job}: {e}");
        }
    }

    /// A failure: with checkpoints and restarts left, redeploy from the last complete
    /// checkpoint with the next generation (after a back-off); otherwise the job fails.
    /// While a checkpoint completes, the failure waits for it (`offload`): the recovery
    /// then restores from it if it completed.
    pub(crate) fn recover_or_fail(&mut self, job: JobId, why: String) {
        self.recover_after(job, why, Instant::now());
    }

    /// [`Cluster::recover_or_fail`] for a failure whose last sign of life was at `fault`
    /// (a lost node's last heartbeat), for the recovery's detection time.
    pub(super) fn recover_after(&mut self, job: JobId, why: String, fault: Instant) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if let Some(completing) = &mut entry.completing {
            tracing::info!(
                "{job}: {why}; handled once {} is complete",
                completing.checkpoint
            );
            completing.deferred_failure.get_or_insert(why);
            return;
        }
        let checkpointing = entry.plan.spec.checkpoint_interval.is_some();
        if !checkpointing || entry.restarts_in_a_row >= MAX_RESTARTS {
            let why = if checkpointing {
                format!(
                    "{why}; gave up after {MAX_RESTARTS} restarts without a completed checkpoint"
                )
            } else {
                format!("{why} (the job takes no checkpoints, so it cannot recover: set job.checkpoint_interval)")
            };
            self.fail(job, why);
            return;
        }
        let Some(left) = self.apply(job, JobEvent::Recover) else {
            return;
        };
        self.cancel_tasks(job, left);
        self.restart_from_checkpoint(job, &why, fault);
    }

    /// Bumps the generation and plans the redeployment from the newest valid checkpoint,
    /// which is looked for off the lock (`offload`).
    fn restart_from_checkpoint(&mut self, job: JobId, why: &str, fault: Instant) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if let Some(pending) = entry.schedule.abort() {
            if let Err(e) = self.checkpoints.abort(job, pending.checkpoint) {
                tracing::warn!("cannot drop {} of {job}: {e}", pending.checkpoint);
            }
            for waiter in entry.savepoint_waiters.drain(..) {
                let _ = waiter.send(Err(format!("the job failed during the savepoint: {why}")));
            }
        }
        let now = Instant::now();
        match &mut entry.recovery {
            Some(clock) => clock.failed_again(),
            None => entry.recovery = Some(RecoveryClock::detected(why, fault, now)),
        }
        entry.restarts += 1;
        entry.restarts_in_a_row += 1;
        entry.record.generation = entry.record.generation.next();
        entry.record.error = Some(format!("recovering: {why}"));
        entry.enter(Phase::Recovering(Recovering {
            not_before: now + backoff(entry.restarts_in_a_row),
            finding_restore: true,
        }));
        entry.tasks.clear();
        let generation = entry.record.generation;
        if let Err(e) = self.store.save_job(&entry.record) {
            tracing::error!("cannot store {job}: {e}");
        }
        tracing::warn!(
            "{job}: recovering as {generation} (restart {} in a row of {MAX_RESTARTS}): {why}",
            entry.restarts_in_a_row
        );
        self.offloads.push(Offload::FindRestore { job, generation });
    }

    /// After a coordinator restart: a job that was live resumes from its last checkpoint.
    pub(super) fn resume_after_restart(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if entry.plan.spec.checkpoint_interval.is_none() {
            entry.enter(Phase::Ended {
                state: JobState::Failed,
                at: Instant::now(),
            });
            entry.record.error = Some(
                "the coordinator restarted while the job ran, and it takes no checkpoints".into(),
            );
            let _ = self.store.save_job(&entry.record);
            return;
        }
        self.restart_from_checkpoint(job, "the coordinator restarted", Instant::now());
    }

    /// Asks for a savepoint of a running job (and to stop it right after, with `stop`); the
    /// receiver gets it when complete.
    pub(crate) fn request_savepoint(
        &mut self,
        job: JobId,
        stop: bool,
    ) -> Result<oneshot::Receiver<Result<SavepointRef, String>>, String> {
        let entry = self
            .jobs
            .get_mut(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        if entry.plan.spec.checkpoint_interval.is_none() {
            return Err(format!(
                "{job} takes no checkpoints (its spec has no job.checkpoint_interval), so it \
                 has no savepoints{}; add checkpoint_interval to the spec's [job] table to take \
                 savepoints",
                if stop {
                    ": `quiver job cancel` ends it"
                } else {
                    ""
                }
            ));
        }
        if entry.record.state != JobState::Running {
            return Err(format!(
                "{job} is {:?}: savepoints are taken of running jobs",
                entry.record.state
            ));
        }
        if stop {
            match entry.stop {
                StopState::NotAsked => entry.stop = StopState::AtSavepoint,
                StopState::AtSavepoint | StopState::Paused { .. } => {}
                StopState::Publishing { .. } => {
                    return Err(format!("{job} is stopping already"));
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        entry.savepoint_waiters.push(tx);
        entry.schedule.request_savepoint();
        Ok(rx)
    }

    /// Completed checkpoints and savepoints of a job.
    pub(crate) fn checkpoint_list(&self, job: JobId) -> Result<Vec<CheckpointInfo>, String> {
        if !self.jobs.contains_key(&job) {
            return Err(format!("no job {job}: see `quiver job list`"));
        }
        self.checkpoints.list(job).map_err(|e| e.to_string())
    }

    /// The store holding `job`'s checkpoint history, to read off the lock.
    pub(crate) fn history_of(&self, job: JobId) -> Result<CheckpointStore, String> {
        if !self.jobs.contains_key(&job) {
            return Err(format!("no job {job}: see `quiver job list`"));
        }
        Ok(self.checkpoints.clone())
    }

    pub(super) fn last_checkpoint(&self, job: JobId) -> Option<CheckpointId> {
        self.checkpoints
            .list(job)
            .ok()
            .and_then(|l| l.last().map(|c| c.checkpoint))
    }

    /// Checks that a savepoint exists and fits the spec; returns (its job, id, generation).
    /// The new job continues the savepoint's generation and checkpoint numbering, so the
    /// part files both write into one folder never share a name.
    pub(super) fn savepoint_restore(
        &self,
        savepoint: SavepointRef,
        spec: &JobSpec,
    ) -> Result<(JobId, CheckpointId, Generation), String> {
        let manifest = self
            .checkpoints
            .manifest(savepoint.job, savepoint.checkpoint)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no savepoint {}/{}: see `quiver checkpoint list {}`",
                    savepoint.job, savepoint.checkpoint, savepoint.job
                )
            })?;
        if manifest.max_parallelism != spec.max_parallelism {
            return Err(format!(
                "the savepoint has max_parallelism {} but the spec has {}: key groups must match",
                manifest.max_parallelism, spec.max_parallelism
            ));
        }
        // File splits move between partitions by identity; a generator's partitions are its
        // splits, so its parallelism must stay.
        let generators = spec
            .sources
            .iter()
            .filter(|s| matches!(s.kind, SourceKind::Generator(_)));
        for source in generators {
            let before = manifest.operators.iter().find(|(n, _)| *n == source.name);
            if let Some((_, p)) = before {
                if *p != source.parallelism {
                    return Err(format!(
                        "generator source {:?} had parallelism {p} in the savepoint and {} now: \
                         its partitions' sequences cannot be redistributed; keep its parallelism",
                        source.name, source.parallelism
                    ));
                }
            }
        }
        self.check_state_fits(savepoint.job, spec)?;
        Ok((savepoint.job, savepoint.checkpoint, manifest.generation))
    }

    /// Refuses a spec whose stages cannot continue from the state `saved_by`'s stages of the
    /// same name keep (another function, key or window; an aggregate added), so the user
    /// hears it at submission instead of from a failing restore. Nodes check it again on the
    /// schema stored with the state itself.
    fn check_state_fits(&self, saved_by: JobId, spec: &JobSpec) -> Result<(), String> {
        let Some(saved) = self.jobs.get(&saved_by) else {
            return Ok(());
        };
        for op in &JobPlan::from_spec(spec).operators {
            let before = saved.plan.operators.iter().find(|o| o.name == op.name);
            if let (Some(now), Some(before)) =
                (StateSchema::of(op), before.and_then(StateSchema::of))
            {
                now.restore_from(&before, &op.name)?;
            }
        }
        Ok(())
    }

    /// The job whose checkpoint store holds `job`'s restore state (itself, or the job of the
    /// savepoint it started from, until it completes a checkpoint of its own).
    pub(crate) fn state_owner(&self, job: JobId, checkpoint: CheckpointId) -> JobId {
        match self.jobs.get(&job) {
            Some(entry) => match entry.record.restore_job {
                Some(from)
                    if !self
                        .checkpoints
                        .is_complete(job, checkpoint)
                        .unwrap_or(false) =>
                {
                    from
                }
                _ => job,
            },
            None => job,
        }
    }

    /// A handle for storing and reading state without holding the cluster lock.
    pub(crate) fn checkpoint_store(&self) -> crate::checkpoint_store::CheckpointStore {
        self.checkpoints.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn restarts_back_off_up_to_ten_seconds() {
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_secs(1));
        assert_eq!(backoff(30), Duration::from_secs(10));
    }
}

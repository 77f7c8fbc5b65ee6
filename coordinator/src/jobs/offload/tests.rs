//! The cluster's decisions around store work taken off its lock, on a real sled store in a
//! temporary directory, with the work run (or its failure injected) by the test: nothing is
//! written while the cluster is locked, a failure reported while a checkpoint completes
//! waits for it and then restores from it, a completion that fails recovers from the
//! checkpoint before, and a recovery is not redeployed before its restore point is known.

use super::*;
use crate::jobs::JobEntry;
use crate::store::Store;
use quiver_protocol::messages::{JobState, SnapshotKind, TaskId, ToNode};
use quiver_protocol::outbox::{Inbox, Outbox};
use quiver_protocol::Failure;
use std::path::PathBuf;

const SPEC: &str = r#"
[job]
name = "offload"
parallelism = 2
checkpoint_interval = "1h"

[[source]]
name = "events"
kind = "generator"
count = 100

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#;

/// A cluster with one node of four slots and the job of [`SPEC`] deployed and running.
struct Running {
    _dir: tempfile::TempDir,
    cluster: Cluster,
    inbox: Inbox<ToNode>,
    job: JobId,
}

impl Running {
    fn start() -> Running {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path()).expect("store");
        let mut cluster = Cluster::new(store, crate::HEARTBEAT_TIMEOUT).expect("cluster");
        let (outbox, inbox) = Outbox::new(1024);
        let node = cluster.join(([127, 0, 0, 1], 7001).into(), 4, outbox);
        let job = cluster
            .submit(SPEC.into(), PathBuf::from("/"), None)
            .expect("submitted");
        let generation = cluster.jobs[&job].record.generation;
        cluster.deployed(node, job, generation);
        assert_eq!(cluster.jobs[&job].record.state, JobState::Running);
        let mut running = Running {
            _dir: dir,
            cluster,
            inbox,
            job,
        };
        running.commands();
        running
    }

    fn entry(&self) -> &JobEntry {
        &self.cluster.jobs[&self.job]
    }

    fn generation(&self) -> Generation {
        self.entry().record.generation
    }

    fn tasks(&self) -> Vec<TaskId> {
        self.entry().tasks.keys().copied().collect()
    }

    /// The commands sent to the node since the last call.
    fn commands(&mut self) -> Vec<ToNode> {
        std::iter::from_fn(|| self.inbox.messages.try_recv().ok()).collect()
    }

    /// Triggers a checkpoint now; returns its id.
    fn trigger(&mut self) -> CheckpointId {
        let job = self.job;
        let entry = self.cluster.jobs.get_mut(&job).expect("job");
        entry.schedule.request_checkpoint();
        self.cluster.checkpoint_tick(job);
        self.entry()
            .schedule
            .pending()
            .expect("a checkpoint in flight")
            .checkpoint
    }

    /// Every task acknowledges `checkpoint`.
    fn ack_all(&mut self, checkpoint: CheckpointId) {
        let generation = self.generation();
        for task in self.tasks() {
            self.cluster
                .checkpoint_ack(self.job, generation, checkpoint, task);
        }
    }

    fn is_complete(&self, checkpoint: CheckpointId) -> bool {
        self.cluster
            .checkpoints
            .is_complete(self.job, checkpoint)
            .expect("readable")
    }

    /// Runs the queued store work as the server does and hands the outcomes back.
    fn run_offloads(&mut self) -> usize {
        let work = self.cluster.take_offloads();
        let store = self.cluster.checkpoint_store();
        for offload in &work {
            let outcome = offload.clone().run(&store);
            self.cluster.offload_done(outcome);
        }
        work.len()
    }

    fn fail_a_task(&mut self) {
        let (job, generation) = (self.job, self.generation());
        let task = self.tasks()[0];
        self.cluster
            .task_failed(job, generation, task, Failure::transient("killed by the test"));
    }
}

fn commits(commands: &[ToNode]) -> Vec<CheckpointId> {
    commands
        .iter()
        .filter_map(|c| match c {
            ToNode::CommitCheckpoint { checkpoint, .. } => Some(*checkpoint),
            _ => None,
        })
        .collect()
}

#[test]
fn a_checkpoint_completes_off_the_lock_and_commits_after_its_manifest_is_written() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    run.ack_all(checkpoint);

    // Every task acknowledged: nothing was written under the lock, the work is queued.
    assert!(!run.is_complete(checkpoint));
    assert!(commits(&run.commands()).is_empty(), "no commit before the manifest");
    let queued = run.cluster.take_offloads();
    assert!(
        matches!(&queued[..], [Offload::Complete { manifest, .. }]
            if manifest.checkpoint == checkpoint && manifest.kind == SnapshotKind::Checkpoint),
        "{queued:?}"
    );

    // No other checkpoint is triggered while the manifest is in flight.
    run.cluster
        .jobs
        .get_mut(&run.job)
        .expect("job")
        .schedule
        .request_checkpoint();
    run.cluster.checkpoint_tick(run.job);
    assert!(run.entry().schedule.pending().is_none());

    let store = run.cluster.checkpoint_store();
    let outcome = queued.into_iter().next().expect("one").run(&store);
    run.cluster.offload_done(outcome);
    assert!(run.is_complete(checkpoint));
    assert_eq!(commits(&run.commands()), vec![checkpoint]);
    assert_eq!(run.trigger(), CheckpointId(checkpoint.0 + 1), "the next one goes");
}

#[test]
fn a_failure_while_a_checkpoint_completes_waits_for_it_and_restores_from_it() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    run.ack_all(checkpoint);
    run.fail_a_task();
    assert_eq!(
        (run.entry().record.state, run.generation()),
        (JobState::Running, Generation(1)),
        "the failure waits for the manifest"
    );

    assert_eq!(run.run_offloads(), 1);
    assert!(run.is_complete(checkpoint));
    let commands = run.commands();
    assert_eq!(commits(&commands), vec![checkpoint], "{commands:?}");
    assert!(
        matches!(commands.last(), Some(ToNode::Cancel { generation, .. }) if *generation == Generation(1)),
        "then the failure is handled: {commands:?}"
    );
    assert_eq!(run.entry().record.state, JobState::Recovering);
    assert_eq!(run.generation(), Generation(2));

    // The restore point is looked for off the lock; until it is known, no redeployment.
    assert!(run.entry().finding_restore);
    run.cluster.tick();
    assert_eq!(run.entry().record.state, JobState::Recovering);
    assert_eq!(run.run_offloads(), 1);
    assert_eq!(run.entry().restore, Some((checkpoint, Generation(1))));
    let deploys: Vec<_> = run
        .commands()
        .into_iter()
        .filter_map(|c| match c {
            ToNode::Deploy(d) => Some((d.generation, d.restore)),
            _ => None,
        })
        .collect();
    assert_eq!(
        deploys,
        vec![(Generation(2), Some((checkpoint, Generation(1))))]
    );
}

#[test]
fn a_checkpoint_that_cannot_complete_recovers_from_the_one_before() {
    let mut run = Running::start();
    let first = run.trigger();
    run.ack_all(first);
    run.run_offloads();
    assert_eq!(commits(&run.commands()), vec![first]);
    let second = run.trigger();
    run.ack_all(second);
    run.fail_a_task();

    // The store refuses the manifest (a full disk): the job recovers from the first.
    let work = run.cluster.take_offloads();
    assert_eq!(work.len(), 1);
    let refused = work[0].failed("No space left on device");
    run.cluster.offload_done(refused);
    assert!(!run.is_complete(second));
    assert!(commits(&run.commands()).is_empty(), "nothing of it is committed");
    assert_eq!(run.entry().record.state, JobState::Recovering);
    assert!(
        run.entry()
            .record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot complete") && e.contains("No space left")),
        "{:?}",
        run.entry().record.error
    );
    assert_eq!(run.run_offloads(), 1);
    assert_eq!(run.entry().restore, Some((first, Generation(1))));
}

#[test]
fn outcomes_of_an_older_generation_change_nothing() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    run.ack_all(checkpoint);
    let work = run.cluster.take_offloads();
    let stale = work[0].failed("late");
    // Handled as the current one would be: the job recovers and moves to generation 2.
    run.cluster.offload_done(work[0].clone().run(&run.cluster.checkpoint_store()));
    run.fail_a_task();
    assert_eq!(run.generation(), Generation(2));
    run.commands();

    // The first outcome arriving twice does nothing more.
    run.cluster.offload_done(stale);
    assert_eq!(run.generation(), Generation(2));
    assert!(run.commands().is_empty());
    let late_restore = Outcome::RestoreFound {
        job: run.job,
        generation: Generation(1),
        restore: None,
    };
    run.cluster.offload_done(late_restore);
    assert!(run.entry().finding_restore, "still waits for its own");
}

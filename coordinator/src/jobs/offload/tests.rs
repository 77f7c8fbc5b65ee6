//! The cluster's decisions around store work taken off its lock, on a real sled store in a
//! temporary directory, with the work run (or its failure injected) by the test: nothing is
//! written while the cluster is locked, a failure reported while a checkpoint completes
//! waits for it and then restores from it, a completion that fails recovers from the
//! checkpoint before, and a recovery is not redeployed before its restore point is known.

use super::*;
use crate::jobs::test_support::{commits, Running};
use quiver_protocol::messages::{JobState, SnapshotKind, ToNode};

#[test]
fn a_checkpoint_completes_off_the_lock_and_commits_after_its_manifest_is_written() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    run.ack_all(checkpoint);

    // Every task acknowledged: nothing was written under the lock, the work is queued.
    assert!(!run.is_complete(checkpoint));
    assert!(
        commits(&run.commands()).is_empty(),
        "no commit before the manifest"
    );
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
    assert_eq!(
        run.trigger(),
        CheckpointId(checkpoint.0 + 1),
        "the next one goes"
    );
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
    assert!(run.finding_restore());
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
    assert!(
        commits(&run.commands()).is_empty(),
        "nothing of it is committed"
    );
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
    run.cluster
        .offload_done(work[0].clone().run(&run.cluster.checkpoint_store()));
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
    assert!(run.finding_restore(), "still waits for its own");
}

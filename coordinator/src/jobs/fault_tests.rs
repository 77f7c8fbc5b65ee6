//! Checkpoint coordination under injected faults, with the node's control stream as its fake
//! and the store real: duplicated, stale and reordered acknowledgements, a task lost in the
//! middle of a checkpoint, and a coordinator crash between a manifest and its commit.

use super::test_support::{commits, Running};
use quiver_protocol::messages::{JobState, ToNode};
use quiver_protocol::{CheckpointId, Generation};

#[test]
fn a_duplicated_acknowledgement_neither_completes_early_nor_twice() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    let tasks = run.tasks();
    assert!(tasks.len() >= 2, "{tasks:?}");
    let generation = run.generation();
    for _ in 0..3 {
        run.cluster
            .checkpoint_ack(run.job, generation, checkpoint, tasks[0]);
    }
    assert!(
        run.cluster.take_offloads().is_empty(),
        "one task of several acknowledged"
    );
    run.ack_all(checkpoint);
    assert_eq!(run.run_offloads(), 1);
    run.ack_all(checkpoint);
    assert_eq!(run.run_offloads(), 0, "acknowledged again after completing");
    assert_eq!(commits(&run.commands()), vec![checkpoint]);
}

#[test]
fn acknowledgements_of_another_checkpoint_or_generation_count_for_nothing() {
    let mut run = Running::start();
    let first = run.trigger();
    run.ack_all(first);
    run.run_offloads();
    let second = run.trigger();
    let generation = run.generation();
    // Late and reordered: acknowledgements of the checkpoint before, and of a stale generation.
    for task in run.tasks() {
        run.cluster.checkpoint_ack(run.job, generation, first, task);
        let stale = Generation(generation.0.saturating_sub(1));
        run.cluster.checkpoint_ack(run.job, stale, second, task);
        let future = CheckpointId(second.0 + 1);
        run.cluster
            .checkpoint_ack(run.job, generation, future, task);
    }
    assert_eq!(run.run_offloads(), 0);
    assert!(!run.is_complete(second));
    assert!(
        run.entry().schedule.is_pending(second),
        "still waits for its own"
    );
}

#[test]
fn a_task_lost_mid_checkpoint_recovers_from_the_checkpoint_before() {
    let mut run = Running::start();
    let first = run.trigger();
    run.ack_all(first);
    run.run_offloads();
    run.commands();
    let second = run.trigger();
    let (job, generation) = (run.job, run.generation());
    let tasks = run.tasks();
    run.cluster
        .checkpoint_ack(job, generation, second, tasks[0]);
    run.fail_a_task();
    assert_eq!(run.entry().record.state, JobState::Recovering);
    // Its late acknowledgements, from the generation that failed, complete nothing.
    run.ack_all(second);
    for task in &tasks {
        run.cluster.checkpoint_ack(job, generation, second, *task);
    }
    assert_eq!(
        run.run_offloads(),
        1,
        "only the restore point is looked for"
    );
    assert!(!run.is_complete(second));
    assert_eq!(run.entry().restore, Some((first, generation)));
    assert!(commits(&run.commands()).is_empty());
    run.start_deployed();
    assert_eq!(run.generation(), Generation(generation.0 + 1));
    assert_eq!(
        run.trigger(),
        CheckpointId(second.0 + 1),
        "ids never repeat"
    );
}

#[test]
fn a_coordinator_crash_between_manifest_and_commit_restores_from_that_checkpoint() {
    let mut run = Running::start();
    let checkpoint = run.trigger();
    run.ack_all(checkpoint);
    // The manifest is written, then the process dies before the outcome is handed back: no
    // commit was sent.
    let store = run.cluster.checkpoint_store();
    for offload in run.cluster.take_offloads() {
        let _lost_with_the_process = offload.run(&store);
    }
    drop(store);
    assert!(run.is_complete(checkpoint));
    assert!(commits(&run.commands()).is_empty());
    let generation = run.generation();

    let mut run = run.restart_coordinator();
    // The new generation restores from it (building its sinks publishes what it staged).
    assert_eq!(run.entry().restore, Some((checkpoint, generation)));
    assert!(run.generation() > generation);
    assert_eq!(run.entry().record.state, JobState::Running);
    assert_eq!(run.trigger(), CheckpointId(checkpoint.0 + 1));
}

#[test]
fn a_recovery_is_timed_phase_by_phase_until_the_job_publishes_again() {
    let mut run = Running::start();
    let first = run.trigger();
    run.ack_all(first);
    run.run_offloads();
    run.fail_a_task();
    assert!(run.entry().recoveries.is_empty(), "not published yet");
    // It fails again before it runs: one recovery, two attempts.
    run.run_offloads();
    run.fail_a_task();
    run.run_offloads();
    // The second restart in a row backs off before it is placed.
    let backoff = super::checkpointing::backoff(2);
    std::thread::sleep(backoff + std::time::Duration::from_millis(50));
    run.cluster.tick();
    run.start_deployed();
    assert!(run.entry().recoveries.is_empty(), "not published yet");
    let first_of_the_recovered_run = run.trigger();
    run.ack_all(first_of_the_recovered_run);
    run.run_offloads();
    let times: Vec<_> = run.entry().recoveries.iter().cloned().collect();
    assert_eq!(times.len(), 1, "{times:?}");
    let t = &times[0];
    assert_eq!(t.attempts, 2);
    assert!(t.reason.contains("killed by the test"), "{}", t.reason);
    assert!(t.placement_ms >= backoff.as_millis() as u64, "{t:?}");
    assert_eq!(
        t.detect_ms + t.restore_point_ms + t.placement_ms + t.deploy_ms + t.first_output_ms,
        t.total_ms
    );
    assert!(run.entry().recovery.is_none());
}

#[test]
fn a_recovery_is_not_deployed_before_its_generation_is_stored() {
    let mut run = Running::start();
    let first = run.trigger();
    run.ack_all(first);
    run.run_offloads();
    run.commands();
    run.disk_full(true);
    run.fail_a_task();
    run.run_offloads();
    run.cluster.tick();
    let deploys = |commands: Vec<ToNode>| -> Vec<Generation> {
        commands
            .iter()
            .filter_map(|c| match c {
                ToNode::Deploy(d) => Some(d.generation),
                _ => None,
            })
            .collect()
    };
    assert_eq!(deploys(run.commands()), vec![], "deployed while not stored");
    let report = run.cluster.status(run.job).expect("report");
    let error = report.error.unwrap_or_default();
    assert!(error.contains("coordinator's store"), "{error}");

    run.disk_full(false);
    run.cluster.tick();
    assert_eq!(deploys(run.commands()), vec![Generation(2)]);
    assert_eq!(
        run.stored_generation(),
        Generation(2),
        "the generation it runs is the one stored"
    );
}

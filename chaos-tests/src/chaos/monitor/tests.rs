//! When a killed job published again, read off hand-made status samples: from the kill, not
//! from the restart of the killed process, and never at a checkpoint of the run it killed.

use super::*;
use JobState::{Recovering, Running};

/// Samples 200 ms apart from `start`: (state, last checkpoint, restarts).
fn samples(start: Instant, rows: &[(JobState, u64, u32)]) -> Vec<Sample> {
    rows.iter()
        .enumerate()
        .map(|(i, &(state, checkpoint, restarts))| Sample {
            at: start + Duration::from_millis(200 * i as u64),
            state,
            checkpoint,
            source_records: 0,
            restarts,
        })
        .collect()
}

#[test]
fn a_job_that_recovered_before_the_killed_node_came_back_recovered_then() {
    let start = Instant::now();
    // Killed after checkpoint 7; found 1 s later; the recovered run's first checkpoint (8)
    // completes at sample 7; the killed node is restarted 2 s after the kill (sample 10),
    // which the old rule waited for, and checkpoint 9 follows.
    let rows = [
        (Running, 7, 0),
        (Running, 7, 0),
        (Running, 7, 0),
        (Running, 7, 0),
        (Running, 7, 0),
        (Recovering, 7, 1),
        (Running, 7, 1),
        (Running, 8, 1),
        (Running, 8, 1),
        (Running, 8, 1),
        (Running, 8, 1),
        (Running, 9, 1),
    ];
    let all = samples(start, &rows);
    let found = published_again(7, &all).expect("published again");
    assert_eq!(found.at, start + Duration::from_millis(1400));
}

#[test]
fn a_checkpoint_of_the_killed_run_completing_after_the_kill_does_not_count() {
    let start = Instant::now();
    // The newest checkpoint seen before the kill is 7, but 8 (acknowledged before the kill)
    // completes just after it; the recovered run's first is 9.
    let rows = [
        (Running, 8, 0),
        (Running, 8, 0),
        (Running, 8, 1),
        (Running, 9, 1),
    ];
    let found = published_again(7, &samples(start, &rows)).expect("published again");
    assert_eq!(found.checkpoint, 9);
}

#[test]
fn a_job_the_fault_missed_publishes_again_at_its_next_checkpoint() {
    let start = Instant::now();
    let rows = [(Running, 7, 2), (Running, 8, 2)];
    let found = published_again(7, &samples(start, &rows)).expect("published again");
    assert_eq!(found.at, start + Duration::from_millis(200));
    assert!(published_again(7, &[]).is_none());
}

//! The job lifecycle as a state machine: which transitions are legal, as a pure function.
//!
//! ```text
//! Created ──▶ Scheduling ──▶ Running ──▶ Finished
//!    │          ▲   │           │
//!    │          │   ▼           ▼
//!    │        Recovering ◀──────┘   (a failure with checkpoints and restarts left)
//!    │            │
//!    └────────────┴──▶ Failed | Cancelled   (from any live state)
//! ```
//! A terminal state never changes again; anything else is refused, so a late message (a task
//! report after a cancel) cannot resurrect a job.

use quiver_protocol::messages::JobState;

/// What happened to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEvent {
    /// Placement started.
    Schedule,
    /// Every node deployed its tasks and they were started.
    Started,
    /// Every task finished.
    AllTasksFinished,
    /// A task, a node or the deployment failed and the job restarts from a checkpoint.
    Recover,
    /// A task, a node or the deployment failed for good.
    Failure,
    /// A user cancelled it.
    Cancel,
}

/// A transition that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} job cannot take {event:?}")]
pub struct IllegalTransition {
    /// The state the job was in.
    pub from: JobState,
    /// The event refused.
    pub event: JobEvent,
}

/// The state after `event`, or why it is refused.
pub fn transition(from: JobState, event: JobEvent) -> Result<JobState, IllegalTransition> {
    use JobEvent::*;
    use JobState::*;
    match (from, event) {
        (Created | Recovering, Schedule) => Ok(Scheduling),
        (Scheduling, Started) => Ok(Running),
        (Running, AllTasksFinished) => Ok(Finished),
        (Scheduling | Running, Recover) => Ok(Recovering),
        (Created | Scheduling | Running | Recovering, Failure) => Ok(Failed),
        (Created | Scheduling | Running | Recovering, Cancel) => Ok(Cancelled),
        _ => Err(IllegalTransition { from, event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent::*;
    use JobState::*;

    const STATES: [JobState; 7] = [
        Created, Scheduling, Running, Recovering, Finished, Failed, Cancelled,
    ];
    const EVENTS: [JobEvent; 6] = [
        Schedule,
        Started,
        AllTasksFinished,
        Recover,
        Failure,
        Cancel,
    ];

    #[test]
    fn the_happy_path_reaches_finished() {
        let mut s = Created;
        for e in [Schedule, Started, AllTasksFinished] {
            s = transition(s, e).unwrap();
        }
        assert_eq!(s, Finished);
    }

    #[test]
    fn terminal_states_never_change() {
        for s in STATES.into_iter().filter(|s| s.is_terminal()) {
            for e in EVENTS {
                assert!(transition(s, e).is_err(), "{s:?} took {e:?}");
            }
        }
    }

    #[test]
    fn a_recovery_goes_back_through_scheduling() {
        let mut s = Running;
        for e in [Recover, Schedule, Started] {
            s = transition(s, e).unwrap();
        }
        assert_eq!(s, Running);
        assert!(transition(Recovering, Started).is_err());
        assert!(transition(Created, Recover).is_err());
    }

    #[test]
    fn every_live_state_can_fail_or_be_cancelled() {
        for s in [Created, Scheduling, Running, Recovering] {
            assert_eq!(transition(s, Failure), Ok(Failed));
            assert_eq!(transition(s, Cancel), Ok(Cancelled));
        }
    }

    #[test]
    fn no_state_skips_a_step() {
        assert!(transition(Created, Started).is_err());
        assert!(transition(Scheduling, AllTasksFinished).is_err());
        assert!(transition(Running, Schedule).is_err());
    }
}

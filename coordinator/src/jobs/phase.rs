//! Where a job is in its lifecycle, with the data only that state has.
//!
//! [`Phase`] is the in-memory form of a job's state: `lifecycle::transition` decides which
//! moves are legal, and [`Phase::after`] builds the state a move lands in. `JobRecord::state`
//! is its stored name, set only together with the phase (`Cluster::apply`).

use super::alignment::SentReports;
use quiver_protocol::messages::{JobState, TaskId};
use quiver_protocol::plan::Assignment;
use quiver_protocol::NodeId;
use std::collections::HashSet;
use std::time::Instant;

/// A move into `Running` without a placement.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NotPlaced;

/// A job's state and what belongs to it alone.
pub(super) enum Phase {
    /// Submitted, not yet placed.
    Created,
    /// Being placed on nodes.
    Scheduling(Scheduling),
    /// Started on its assignment.
    Running(Running),
    /// Between a failure and its redeployment.
    Recovering(Recovering),
    /// Finished, failed or cancelled (`state`) at `at`.
    Ended { state: JobState, at: Instant },
}

/// A job waiting for slots, or deployed and waiting for every node to confirm.
pub(super) struct Scheduling {
    /// When it entered this state (placement gives up after `SCHEDULING_TIMEOUT`).
    pub(super) since: Instant,
    /// Why it is not placed yet, for `quiver job status`.
    pub(super) waiting_for: Option<String>,
    /// Whether its record (the generation it deploys) is stored: it is not deployed before.
    pub(super) stored: bool,
    /// Where it was placed, once it was.
    pub(super) placed: Option<Placed>,
}

/// A deployment sent to nodes.
pub(super) struct Placed {
    pub(super) assignment: Assignment,
    /// Nodes that have not confirmed their part yet.
    pub(super) pending: HashSet<NodeId>,
}

/// A job whose tasks were started.
pub(super) struct Running {
    pub(super) assignment: Assignment,
    /// Source tasks that ran dry.
    pub(super) exhausted: HashSet<TaskId>,
    /// The watermarks last sent to aligned sources' partitions.
    pub(super) alignment: SentReports,
}

/// A job that failed and will be redeployed from a checkpoint.
pub(super) struct Recovering {
    /// It is not redeployed before this (the restart back-off).
    pub(super) not_before: Instant,
    /// Its restore point is being looked for off the lock (`offload`); it is not redeployed
    /// before that is known.
    pub(super) finding_restore: bool,
}

impl Phase {
    /// The phase of a job read from the store in `state`: a live job is recovering (the
    /// caller plans its recovery), an ended one ended now.
    pub(super) fn stored(state: JobState, now: Instant) -> Phase {
        match state {
            JobState::Created => Phase::Created,
            JobState::Scheduling | JobState::Running | JobState::Recovering => {
                Phase::Recovering(Recovering {
                    not_before: now,
                    finding_restore: false,
                })
            }
            JobState::Finished | JobState::Failed | JobState::Cancelled => {
                Phase::Ended { state, at: now }
            }
        }
    }

    /// The state's name.
    pub(super) fn state(&self) -> JobState {
        match self {
            Phase::Created => JobState::Created,
            Phase::Scheduling(_) => JobState::Scheduling,
            Phase::Running(_) => JobState::Running,
            Phase::Recovering(_) => JobState::Recovering,
            Phase::Ended { state, .. } => *state,
        }
    }

    /// Moves into `state` (a move `lifecycle::transition` allows) at `now`; returns the
    /// assignment the job leaves (whose nodes are told to cancel). Refused, leaving the phase
    /// as it was, when the move needs what the phase lacks: a job runs only on the assignment
    /// it was placed on.
    pub(super) fn move_to(
        &mut self,
        state: JobState,
        now: Instant,
    ) -> Result<Option<Assignment>, NotPlaced> {
        let placed = matches!(
            self,
            Phase::Scheduling(Scheduling {
                placed: Some(_),
                ..
            })
        );
        if state == JobState::Running && !placed {
            return Err(NotPlaced);
        }
        let left = match std::mem::replace(self, Phase::Created) {
            Phase::Scheduling(Scheduling {
                placed: Some(placed),
                ..
            }) => Some(placed.assignment),
            Phase::Running(running) => Some(running.assignment),
            _ => None,
        };
        if state == JobState::Running {
            if let Some(assignment) = left {
                *self = Phase::Running(Running {
                    assignment,
                    exhausted: HashSet::new(),
                    alignment: SentReports::default(),
                });
                return Ok(None);
            }
        }
        *self = match state {
            JobState::Created => Phase::Created,
            JobState::Scheduling => Phase::Scheduling(Scheduling {
                since: now,
                waiting_for: None,
                stored: false,
                placed: None,
            }),
            JobState::Recovering => Phase::Recovering(Recovering {
                not_before: now,
                finding_restore: false,
            }),
            // Finished, Failed or Cancelled (Running without a placement was refused above).
            state => Phase::Ended { state, at: now },
        };
        Ok(left)
    }

    /// Where the job's tasks are (or are being deployed): a placed or running job's
    /// assignment.
    pub(super) fn assignment(&self) -> Option<&Assignment> {
        match self {
            Phase::Scheduling(Scheduling {
                placed: Some(placed),
                ..
            }) => Some(&placed.assignment),
            Phase::Running(running) => Some(&running.assignment),
            _ => None,
        }
    }

    /// When it ended, if it did.
    pub(super) fn ended_at(&self) -> Option<Instant> {
        match self {
            Phase::Ended { at, .. } => Some(*at),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(at: Instant) -> Phase {
        let assignment = Assignment {
            nodes: vec![(NodeId(1), "127.0.0.1:1".parse().unwrap())],
            partition_nodes: Default::default(),
        };
        Phase::Scheduling(Scheduling {
            since: at,
            waiting_for: None,
            stored: true,
            placed: Some(Placed {
                assignment,
                pending: HashSet::new(),
            }),
        })
    }

    #[test]
    fn starting_takes_the_assignment_into_running() {
        let now = Instant::now();
        let mut running = placed(now);
        let left = running.move_to(JobState::Running, now).unwrap();
        assert!(left.is_none(), "the assignment moves on");
        assert_eq!(running.state(), JobState::Running);
        assert_eq!(running.assignment().unwrap().nodes[0].0, NodeId(1));
    }

    #[test]
    fn an_unplaced_job_cannot_run() {
        let now = Instant::now();
        let mut waiting = Phase::Created;
        waiting.move_to(JobState::Scheduling, now).unwrap();
        assert_eq!(waiting.move_to(JobState::Running, now), Err(NotPlaced));
        assert_eq!(waiting.state(), JobState::Scheduling, "left as it was");
    }

    #[test]
    fn only_placed_and_running_jobs_hold_slots() {
        let now = Instant::now();
        assert!(placed(now).assignment().is_some());
        let mut waiting = Phase::Created;
        waiting.move_to(JobState::Scheduling, now).unwrap();
        assert!(waiting.assignment().is_none());
        let mut ended = placed(now);
        let left = ended.move_to(JobState::Cancelled, now).unwrap();
        assert!(ended.assignment().is_none());
        assert_eq!(
            left.unwrap().nodes[0].0,
            NodeId(1),
            "its nodes are told to cancel"
        );
        assert_eq!(ended.ended_at(), Some(now));
    }

    #[test]
    fn a_stored_live_job_comes_back_recovering_and_an_ended_one_stays_ended() {
        let now = Instant::now();
        for live in [
            JobState::Scheduling,
            JobState::Running,
            JobState::Recovering,
        ] {
            assert_eq!(Phase::stored(live, now).state(), JobState::Recovering);
        }
        for ended in [JobState::Finished, JobState::Failed, JobState::Cancelled] {
            assert_eq!(Phase::stored(ended, now).state(), ended);
        }
        assert_eq!(
            Phase::stored(JobState::Created, now).state(),
            JobState::Created
        );
    }
}

//! The supervisor of one job deployment on a node: every task actor is linked under it, and a
//! task that dies without reporting (a panic caught by ractor) is reported as failed.

use super::{TaskEvent, TaskEventKind};
use crate::blocking::Cancellation;
use quiver_protocol::messages::TaskId;
use quiver_protocol::{Failure, Generation, JobId};
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Supervises the tasks of one job deployment.
pub(crate) struct JobSupervisor;

/// A deployment's supervisor, with the flag its cancel sets.
pub(crate) struct Supervision {
    /// The supervisor actor.
    pub(crate) actor: ActorRef<SupervisorMsg>,
    /// Set by [`Supervision::cancel`], for tasks waiting in blocking code.
    pub(crate) cancelled: Cancellation,
}

impl Supervision {
    /// Starts the supervisor of one deployment.
    pub(crate) async fn start(args: SupervisorArgs) -> Result<Supervision, SpawnErr> {
        let (actor, _) = Actor::spawn(None, JobSupervisor, args).await?;
        Ok(Supervision {
            actor,
            cancelled: Cancellation::default(),
        })
    }

    /// Cancels the deployment now: sets its cancel flag (a thread blocked outside an await —
    /// a sink waiting for disk space — looks at it) and kills the supervisor and with it every
    /// task under it.
    ///
    /// A kill interrupts a task's handler at the await it is blocked on (credit toward a frozen
    /// peer, a write to its stream, a snapshot upload), where ractor's `stop` would wait for the
    /// handler to return — up to QUIC's idle timeout. No further handler of a killed task runs, so
    /// it publishes nothing after the cancel; and what a task publishes (a sink's commit) runs
    /// without an await, so a kill never cuts a publication in half.
    pub(crate) fn cancel(&self) {
        self.cancelled.cancel();
        self.actor.kill();
    }
}

/// What the supervisor is started with.
pub(crate) struct SupervisorArgs {
    pub(crate) job: JobId,
    pub(crate) generation: Generation,
    pub(crate) events: mpsc::UnboundedSender<TaskEvent>,
}

/// The supervisor's state: which actor runs which task.
pub(crate) struct SupervisorState {
    args: SupervisorArgs,
    tasks: HashMap<ActorId, TaskId>,
}

/// Messages of the supervisor.
pub(crate) enum SupervisorMsg {
    /// `actor` runs `task`: name it if it crashes.
    Watch(ActorId, TaskId),
}

impl Actor for JobSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        Ok(SupervisorState {
            args,
            tasks: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisorMsg::Watch(actor, task) = message;
        state.tasks.insert(actor, task);
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let task = state.tasks.get(&cell.get_id()).copied();
            tracing::error!("task {task:?} of {} crashed: {error}", state.args.job);
            if let Some(task) = task {
                let _ = state.args.events.send(TaskEvent {
                    job: state.args.job,
                    generation: state.args.generation,
                    task,
                    // A panic is a bug, but it may depend on timing: recover (restarts are bounded).
                    kind: TaskEventKind::Failed(Failure::transient(format!(
                        "task crashed: {error}"
                    ))),
                });
            }
        }
        Ok(())
    }
}

//! The task actor: one partition of an operator chain, owning its operators' state.
//!
//! A task receives elements from its input channels in its mailbox, tracks the minimum
//! watermark over them, runs its chain, and flushes outputs through its gates, waiting for
//! credits (so a slow consumer blocks it, and it blocks its own producers in turn). A source
//! task drives itself with `Produce` messages, one batch each, so control messages (cancel)
//! interleave with production.

use super::chain::Chain;
use super::credit::Credit;
use super::gate::OutputGate;
use super::metrics::TaskCounters;
use super::{RuntimeError, TaskEvent, TaskEventKind};
use crate::operator::Source;
use crate::watermark::{WatermarkGenerator, WatermarkTracker};
use quiver_protocol::messages::TaskId;
use quiver_protocol::{Barrier, StreamElement};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Messages of a task actor.
pub(crate) enum TaskMsg {
    /// Its output gates, connected: start (sources begin producing).
    Start(Vec<OutputGate>),
    /// A source task: produce the next batch.
    Produce,
    /// An element from input channel `input`; dropping `credit` returns it to the sender.
    Input {
        /// The input channel's index.
        input: usize,
        /// The element.
        element: StreamElement,
        /// The channel credit this element holds.
        credit: Credit,
    },
    /// An input channel broke before its end (peer lost, bad frame).
    InputFailed {
        /// The input channel's index.
        input: usize,
        /// Why.
        error: String,
    },
}

/// The source driving a source task, with its pacing.
pub(crate) struct SourceDriver {
    pub(crate) source: Box<dyn Source>,
    pub(crate) watermarks: WatermarkGenerator,
    /// Records per second for this partition; 0: flat out.
    pub(crate) rate: u64,
    pub(crate) started: Option<Instant>,
    pub(crate) produced: u64,
    pub(crate) last_watermark: i64,
}

/// What a task actor is started with.
pub(crate) struct TaskArgs {
    pub(crate) task: TaskId,
    pub(crate) chain: Chain,
    pub(crate) source: Option<SourceDriver>,
    pub(crate) inputs: usize,
    pub(crate) counters: Arc<TaskCounters>,
    pub(crate) events: mpsc::UnboundedSender<TaskEvent>,
    pub(crate) job: quiver_protocol::JobId,
    pub(crate) generation: quiver_protocol::Generation,
}

/// The state of a running task.
pub(crate) struct TaskState {
    args: TaskArgs,
    watermarks: WatermarkTracker,
    ended: usize,
    barriers: Vec<Option<Barrier>>,
    done: bool,
}

/// The actor running one task.
pub(crate) struct TaskActor;

impl TaskState {
    fn report(&self, kind: TaskEventKind) {
        let _ = self.args.events.send(TaskEvent {
            job: self.args.job,
            generation: self.args.generation,
            task: self.args.task,
            kind,
        });
    }

    async fn produce(&mut self) -> Result<bool, RuntimeError> {
        let Some(driver) = self.args.source.as_mut() else {
            return Ok(false);
        };
        let started = *driver.started.get_or_insert_with(Instant::now);
        let max = if driver.rate == 0 {
            super::gate::MAX_BATCH
        } else {
            (driver.rate / 100).clamp(1, super::gate::MAX_BATCH as u64) as usize
        };
        let skipped_before = driver.source.skipped();
        let batch = driver.source.poll_batch(max)?;
        let skipped = driver.source.skipped() - skipped_before;
        TaskCounters::add(&self.args.counters.skipped, skipped);
        let Some(batch) = batch else {
            self.finish().await?;
            return Ok(false);
        };
        driver.produced += batch.len() as u64;
        TaskCounters::add(&self.args.counters.records_in, batch.len() as u64);
        for record in &batch {
            driver.watermarks.observe(record.event_time);
        }
        let watermark = driver.watermarks.watermark();
        let (rate, produced) = (driver.rate, driver.produced);
        let entry = self.args.chain.entry.clone();
        self.args.chain.push(&entry, batch)?;
        if let Some(wm) = watermark {
            let driver = self.args.source.as_mut().expect("source task");
            if wm > driver.last_watermark {
                driver.last_watermark = wm;
                self.args.chain.advance(&entry, wm)?;
            }
        }
        self.args.chain.flush().await?;
        if rate > 0 {
            let due = started + Duration::from_secs_f64(produced as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        Ok(true)
    }

    async fn on_input(&mut self, input: usize, element: StreamElement) -> Result<(), RuntimeError> {
        let entry = self.args.chain.entry.clone();
        match element {
            StreamElement::Records(batch) => {
                TaskCounters::add(&self.args.counters.records_in, batch.len() as u64);
                self.args.chain.push(&entry, batch)?;
            }
            StreamElement::Watermark(wm) => {
                if let Some(wm) = self.watermarks.update(input, wm) {
                    self.args.chain.advance(&entry, wm)?;
                }
            }
            StreamElement::Idle => {
                if let Some(wm) = self.watermarks.set_idle(input) {
                    self.args.chain.advance(&entry, wm)?;
                }
            }
            StreamElement::Barrier(barrier) => self.on_barrier(input, barrier),
            StreamElement::End => {
                self.ended += 1;
                if let Some(wm) = self.watermarks.end(input) {
                    if self.ended < self.args.inputs {
                        self.args.chain.advance(&entry, wm)?;
                    }
                }
                if self.ended == self.args.inputs {
                    return self.finish().await;
                }
            }
        }
        self.args.chain.flush().await
    }

    /// Forwards a barrier once it arrived on every input.
    fn on_barrier(&mut self, input: usize, barrier: Barrier) {
        self.barriers[input] = Some(barrier);
        if self.barriers.iter().all(|b| *b == Some(barrier)) {
            self.barriers.iter_mut().for_each(|b| *b = None);
            self.args.chain.broadcast(&StreamElement::Barrier(barrier));
        }
    }

    async fn finish(&mut self) -> Result<(), RuntimeError> {
        let entry = self.args.chain.entry.clone();
        self.args.chain.end(&entry)?;
        self.args.chain.flush().await?;
        self.done = true;
        self.report(TaskEventKind::Finished(self.args.counters.snapshot()));
        Ok(())
    }
}

impl Actor for TaskActor {
    type Msg = TaskMsg;
    type State = TaskState;
    type Arguments = TaskArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<TaskMsg>,
        args: TaskArgs,
    ) -> Result<TaskState, ActorProcessingErr> {
        let inputs = args.inputs;
        Ok(TaskState {
            watermarks: WatermarkTracker::new(inputs),
            ended: 0,
            barriers: vec![None; inputs],
            done: false,
            args,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<TaskMsg>,
        message: TaskMsg,
        state: &mut TaskState,
    ) -> Result<(), ActorProcessingErr> {
        if state.done {
            return Ok(());
        }
        let result = match message {
            TaskMsg::Start(gates) => {
                state.args.chain.connect(gates);
                if state.args.source.is_some() {
                    myself
                        .send_message(TaskMsg::Produce)
                        .map_err(|e| RuntimeError::ChannelClosed(e.to_string()))
                } else {
                    Ok(())
                }
            }
            TaskMsg::Produce => match state.produce().await {
                Ok(true) => myself
                    .send_message(TaskMsg::Produce)
                    .map_err(|e| RuntimeError::ChannelClosed(e.to_string())),
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            },
            TaskMsg::Input {
                input,
                element,
                credit,
            } => {
                let result = state.on_input(input, element).await;
                drop(credit);
                result
            }
            TaskMsg::InputFailed { input, error } => Err(RuntimeError::ChannelClosed(format!(
                "input channel {input} broke: {error}"
            ))),
        };
        if let Err(e) = result {
            state.done = true;
            state.report(TaskEventKind::Failed(e.to_string()));
        }
        if state.done {
            myself.stop(None);
        }
        Ok(())
    }
}

//! The task actor: one partition of an operator chain, owning its operators' state.
//!
//! A task receives elements from its input channels in its mailbox, tracks the minimum
//! watermark over them, runs its chain, and flushes outputs through its gates, waiting for
//! credits (so a slow consumer blocks it, and it blocks its own producers in turn). A source
//! task reads through its [`SourceDriver`]: each split's batch comes back as a `Read` message,
//! so control messages (checkpoint triggers, idleness checks, alignment, cancel) interleave
//! with reading and never wait for a read.
//!
//! With checkpoints, barriers are aligned over inputs ([`Alignment`]); at an aligned barrier
//! the task snapshots its stages (and its source's split positions), stages its sinks' output,
//! forwards the barrier, and uploads the snapshot — the upload is its acknowledgement. A
//! bounded source that runs dry first fires every window (watermark +∞), then waits for the
//! final checkpoint, whose barrier precedes its end; a task reports itself finished only once
//! that final checkpoint is committed, so nothing it emitted is published twice or lost.

use super::alignment::{Alignment, Held, OnBarrier};
use super::chain::{Chain, Copied, NamedCopy};
use super::credit::Credit;
use super::gate::OutputGate;
use super::metrics::TaskCounters;
use super::source_driver::{Produced, ReadDone, SourceDriver};
use super::source_peers::SourcePeers;
use super::state_transfer::CoordinatorLink;
use super::{RuntimeError, TaskEvent, TaskEventKind};
use crate::operator::KeyGroupState;
use crate::watermark::splits::TimeSignal;
use crate::watermark::WatermarkTracker;
use quiver_protocol::messages::{AfterBarrier, IncrementalState, StateUpload, TaskId};
use quiver_protocol::{Barrier, CheckpointId, StreamElement};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Messages of a task actor.
pub(crate) enum TaskMsg {
    /// Its output gates, connected: start (sources begin reading).
    Start(Vec<OutputGate>),
    /// A source task: a split's read came back (`Err`: the read panicked, with its payload).
    Read(std::thread::Result<ReadDone>),
    /// A source task: look for idle splits.
    IdleCheck,
    /// A source task: the slowest watermark of its source's other partitions moved.
    SlowestElsewhere(i64),
    /// A source task: a partition of its source that it waits for moved (look again).
    PeersMoved,
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
    /// A source task: inject this barrier now, then go on as told.
    Trigger(Barrier, AfterBarrier),
    /// A checkpoint completed: publish what sinks staged up to it.
    Commit(CheckpointId),
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
    /// Where snapshots go; `None` when the job takes no checkpoints.
    pub(crate) link: Option<CoordinatorLink>,
    /// A source task reading in step with its source's other partitions.
    pub(crate) peers: Option<PeerLink>,
    /// The task's span (`job`, `operator`, `partition`), entered while it handles a message.
    pub(crate) span: tracing::Span,
}

/// A source partition's place among its source's partitions.
pub(crate) struct PeerLink {
    /// Their watermarks, as known on this node.
    pub(crate) peers: Arc<SourcePeers<ActorRef<TaskMsg>>>,
    /// This partition's index.
    pub(crate) me: usize,
}

/// The state of a running task.
pub(crate) struct TaskState {
    args: TaskArgs,
    watermarks: WatermarkTracker,
    alignment: Alignment,
    ended: usize,
    /// All inputs ended (or the source's final barrier went out).
    input_done: bool,
    /// The last barrier this task completed.
    last_barrier: Option<CheckpointId>,
    /// The newest checkpoint committed.
    committed: Option<CheckpointId>,
    done: bool,
    /// The output gates are connected ([`TaskMsg::Start`] arrived).
    started: bool,
    /// Barriers a source was asked to inject before its gates were connected: injected at
    /// start, so none is lost into an empty gate list.
    early_triggers: Vec<(Barrier, AfterBarrier)>,
    /// Elements that arrived before the gates were connected (an upstream node started
    /// first), with their credits: processed at start, in order, so nothing is emitted into
    /// unconnected gates and a task never finishes before it started.
    early_inputs: Vec<Held>,
    /// When the state gauges were last read from the operators (`None`: not yet).
    gauges_read: Option<Instant>,
    /// A source held back by alignment: since when (see [`TaskState::note_alignment_pause`]).
    aligned_since: Option<Instant>,
}

/// How often a busy task reads its operators' state gauges: counting state can walk every
/// key (session windows), so it is not done after every message.
const GAUGE_PERIOD: std::time::Duration = std::time::Duration::from_millis(100);

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

    /// Publishes the operators' state entries and expired keys: at most every
    /// [`GAUGE_PERIOD`] while the task runs, and after every message once its input is done
    /// (so the last figures are exact).
    fn read_gauges(&mut self) {
        let now = Instant::now();
        let due = self
            .gauges_read
            .is_none_or(|at| now.duration_since(at) >= GAUGE_PERIOD);
        if !due && !self.input_done && !self.done {
            return;
        }
        self.gauges_read = Some(now);
        let (counters, chain) = (&self.args.counters, &self.args.chain);
        let gauges = [
            (
                &counters.state_entries,
                chain.stages_sum(|op| op.state_entries()),
            ),
            (
                &counters.state_expired,
                chain.stages_sum(|op| op.state_expired()),
            ),
            (
                &counters.refused_updates,
                chain.stages_sum(|op| op.refused_updates()),
            ),
            (&counters.drifts, chain.stages_sum(|op| op.drifts())),
        ];
        for (counter, value) in gauges {
            counter.store(value, Ordering::Relaxed);
        }
        let served = chain.served();
        if !served.is_empty() {
            counters.set_served(served);
        }
        counters.set_rating_errors(chain.rating_errors());
    }

    fn checkpointing(&self) -> bool {
        self.args.link.is_some()
    }

    /// Starts the reads the source may do now (none before its gates are connected): a
    /// reader that blocks reads on a blocking thread, the others in place; each batch comes
    /// back as [`TaskMsg::Read`].
    fn start_reads(&mut self, myself: &ActorRef<TaskMsg>) {
        self.publish_to_peers();
        let Some(driver) = self.args.source.as_mut() else {
            return;
        };
        if self.input_done || !self.started {
            return;
        }
        let reads = loop {
            let reads = driver.reads(Instant::now());
            let (Some(link), Some(seen)) = (&self.args.peers, driver.slowest_beside()) else {
                break reads;
            };
            if !driver.waits_ahead() {
                break reads;
            }
            // A split waits for a partition beside: be woken when one moves, unless one
            // moved since (then look again).
            match link.peers.wait(link.me, seen, myself.clone()) {
                Some(moved) if reads.is_empty() => driver.set_slowest_beside(moved),
                Some(moved) => {
                    driver.set_slowest_beside(moved);
                    break reads;
                }
                None => break reads,
            }
        };
        self.note_alignment_pause(reads.is_empty());
        for read in reads {
            if !read.blocks() {
                let _ = myself.send_message(TaskMsg::Read(Ok(read.run())));
                continue;
            }
            let myself = myself.clone();
            let span = self.args.span.clone();
            tokio::spawn(async move {
                let read = move || span.in_scope(|| read.run());
                let done = match tokio::task::spawn_blocking(read).await {
                    Ok(done) => Ok(done),
                    Err(e) => match e.try_into_panic() {
                        Ok(panic) => Err(panic),
                        // Cancelled: the runtime is shutting down.
                        Err(_) => return,
                    },
                };
                let _ = myself.send_message(TaskMsg::Read(done));
            });
        }
    }

    /// Counts the time the source is held back by alignment: from a look for reads that
    /// found none to start while a split waits ahead of the slowest, to the next look that
    /// starts one.
    fn note_alignment_pause(&mut self, none_started: bool) {
        let Some(driver) = &self.args.source else {
            return;
        };
        if none_started && driver.waits_ahead() {
            self.aligned_since.get_or_insert_with(Instant::now);
        } else if !none_started {
            if let Some(since) = self.aligned_since.take() {
                let us = super::latency::micros(since.elapsed());
                TaskCounters::add(&self.args.counters.aligned_pause_us, us);
            }
        }
    }

    /// Tells the source's partitions on this node where this one stands (its alignment
    /// watermark; +∞ once it finished), learns the slowest of them, and wakes those that
    /// waited for it to move.
    fn publish_to_peers(&mut self) {
        let (Some(link), Some(driver)) = (&self.args.peers, self.args.source.as_mut()) else {
            return;
        };
        let (slowest, wake) = link.peers.publish(link.me, driver.alignment_watermark());
        driver.set_slowest_beside(slowest);
        for peer in wake {
            let _ = peer.send_message(TaskMsg::PeersMoved);
        }
    }

    /// Starts the source: its idleness checks and its first reads, or its end when no split
    /// is left to read.
    async fn start_source(&mut self, myself: &ActorRef<TaskMsg>) -> Result<(), RuntimeError> {
        self.publish_to_peers();
        let Some(driver) = &self.args.source else {
            return Ok(());
        };
        // A partition without a split to read holds no other partition back.
        self.args
            .counters
            .set_source_watermark(driver.alignment_watermark());
        if driver.ended() {
            return self.source_ended().await;
        }
        if let Some(period) = driver.idle_check_period() {
            myself.send_interval(period, || TaskMsg::IdleCheck);
        }
        self.start_reads(myself);
        Ok(())
    }

    /// A split's read came back: emit it, keep to the replay rate, read on.
    async fn on_read(
        &mut self,
        done: ReadDone,
        myself: &ActorRef<TaskMsg>,
    ) -> Result<(), RuntimeError> {
        let Some(driver) = self.args.source.as_mut() else {
            return Ok(());
        };
        if self.input_done {
            return Ok(());
        }
        let produced = driver.on_read(done, Instant::now())?;
        let due = driver.due();
        let batch_started = (!produced.records.is_empty()).then(Instant::now);
        self.emit(produced).await?;
        if let Some(at) = batch_started {
            self.args.counters.batch_time.observe(at.elapsed());
        }
        if let Some(due) = due {
            tokio::time::sleep_until(due.into()).await;
        }
        self.start_reads(myself);
        Ok(())
    }

    /// Time passed: quiet splits go idle, which may move the watermark and let splits that
    /// waited for them read.
    async fn on_idle_check(&mut self, myself: &ActorRef<TaskMsg>) -> Result<(), RuntimeError> {
        let Some(driver) = self.args.source.as_mut() else {
            return Ok(());
        };
        if self.input_done || driver.paused {
            return Ok(());
        }
        let signals = driver.tick(Instant::now());
        self.emit(Produced {
            signals,
            ..Produced::default()
        })
        .await?;
        self.start_reads(myself);
        Ok(())
    }

    /// Emits what the source produced: its records, then its event-time signals; ends the
    /// source when its last split finished.
    async fn emit(&mut self, produced: Produced) -> Result<(), RuntimeError> {
        let counters = &self.args.counters;
        TaskCounters::add(&counters.skipped, produced.skipped);
        TaskCounters::add(&counters.records_in, produced.records.len() as u64);
        if let Some(driver) = &self.args.source {
            counters.set_source_watermark(driver.alignment_watermark());
        }
        self.args.chain.push_produced(produced.records)?;
        let entry = self.args.chain.entry.clone();
        for signal in produced.signals {
            match signal {
                TimeSignal::Watermark(wm) => self.args.chain.advance(&entry, wm)?,
                TimeSignal::Idle => self.args.chain.broadcast(&StreamElement::Idle),
            }
        }
        if produced.ended {
            return self.source_ended().await;
        }
        self.args.chain.flush().await
    }

    /// Every split of the source finished. With checkpoints, every window fires now (so all
    /// output precedes the final barrier) and the task waits for the final checkpoint;
    /// without, the task ends.
    async fn source_ended(&mut self) -> Result<(), RuntimeError> {
        if !self.checkpointing() {
            return self.end_inputs().await;
        }
        let entry = self.args.chain.entry.clone();
        self.args.chain.advance(&entry, i64::MAX)?;
        self.args.chain.flush().await?;
        self.report(TaskEventKind::SourceExhausted);
        Ok(())
    }

    async fn on_input(&mut self, held: Held) -> Result<(), RuntimeError> {
        if self.alignment.is_blocked(held.input) {
            self.alignment.hold(held);
            return Ok(());
        }
        let Held {
            input,
            element,
            credit,
        } = held;
        let entry = self.args.chain.entry.clone();
        let batch_started = matches!(element, StreamElement::Records(_)).then(Instant::now);
        match element {
            StreamElement::Records(batch) => {
                #[cfg(feature = "chaos")]
                if crate::chaos::take_panic() {
                    panic!("chaos: a task panic injected with SIGUSR1");
                }
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
                if self.watermarks.all_idle() {
                    // Nothing holds time back here: say so downstream, or a stage after this
                    // one would wait for this task's watermark.
                    self.args.chain.broadcast(&StreamElement::Idle);
                }
            }
            StreamElement::Barrier(barrier) if barrier.generation == self.args.generation => {
                match self.alignment.on_barrier(input, barrier) {
                    OnBarrier::Waiting => {}
                    OnBarrier::Aligned(aligned) => {
                        drop(credit);
                        return self.complete_barrier(aligned).await;
                    }
                    OnBarrier::Abandoned(held) => {
                        for held in held {
                            Box::pin(self.on_input(held)).await?;
                        }
                        let element = StreamElement::Barrier(barrier);
                        let again = Held {
                            input,
                            element,
                            credit,
                        };
                        return Box::pin(self.on_input(again)).await;
                    }
                }
            }
            StreamElement::Barrier(stale) => {
                tracing::warn!("dropped a barrier of an older generation: {stale:?}");
            }
            StreamElement::End => {
                self.ended += 1;
                if let Some(wm) = self.watermarks.end(input) {
                    if self.ended < self.args.inputs {
                        self.args.chain.advance(&entry, wm)?;
                    }
                }
                if let Some(aligned) = self.alignment.on_end(input) {
                    self.args.chain.flush().await?;
                    drop(credit);
                    return self.complete_barrier(aligned).await;
                }
                if self.ended == self.args.inputs {
                    self.args.chain.flush().await?;
                    return self.end_inputs().await;
                }
            }
        }
        drop(credit);
        let flushed = self.args.chain.flush().await;
        if let Some(at) = batch_started {
            self.args.counters.batch_time.observe(at.elapsed());
        }
        flushed
    }

    /// A barrier aligned on every input (or injected at a source): snapshot, stage sinks,
    /// forward it, acknowledge, then replay what alignment held back.
    async fn complete_barrier(&mut self, barrier: Barrier) -> Result<(), RuntimeError> {
        let span = tracing::error_span!("checkpoint", checkpoint = barrier.checkpoint.0);
        self.snapshot_barrier(barrier).instrument(span).await
    }

    /// [`TaskState::complete_barrier`] in the checkpoint's span.
    async fn snapshot_barrier(&mut self, barrier: Barrier) -> Result<(), RuntimeError> {
        let aligned_in = self.alignment.take_duration();
        let snapshot_started = Instant::now();
        self.args.chain.on_barrier(&barrier)?;
        let mut copies = self.args.chain.snapshot(barrier.checkpoint)?;
        if let Some(driver) = &self.args.source {
            copies.push(NamedCopy {
                name: driver.name.clone(),
                saved_as: driver.saved_as.clone(),
                copy: Copied::Whole(Box::new(driver.positions()?)),
            });
        }
        let counters = self.args.counters.clone();
        counters
            .last_align_us
            .store(aligned_in.as_micros() as u64, Ordering::Relaxed);
        counters.last_snapshot_us.store(
            snapshot_started.elapsed().as_micros() as u64,
            Ordering::Relaxed,
        );
        self.args.chain.prepare_commit(barrier.checkpoint)?;
        self.args.chain.broadcast(&StreamElement::Barrier(barrier));
        self.args.chain.flush().await?;
        self.last_barrier = Some(barrier.checkpoint);
        if let Some(link) = self.args.link.clone() {
            let mut header = StateUpload {
                job: self.args.job,
                generation: self.args.generation,
                checkpoint: barrier.checkpoint,
                task: self.args.task,
                incremental: Vec::new(),
            };
            let span = tracing::Span::current();
            let upload = async move {
                // Encoding runs on a blocking thread, beside the task that took the copies.
                let span = tracing::Span::current();
                let encode = move || span.in_scope(|| serialize(copies));
                let encoding = Instant::now();
                let encoded = tokio::task::spawn_blocking(encode).await;
                counters.last_encode_us.store(
                    super::latency::micros(encoding.elapsed()),
                    Ordering::Relaxed,
                );
                let (states, incremental) = match encoded {
                    Ok(Ok(states)) => states,
                    Ok(Err(e)) => return tracing::warn!("snapshot for {barrier:?} failed: {e}"),
                    Err(e) => return tracing::warn!("snapshot for {barrier:?} failed: {e}"),
                };
                header.incremental = incremental;
                let bytes: usize = states.iter().map(|(_, s)| s.bytes.len()).sum::<usize>()
                    + header
                        .incremental
                        .iter()
                        .map(|i| i.meta.len())
                        .sum::<usize>();
                counters
                    .last_snapshot_bytes
                    .store(bytes as u64, Ordering::Relaxed);
                let uploading = Instant::now();
                if let Err(e) = link.upload(header, states).await {
                    tracing::warn!("snapshot upload for {barrier:?} failed: {e}");
                }
                counters.last_upload_us.store(
                    super::latency::micros(uploading.elapsed()),
                    Ordering::Relaxed,
                );
            };
            tokio::spawn(upload.instrument(span));
        }
        for held in self.alignment.release() {
            Box::pin(self.on_input(held)).await?;
        }
        Ok(())
    }

    /// Every input ended: flush operators and sinks, end the outputs.
    async fn end_inputs(&mut self) -> Result<(), RuntimeError> {
        let entry = self.args.chain.entry.clone();
        self.args.chain.end(&entry)?;
        self.args.chain.flush().await?;
        self.input_done = true;
        self.finish_if_committed();
        Ok(())
    }

    /// Finished once the inputs are done and (with checkpoints) the last barrier committed.
    fn finish_if_committed(&mut self) {
        let committed = !self.checkpointing() || self.committed >= self.last_barrier;
        if self.input_done && committed && !self.done {
            // The final figures include what the message that finished the task changed.
            self.read_gauges();
            self.done = true;
            self.report(TaskEventKind::Finished(Box::new(
                self.args.counters.snapshot(),
            )));
        }
    }

    /// The gates are connected: the stages emit what their consumers need first, then wait
    /// until they can take input, and the task catches up.
    async fn start(&mut self) -> Result<(), RuntimeError> {
        self.args.chain.start()?;
        self.args.chain.flush().await?;
        self.args.chain.ready().await?;
        self.catch_up().await
    }

    /// Injects the barriers and processes the elements that arrived before the gates were
    /// connected.
    async fn catch_up(&mut self) -> Result<(), RuntimeError> {
        for (barrier, then) in std::mem::take(&mut self.early_triggers) {
            if !self.input_done {
                self.trigger(barrier, then).await?;
            }
        }
        for held in std::mem::take(&mut self.early_inputs) {
            if self.done {
                break;
            }
            self.on_input(held).await?;
        }
        Ok(())
    }

    async fn trigger(&mut self, barrier: Barrier, then: AfterBarrier) -> Result<(), RuntimeError> {
        self.complete_barrier(barrier).await?;
        match then {
            AfterBarrier::Continue => {}
            AfterBarrier::End => self.end_inputs().await?,
            AfterBarrier::Pause => {
                if let Some(driver) = &mut self.args.source {
                    driver.paused = true;
                }
            }
        }
        Ok(())
    }
}

/// Serialises state copies taken at a barrier, each piece carrying its operator's schema:
/// (operator name, key group state), and how the coordinator composes the keyed-state
/// operators' deltas into chains.
fn serialize(copies: Vec<NamedCopy>) -> Result<Serialized, RuntimeError> {
    let mut states = Vec::new();
    let mut incremental = Vec::new();
    for NamedCopy {
        name,
        saved_as,
        copy,
    } in copies
    {
        let pieces = match copy {
            Copied::Whole(copy) => copy.serialize()?,
            Copied::Changes { copy, base, groups } => {
                let changes = copy.serialize()?;
                let meta = saved_as.wrap_one(&changes.meta);
                incremental.push(IncrementalState {
                    operator: name.clone(),
                    groups,
                    base,
                    meta,
                });
                changes.deltas
            }
        };
        for state in saved_as.wrap(pieces) {
            states.push((name.clone(), state));
        }
    }
    Ok((states, incremental))
}

/// Encoded snapshot pieces by operator, and the chains the keyed-state ones extend.
type Serialized = (Vec<(String, KeyGroupState)>, Vec<IncrementalState>);

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
            alignment: Alignment::new(inputs),
            ended: 0,
            input_done: false,
            last_barrier: None,
            committed: None,
            done: false,
            started: false,
            early_triggers: Vec::new(),
            early_inputs: Vec::new(),
            gauges_read: None,
            aligned_since: None,
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
        let started = Instant::now();
        let span = state.args.span.clone();
        let result = state.on_message(message, &myself).instrument(span).await;
        state.read_gauges();
        if let Err(e) = result {
            state.done = true;
            state.report(TaskEventKind::Failed(e.failure()));
        }
        if state.done {
            myself.stop(None);
        } else if started.elapsed() >= LONG_HANDLER {
            // A task whose mailbox is never empty does not yield between messages until
            // tokio's budget (128 operations) runs out: with handlers this long, that starves
            // the node's heartbeat and QUIC driver for seconds (the coordinator then declares
            // the node lost). Let them run now.
            tokio::task::yield_now().await;
        }
        Ok(())
    }
}

impl TaskState {
    /// Handles one message (in the task's span).
    async fn on_message(
        &mut self,
        message: TaskMsg,
        myself: &ActorRef<TaskMsg>,
    ) -> Result<(), RuntimeError> {
        let state = self;
        match message {
            TaskMsg::Start(gates) => {
                state.args.chain.connect(gates);
                state.started = true;
                match state.start().await {
                    Ok(()) if !state.input_done => state.start_source(myself).await,
                    other => other,
                }
            }
            TaskMsg::Read(Ok(done)) => state.on_read(done, myself).await,
            TaskMsg::Read(Err(panic)) => std::panic::resume_unwind(panic),
            TaskMsg::IdleCheck => state.on_idle_check(myself).await,
            TaskMsg::SlowestElsewhere(watermark) => {
                if let Some(driver) = &mut state.args.source {
                    driver.set_slowest_elsewhere(watermark);
                }
                state.start_reads(myself);
                Ok(())
            }
            TaskMsg::PeersMoved => {
                state.start_reads(myself);
                Ok(())
            }
            TaskMsg::Input {
                input,
                element,
                credit,
            } => {
                let held = Held {
                    input,
                    element,
                    credit,
                };
                if state.started {
                    state.on_input(held).await
                } else {
                    state.early_inputs.push(held);
                    Ok(())
                }
            }
            TaskMsg::InputFailed { input, error } => Err(RuntimeError::ChannelClosed(format!(
                "input channel {input} broke: {error}"
            ))),
            TaskMsg::Trigger(barrier, then) if !state.started => {
                state.early_triggers.push((barrier, then));
                Ok(())
            }
            TaskMsg::Trigger(barrier, then) if !state.input_done => {
                state.trigger(barrier, then).await
            }
            TaskMsg::Trigger(..) => Ok(()),
            TaskMsg::Commit(checkpoint) => {
                let span = tracing::error_span!("checkpoint", checkpoint = checkpoint.0);
                let _in_checkpoint = span.enter();
                state.args.chain.commit(checkpoint)?;
                state.committed = state.committed.max(Some(checkpoint));
                state.report(TaskEventKind::Committed(checkpoint));
                state.finish_if_committed();
                Ok(())
            }
        }
    }
}

/// A handler at least this long yields to the worker's other tasks afterwards.
const LONG_HANDLER: std::time::Duration = std::time::Duration::from_millis(2);

#[cfg(test)]
mod tests;

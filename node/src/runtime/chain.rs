//! An operator chain: the operators one task runs back to back, without channels between them.
//!
//! The head's records enter through `entry` routes; each node's outputs go to chained nodes
//! (called directly) or to output gates (channels to other tasks). Chains are trees: a node
//! can feed several consumers and a windowed stage has a late side output.
//!
//! Every node takes the columnar batches as they come: sources build them, stages emit batches
//! (checked against their output schema), sinks read them.

use super::gate::{OutputGate, Scatters};
use super::latency;
use super::metrics::TaskCounters;
use super::saved_state::SavedAs;
use super::RuntimeError;
use crate::blocking::{blocking, Cancellation};
use crate::operator::{ChangesCopy, KeyGroupState, Operator, Output, SavedState, Sink, StateCopy};
use crate::parameters::feed::ParameterFeed;
use crate::parameters::shard::ParameterShard;
use crate::parameters::{Board, BoardKey, Boards, JobServing, WorkerLink};
use crate::quality::{self, OperatorQuality, SharedQuality};
use quiver_protocol::batch::{self, Batch, ColumnType};
use quiver_protocol::messages::{Deployment, RatingErrors};
use quiver_protocol::models::ServedVersion;
use quiver_protocol::plan::{
    JobPlan, OperatorKind, OperatorPlan, OutputPort, ParameterPlan, ParameterRole,
};
use quiver_protocol::spec::{QualitySpec, StageKind};
use quiver_protocol::state_schema::StateSchema;
use quiver_protocol::Schema;
use quiver_protocol::{
    Barrier, CheckpointId, Generation, JobId, OperatorId, PartitionId, StreamElement,
};
use std::sync::Arc;

/// An operator's state copy taken at a barrier, with its name and schema.
pub(crate) struct NamedCopy {
    /// The operator's name (state is stored under it).
    pub(crate) name: String,
    /// The schema its pieces carry.
    pub(crate) saved_as: SavedAs,
    /// The copy to serialise.
    pub(crate) copy: Copied,
}

/// What an operator copied at a barrier.
pub(crate) enum Copied {
    /// Its whole state, one piece per key group.
    Whole(Box<dyn StateCopy>),
    /// A keyed-state operator's changes since `base` (`None`: since it started empty), in
    /// its key groups `groups`.
    Changes {
        /// The changes.
        copy: Box<dyn ChangesCopy>,
        /// The complete checkpoint the changes extend.
        base: Option<CheckpointId>,
        /// The key groups the operator owns.
        groups: std::ops::Range<u32>,
    },
}

/// Where records go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// To chained node `i`.
    Chained(usize),
    /// To output gate `i`.
    Gate(usize),
}

/// What a chained node runs.
enum Step {
    Stage(Box<dyn Operator>),
    Sink(Box<dyn Sink>),
}

struct ChainNode {
    /// The operator's name (state is stored under it).
    name: String,
    /// The schema of its state (`None`: it keeps none).
    saved_as: Option<SavedAs>,
    /// Its key groups (stages) — the state it owns.
    groups: std::ops::Range<u32>,
    /// The complete checkpoint its state was last confirmed in (restored from, or committed
    /// since): the base its next changes extend. `None`: it started empty.
    base: Option<CheckpointId>,
    /// The column types of the records it reads (a stage's late records have them too) and
    /// of those it emits: a stage's batches are checked against them.
    input: Vec<ColumnType>,
    output: Vec<ColumnType>,
    step: Step,
    main: Arc<[Route]>,
    late: Arc<[Route]>,
    /// Where a learner's parameter changes go (its shards).
    params: Arc<[Route]>,
    /// The columns of its records it watches (`checks`).
    quality: Option<SharedQuality>,
}

impl ChainNode {
    /// Checks that the batches the node emitted as `what` have the column types `types`: an
    /// operator's bug is reported at its own task, not by a consumer.
    fn check(
        &self,
        batches: &[Batch],
        types: &[ColumnType],
        what: &str,
    ) -> Result<(), RuntimeError> {
        match batches
            .iter()
            .find(|b| b.columns().iter().map(|c| c.ty()).ne(types.iter().copied()))
        {
            None => Ok(()),
            Some(b) => Err(RuntimeError::Plan(format!(
                "stage {} emitted {what} of columns {:?}, not {types:?}",
                self.name,
                b.columns().iter().map(|c| c.ty()).collect::<Vec<_>>()
            ))),
        }
    }
}

/// A consumer reached through a gate, and the operator whose output feeds it.
#[derive(Debug, Clone)]
pub(crate) struct GateSpec {
    /// The consumer (head of its task).
    pub(crate) consumer: OperatorId,
    /// The upstream operator whose output travels.
    pub(crate) from: OperatorId,
}

/// The operators of one task.
pub(crate) struct Chain {
    nodes: Vec<ChainNode>,
    /// Where the head's records go: the source's consumers, or chained node 0 and the siblings
    /// that joined its task (`JobPlan::joins_task_of`).
    pub(crate) entry: Arc<[Route]>,
    pub(crate) gates: Vec<OutputGate>,
    gate_specs: Vec<GateSpec>,
    counters: Arc<TaskCounters>,
    lineage: u64,
    /// The job as shown to people, its run and the run it continues (sinks own folders).
    job: String,
    run: u64,
    continues: Option<u64>,
    generation: Generation,
    restored: Option<(CheckpointId, Generation)>,
    /// The job's id and the node's boards of parameter versions (`crate::parameters`).
    job_id: JobId,
    boards: Arc<Boards>,
    /// What the deployment's learners serve.
    serving: Arc<JobServing>,
    /// The deployment's cancel, for sinks that wait in blocking code.
    cancelled: Cancellation,
    /// A source task: the columns of the source's records it watches.
    source_quality: Option<SharedQuality>,
}

impl Chain {
    /// Builds the chain of the task headed by `head`, partition `partition`, for a
    /// deployment (its generation and the checkpoint it restores from). The gates are
    /// described (see [`Chain::gate_specs`]) and connected later with [`Chain::connect`].
    pub(crate) fn build(
        deployment: &Deployment,
        head: &OperatorPlan,
        partition: PartitionId,
        counters: Arc<TaskCounters>,
        boards: Arc<Boards>,
        serving: Arc<JobServing>,
        cancelled: Cancellation,
    ) -> Result<Chain, RuntimeError> {
        let plan = &deployment.plan;
        let mut chain = Chain {
            nodes: Vec::new(),
            entry: Arc::from(Vec::new()),
            gates: Vec::new(),
            gate_specs: Vec::new(),
            counters,
            lineage: deployment.lineage,
            job: format!("{} {:?}", deployment.job, plan.spec.name),
            run: deployment.run,
            continues: deployment.continues,
            generation: deployment.generation,
            restored: deployment.restore,
            job_id: deployment.job,
            boards,
            serving,
            cancelled,
            source_quality: None,
        };
        chain.entry = match &head.kind {
            OperatorKind::Source(source) => {
                chain.source_quality = chain.watch(&source.name, &source.quality, &source.schema);
                chain.routes_of(plan, head, OutputPort::Main, partition)?
            }
            _ => {
                let mut entry = vec![Route::Chained(chain.add_node(plan, head, partition)?)];
                for sibling in plan.joined_to(head) {
                    entry.push(Route::Chained(chain.add_node(plan, sibling, partition)?));
                }
                Arc::from(entry)
            }
        };
        Ok(chain)
    }

    fn add_node(
        &mut self,
        plan: &JobPlan,
        op: &OperatorPlan,
        partition: PartitionId,
    ) -> Result<usize, RuntimeError> {
        let input_schema = op.input_schema.clone().unwrap_or_default();
        let ctx = crate::operators::StageContext {
            max_parallelism: plan.spec.max_parallelism,
            state_ttl: plan.spec.state_ttl,
            checkpoints: plan.spec.checkpoint_interval.is_some(),
        };
        let step = match &op.kind {
            OperatorKind::Stage(stage) if JobPlan::has_parameter_servers(&plan.spec, stage) => {
                let shards = plan
                    .operators
                    .iter()
                    .find(|o| o.name == ParameterPlan::shards_name(&stage.name))
                    .map_or(stage.parallelism, |o| o.parallelism);
                let link = WorkerLink {
                    board: self.board(&stage.name, partition, shards),
                    workers: stage.parallelism,
                    partition: partition.0,
                    serving: self.serving.clone(),
                };
                let worker =
                    crate::ml_stages::build_worker(stage, &input_schema, &ctx, partition, link)?;
                Step::Stage(worker)
            }
            OperatorKind::Stage(stage) if matches!(stage.kind, StageKind::Predict(_)) => {
                Step::Stage(crate::ml_stages::build_predict(
                    stage,
                    &plan.spec,
                    &input_schema,
                    partition,
                    self.serving.clone(),
                )?)
            }
            OperatorKind::Stage(stage) => Step::Stage(crate::operators::build_partition_stage(
                stage,
                &input_schema,
                &ctx,
                partition,
            )?),
            OperatorKind::Parameters(p) => Step::Stage(match p.role {
                ParameterRole::Shard => Box::new(ParameterShard::new(
                    &op.name,
                    partition,
                    plan.spec.max_parallelism,
                )),
                ParameterRole::Feed => Box::new(ParameterFeed::new(
                    self.board(&p.learner, partition, p.shards),
                )),
            }),
            OperatorKind::Sink(sink) => {
                let ctx = crate::sinks::SinkContext {
                    job: self.job.clone(),
                    run: self.run,
                    continues: self.continues,
                    partition: partition.0,
                    parallelism: op.parallelism,
                    lineage: self.lineage,
                    generation: self.generation,
                    exactly_once: plan.spec.checkpoint_interval.is_some(),
                    restored: self.restored,
                    cancelled: self.cancelled.clone(),
                };
                // Building a file sink settles its folder: listing, renames, fsync.
                Step::Sink(blocking(|| {
                    crate::sinks::build_sink(sink, &input_schema, &ctx)
                })?)
            }
            OperatorKind::Source(_) => {
                return Err(RuntimeError::Plan(format!(
                    "source {} cannot be chained behind another operator",
                    op.name
                )))
            }
        };
        let quality = match &op.kind {
            OperatorKind::Stage(stage) => self.watch(&stage.name, &stage.quality, &stage.schema),
            _ => None,
        };
        let index = self.nodes.len();
        self.nodes.push(ChainNode {
            name: op.name.clone(),
            saved_as: StateSchema::of(op).map(SavedAs::new),
            groups: quiver_protocol::keygroup::key_groups_of(
                partition,
                plan.spec.max_parallelism,
                op.parallelism,
            ),
            base: None,
            input: batch::column_types(&input_schema),
            output: batch::column_types(op.output_schema()),
            step,
            main: Arc::from(Vec::new()),
            late: Arc::from(Vec::new()),
            params: Arc::from(Vec::new()),
            quality,
        });
        self.nodes[index].main = self.routes_of(plan, op, OutputPort::Main, partition)?;
        self.nodes[index].late = self.routes_of(plan, op, OutputPort::Late, partition)?;
        self.nodes[index].params = self.routes_of(plan, op, OutputPort::Params, partition)?;
        Ok(index)
    }

    /// The watch of operator `name`'s `spec` over its output `schema`, on the task's board.
    fn watch(&self, name: &str, spec: &QualitySpec, schema: &Schema) -> Option<SharedQuality> {
        let quality = OperatorQuality::new(name, spec, schema)?;
        Some(self.counters.quality.register(quality))
    }

    /// The board learner `learner`'s partition `partition` shares with its feed.
    fn board(&self, learner: &str, partition: PartitionId, shards: u32) -> Arc<Board> {
        let key = BoardKey {
            job: self.job_id,
            generation: self.generation,
            learner: learner.to_string(),
            partition,
        };
        self.boards.get(key, shards)
    }

    fn routes_of(
        &mut self,
        plan: &JobPlan,
        op: &OperatorPlan,
        port: OutputPort,
        partition: PartitionId,
    ) -> Result<Arc<[Route]>, RuntimeError> {
        let mut routes = Vec::new();
        let consumers: Vec<&OperatorPlan> = plan
            .consumers(op.id)
            .filter(|c| c.input.as_ref().map(|e| e.port) == Some(port))
            .collect();
        for consumer in consumers {
            if plan.joins_task_of(consumer).is_some() {
                // Its records arrive through the gate of the sibling whose task it joined.
                continue;
            }
            if plan.is_chained(consumer) {
                routes.push(Route::Chained(self.add_node(plan, consumer, partition)?));
            } else {
                routes.push(Route::Gate(self.gate_specs.len()));
                self.gate_specs.push(GateSpec {
                    consumer: consumer.id,
                    from: op.id,
                });
            }
        }
        Ok(Arc::from(routes))
    }

    /// The gates this chain needs, in gate index order.
    pub(crate) fn gate_specs(&self) -> &[GateSpec] {
        &self.gate_specs
    }

    /// Installs the connected gates (same order as [`Chain::gate_specs`]).
    pub(crate) fn connect(&mut self, gates: Vec<OutputGate>) {
        self.gates = gates;
    }

    /// Pushes what the task's source produced to its consumers, counting its watched columns.
    pub(crate) fn push_produced(&mut self, batch: Batch) -> Result<(), RuntimeError> {
        if let Some(quality) = &self.source_quality {
            quality::observe(quality, &batch);
        }
        let entry = self.entry.clone();
        self.push(&entry, batch)
    }

    /// Pushes records along `routes`.
    pub(crate) fn push(&mut self, routes: &[Route], batch: Batch) -> Result<(), RuntimeError> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some((last, rest)) = routes.split_last() else {
            return Ok(());
        };
        let mut scatters = Scatters::default();
        for route in rest {
            self.push_one(*route, batch.clone(), &mut scatters)?;
        }
        self.push_one(*last, batch, &mut scatters)
    }

    fn push_one(
        &mut self,
        route: Route,
        batch: Batch,
        scatters: &mut Scatters,
    ) -> Result<(), RuntimeError> {
        match route {
            Route::Gate(g) => {
                self.gates[g].push_records(batch, scatters);
                Ok(())
            }
            Route::Chained(i) => {
                let node = &mut self.nodes[i];
                match &mut node.step {
                    Step::Sink(sink) => {
                        sink.write_batch(&batch)?;
                        TaskCounters::add(&self.counters.sink_records, batch.len() as u64);
                        TaskCounters::add(&self.counters.sink_batches, 1);
                        if let Some(read_at) = batch.read_at_us() {
                            self.counters
                                .sink_latency
                                .observe_us(latency::micros_since(read_at));
                        }
                        Ok(())
                    }
                    Step::Stage(op) => {
                        let mut out = Output::default();
                        op.process_batch(&batch, &mut out)?;
                        inherit_read_stamp(&mut out, batch.read_at_us());
                        self.emit(i, out)
                    }
                }
            }
        }
    }

    /// Routes what node `i` emitted: records to its consumers, late records to its late
    /// output (or counted when it has none). Each batch must have the columns of its output
    /// (late records: of the stage's input).
    fn emit(&mut self, i: usize, out: Output) -> Result<(), RuntimeError> {
        let node = &self.nodes[i];
        let (main, late) = (node.main.clone(), node.late.clone());
        node.check(&out.late, &node.input, "late records")?;
        node.check(&out.records, &node.output, "records")?;
        if let Some(quality) = &node.quality {
            out.records
                .iter()
                .for_each(|b| quality::observe(quality, b));
        }
        if !out.params.is_empty() {
            let params = node.params.clone();
            let types = batch::column_types(ParameterPlan::change_schema());
            node.check(&out.params, &types, "parameter changes")?;
            for batch in out.params {
                self.push(&params, batch)?;
            }
        }
        if late.is_empty() {
            let dropped: u64 = out.late.iter().map(|b| b.len() as u64).sum();
            if dropped > 0 {
                TaskCounters::add(&self.counters.late_dropped, dropped);
            }
        } else {
            for batch in out.late {
                self.push(&late, batch)?;
            }
        }
        for batch in out.records {
            self.push(&main, batch)?;
        }
        Ok(())
    }

    /// The combined input watermark advanced: let every operator fire, then forward it.
    pub(crate) fn advance(&mut self, routes: &[Route], watermark: i64) -> Result<(), RuntimeError> {
        for route in routes {
            match *route {
                Route::Gate(g) => self.gates[g].push_control(StreamElement::Watermark(watermark)),
                Route::Chained(i) => {
                    if let Step::Stage(op) = &mut self.nodes[i].step {
                        let mut out = Output::default();
                        op.on_watermark(watermark, &mut out)?;
                        self.emit(i, out)?;
                    }
                    let main = self.nodes[i].main.clone();
                    self.advance(&main, watermark)?;
                }
            }
        }
        Ok(())
    }

    /// Every input ended: flush operators, publish sinks, and end every gate.
    pub(crate) fn end(&mut self, routes: &[Route]) -> Result<(), RuntimeError> {
        for route in routes {
            match *route {
                Route::Gate(g) => self.gates[g].push_control(StreamElement::End),
                Route::Chained(i) => {
                    match &mut self.nodes[i].step {
                        Step::Stage(op) => {
                            let mut out = Output::default();
                            op.on_end(&mut out)?;
                            self.emit(i, out)?;
                        }
                        Step::Sink(sink) => sink.finish()?,
                    }
                    let node = &self.nodes[i];
                    let outputs = [node.main.clone(), node.late.clone(), node.params.clone()];
                    for routes in outputs {
                        self.end(&routes)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// `barrier` reached the chain: every stage, in order, emits what belongs before it
    /// (`Operator::on_barrier`).
    pub(crate) fn on_barrier(&mut self, barrier: &Barrier) -> Result<(), RuntimeError> {
        for i in 0..self.nodes.len() {
            if let Step::Stage(op) = &mut self.nodes[i].step {
                let mut out = Output::default();
                op.on_barrier(barrier, &mut out)?;
                self.emit(i, out)?;
            }
        }
        Ok(())
    }

    /// The task started: every stage, in order, emits what its consumers need first
    /// (`Operator::on_start`).
    pub(crate) fn start(&mut self) -> Result<(), RuntimeError> {
        for i in 0..self.nodes.len() {
            if let Step::Stage(op) = &mut self.nodes[i].step {
                let mut out = Output::default();
                op.on_start(&mut out)?;
                self.emit(i, out)?;
            }
        }
        Ok(())
    }

    /// Waits until every stage can take input (`Operator::ready`).
    pub(crate) async fn ready(&mut self) -> Result<(), RuntimeError> {
        for node in &mut self.nodes {
            if let Step::Stage(op) = &mut node.step {
                if let Some(wait) = op.ready() {
                    wait.await?;
                }
            }
        }
        Ok(())
    }

    /// Forwards a control element (a barrier) to every gate.
    pub(crate) fn broadcast(&mut self, element: &StreamElement) {
        for gate in &mut self.gates {
            gate.push_control(element.clone());
        }
    }

    /// Copies every stateful stage's state for a checkpoint.
    pub(crate) fn snapshot(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Vec<NamedCopy>, RuntimeError> {
        let mut copies = Vec::new();
        for node in &mut self.nodes {
            if let (Step::Stage(op), Some(saved_as)) = (&mut node.step, &node.saved_as) {
                let copy = match op.snapshot_changes(checkpoint)? {
                    Some(copy) => Copied::Changes {
                        copy,
                        base: node.base,
                        groups: node.groups.clone(),
                    },
                    None => Copied::Whole(op.snapshot_copy()?),
                };
                copies.push(NamedCopy {
                    name: node.name.clone(),
                    saved_as: saved_as.clone(),
                    copy,
                });
            }
        }
        Ok(copies)
    }

    /// The stages to restore: (node index, operator name, key groups it owns).
    pub(crate) fn stateful(&self) -> Vec<(usize, String, std::ops::Range<u32>)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.step, Step::Stage(_)) && n.saved_as.is_some())
            .map(|(i, n)| (i, n.name.clone(), n.groups.clone()))
            .collect()
    }

    /// Restores node `i`'s stage from complete checkpoint `checkpoint`, after checking the
    /// state fits its spec. Its next changes extend that checkpoint, unless the state was
    /// stored in another order: then they are written anew, on nothing.
    pub(crate) fn restore(
        &mut self,
        i: usize,
        state: Vec<KeyGroupState>,
        checkpoint: CheckpointId,
    ) -> Result<(), RuntimeError> {
        if let Some(ChainNode {
            name,
            saved_as: Some(saved_as),
            step: Step::Stage(op),
            base,
            ..
        }) = self.nodes.get_mut(i)
        {
            let (pieces, order) = saved_as.unwrap(name, state)?;
            *base = order.is_none().then_some(checkpoint);
            op.restore(SavedState { pieces, order })?;
            op.restored_from(checkpoint);
        }
        Ok(())
    }

    /// Barrier `checkpoint`: every sink stages what it wrote since the previous one.
    pub(crate) fn prepare_commit(&mut self, checkpoint: CheckpointId) -> Result<(), RuntimeError> {
        for node in &mut self.nodes {
            if let Step::Sink(sink) = &mut node.step {
                sink.prepare_commit(checkpoint)?;
            }
        }
        Ok(())
    }

    /// Checkpoint `checkpoint` completed: every sink publishes what it staged up to it, and
    /// every stage's next changes extend it.
    pub(crate) fn commit(&mut self, checkpoint: CheckpointId) -> Result<(), RuntimeError> {
        for node in &mut self.nodes {
            match &mut node.step {
                Step::Sink(sink) => sink.commit(checkpoint)?,
                Step::Stage(op) => {
                    op.confirm(checkpoint);
                    node.base = node.base.max(Some(checkpoint));
                }
            }
        }
        Ok(())
    }

    /// What the chain's learner partitions scored per version.
    pub(crate) fn served(&self) -> Vec<ServedVersion> {
        self.nodes
            .iter()
            .flat_map(|n| match &n.step {
                Step::Stage(op) => op.served(),
                Step::Sink(_) => Vec::new(),
            })
            .collect()
    }

    /// The progressive error of the chain's rating predictions, over its stages.
    pub(crate) fn rating_errors(&self) -> RatingErrors {
        let mut all = RatingErrors::default();
        for n in &self.nodes {
            if let Step::Stage(op) = &n.step {
                all.add(&op.rating_errors());
            }
        }
        all
    }

    /// A gauge of the chain's stages, summed: `gauge` of each stage.
    pub(crate) fn stages_sum(&self, gauge: impl Fn(&dyn Operator) -> u64) -> u64 {
        self.nodes
            .iter()
            .map(|n| match &n.step {
                Step::Stage(op) => gauge(op.as_ref()),
                Step::Sink(_) => 0,
            })
            .sum()
    }

    /// Sends everything buffered in the gates, waiting for credits.
    pub(crate) async fn flush(&mut self) -> Result<(), RuntimeError> {
        for gate in &mut self.gates {
            let sent = gate.flush().await?;
            TaskCounters::add(&self.counters.records_out, sent);
        }
        Ok(())
    }
}

/// What a stage emitted for an input batch read at `read_at_us` is as old as that batch:
/// its batches without a stamp of their own get the input's. (What a stage emits on a
/// watermark, a barrier or at the end — a window firing — stays unstamped.)
fn inherit_read_stamp(out: &mut Output, read_at_us: Option<i64>) {
    if read_at_us.is_none() {
        return;
    }
    for batch in out.records.iter_mut().chain(&mut out.late) {
        if batch.read_at_us().is_none() {
            *batch = std::mem::take(batch).with_read_at_us(read_at_us);
        }
    }
}

#[cfg(test)]
mod tests;

//! The physical plan of a job: operators, how each reads its input, and which operators are
//! chained into one task.
//!
//! Built from a validated [`JobSpec`] by the coordinator and shipped to nodes, which execute it.
//! A *task* is the unit of deployment: one partition of a chain head plus every operator
//! chained behind it (a forward edge between operators of equal parallelism whose upstream has
//! no other consumer on that output, both in the same [`Pool`]), run by one actor without any
//! channel between them.
//!
//! Every operator belongs to a pool: the one its spec sets (`pool = "training"`), else its
//! input's (Flink's rule for slot sharing groups), else [`Pool::Default`]; a learner's
//! parameter-server operators are in the learner's pool.

use crate::ids::{NodeId, OperatorId, PartitionId};
use crate::pool::Pool;
use crate::spec::{JobSpec, SinkKind, SinkSpec, SourceSpec, StageKind, StageSpec};
use crate::value::{Schema, ValueType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// What an operator is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OperatorKind {
    /// A `[[source]]`.
    Source(SourceSpec),
    /// A `[[stage]]` (boxed: a stage spec is several times a source's or a sink's size).
    Stage(Box<StageSpec>),
    /// A `[[sink]]`.
    Sink(SinkSpec),
    /// A hidden operator of a learner's parameter servers (design §6), named
    /// `LEARNER/params` (the shards) or `LEARNER/versions` (the feed).
    Parameters(ParameterPlan),
}

/// One of the two hidden operators a learner stage with parameter servers expands into.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterPlan {
    /// The learner stage's name.
    pub learner: String,
    /// What this operator does.
    pub role: ParameterRole,
    /// The learner's partitions (its workers).
    pub workers: u32,
    /// The shards' partitions.
    pub shards: u32,
    /// What the parameters are: the learner's kind and what shapes its model (stored in the
    /// shards' state schema, so a restore into another learner is refused).
    pub model: String,
}

/// What a parameter-server operator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterRole {
    /// Holds the parameters whose keys fall in its key groups: sums the changes the workers
    /// push ([`OutputPort::Params`], [`ParameterPlan::change_schema`]) and publishes the
    /// values that changed at every barrier ([`ParameterPlan::version_schema`]).
    Shard,
    /// Partition `p` receives every shard's versions (a broadcast edge) and hands them to the
    /// learner's partition `p` on the same node.
    Feed,
}

impl ParameterPlan {
    /// The records a worker pushes: the change of one parameter since it last pushed, and
    /// whether the shards average the workers' changes of it (1) or sum them (0).
    pub fn change_schema() -> &'static Schema {
        static SCHEMA: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| {
            Schema::new([
                ("parameter", ValueType::I64),
                ("change", ValueType::F64),
                ("averaged", ValueType::I64),
            ])
        });
        &SCHEMA
    }

    /// The records a shard publishes: `(shard, version, parameter, value)`, the value a
    /// parameter has in `version` (the checkpoint whose barrier closed it); a record with
    /// parameter −1 says the shard has published all of `version`.
    pub fn version_schema() -> &'static Schema {
        static SCHEMA: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| {
            Schema::new([
                ("shard", ValueType::I64),
                ("version", ValueType::I64),
                ("parameter", ValueType::I64),
                ("value", ValueType::F64),
            ])
        });
        &SCHEMA
    }

    /// The name of a learner's shard operator.
    pub fn shards_name(learner: &str) -> String {
        format!("{learner}/params")
    }

    /// The name of a learner's feed operator.
    pub fn feed_name(learner: &str) -> String {
        format!("{learner}/versions")
    }
}

/// Which output of an upstream operator an edge reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputPort {
    /// The records an operator emits.
    Main,
    /// Records a windowed stage found late (its `late` side output).
    Late,
    /// A learner's parameter changes, pushed to its shards at barriers.
    Params,
}

/// How records of an edge are spread over the downstream partitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Partitioning {
    /// Partition `p` feeds partition `p` (equal parallelism).
    Forward,
    /// By the key columns' key group (column positions in the upstream schema).
    Hash {
        /// Positions of the key columns in the records.
        key_columns: Vec<usize>,
    },
    /// Batches spread round-robin.
    Rebalance,
    /// Every batch to every partition.
    Broadcast,
}

/// The input of an operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEdge {
    /// The upstream operator.
    pub from: OperatorId,
    /// Which of its outputs.
    pub port: OutputPort,
    /// How records spread.
    pub partitioning: Partitioning,
}

/// One operator of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorPlan {
    /// Its id: the position in [`JobPlan::operators`].
    pub id: OperatorId,
    /// The spec name.
    pub name: String,
    /// Number of partitions.
    pub parallelism: u32,
    /// What it is.
    pub kind: OperatorKind,
    /// Its input (`None` for sources).
    pub input: Option<InputEdge>,
    /// The schema of the records it receives (`None` for sources).
    pub input_schema: Option<Schema>,
    /// The pool whose slots and threads run it.
    pub pool: Pool,
}

/// A job's physical plan. A learner with parameter servers is followed by its hidden
/// operators `NAME/params` and `NAME/versions` ([`JobPlan::has_parameter_servers`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobPlan {
    /// The validated spec it was built from.
    pub spec: JobSpec,
    /// Operators: sources, then stages, then sinks, in the validated spec's order (each stage
    /// after the stage it reads).
    pub operators: Vec<OperatorPlan>,
}

/// Where each partition index of each pool runs: partition `p` of every operator of pool
/// `x` runs on `nodes[partition_nodes[x][p]]` (Flink-style slot sharing: one slot holds
/// partition `p` of the pool's whole pipeline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The nodes taking part, with the address their exchange listens on.
    pub nodes: Vec<(NodeId, SocketAddr)>,
    /// For each pool the job uses and each of its partition indices, the position of its
    /// node in `nodes`.
    pub partition_nodes: BTreeMap<Pool, Vec<usize>>,
}

impl Assignment {
    /// The node that runs partition `partition` of the operators of `pool`.
    pub fn node_of(&self, pool: Pool, partition: PartitionId) -> Option<(NodeId, SocketAddr)> {
        let index = *self.partition_nodes.get(&pool)?.get(partition.0 as usize)?;
        self.nodes.get(index).copied()
    }

    /// The slots each pool takes on `node`.
    pub fn slots_on(&self, node: NodeId) -> BTreeMap<Pool, u32> {
        let mut slots = BTreeMap::new();
        for (pool, placed) in &self.partition_nodes {
            let here = |i: &&usize| self.nodes.get(**i).map(|n| n.0) == Some(node);
            let n = placed.iter().filter(here).count() as u32;
            if n > 0 {
                slots.insert(*pool, n);
            }
        }
        slots
    }
}

/// How the rows of `sink` (of `schema`, from `upstream_parallelism` partitions) spread over
/// its partitions: forward at equal parallelism, round-robin otherwise. A Redis sink's rows
/// go by the columns of its key template instead, so each Redis key has one writer and its
/// updates stay in order — unless forward already does that: the upstream is an aggregate
/// (keyed by `keyed_by`) whose key columns are all in the template, at equal parallelism.
fn sink_partitioning(
    sink: &SinkSpec,
    schema: &Schema,
    upstream_parallelism: u32,
    keyed_by: Option<&[String]>,
) -> Partitioning {
    let forward = upstream_parallelism == sink.parallelism;
    match &sink.kind {
        SinkKind::Redis(redis) => {
            let in_key = |c: &String| redis.key.columns().any(|k| k == c);
            if forward && (sink.parallelism == 1 || keyed_by.is_some_and(|k| k.iter().all(in_key)))
            {
                Partitioning::Forward
            } else {
                Partitioning::Hash {
                    key_columns: redis
                        .key
                        .columns()
                        .filter_map(|c| schema.index_of(c))
                        .collect(),
                }
            }
        }
        _ if forward => Partitioning::Forward,
        _ => Partitioning::Rebalance,
    }
}

impl JobPlan {
    /// Builds the plan of a validated spec.
    pub fn from_spec(spec: &JobSpec) -> JobPlan {
        let mut operators: Vec<OperatorPlan> = Vec::new();
        for source in &spec.sources {
            operators.push(OperatorPlan {
                id: OperatorId(operators.len() as u32),
                name: source.name.clone(),
                parallelism: source.parallelism,
                kind: OperatorKind::Source(source.clone()),
                input: None,
                input_schema: None,
                pool: source.pool.unwrap_or_default(),
            });
        }
        for stage in &spec.stages {
            let (from, schema, upstream_parallelism, upstream_pool) =
                Self::upstream(&operators, &stage.input);
            let partitioning = match &stage.kind {
                StageKind::Aggregate(agg) => Partitioning::Hash {
                    key_columns: agg.key.iter().filter_map(|k| schema.index_of(k)).collect(),
                },
                // Matrix factorisation keeps each user's state in the user's key group.
                StageKind::MatrixFactorization(mf) => Partitioning::Hash {
                    key_columns: schema.index_of(&mf.user).into_iter().collect(),
                },
                // So does `recommend`, whose users' histories and lists are theirs alone.
                StageKind::Recommend(r) => Partitioning::Hash {
                    key_columns: schema.index_of(&r.user).into_iter().collect(),
                },
                // The other ML stages have no key: one model (or statistics) per partition.
                _ if upstream_parallelism == stage.parallelism => Partitioning::Forward,
                _ => Partitioning::Rebalance,
            };
            operators.push(OperatorPlan {
                id: OperatorId(operators.len() as u32),
                name: stage.name.clone(),
                parallelism: stage.parallelism,
                kind: OperatorKind::Stage(Box::new(stage.clone())),
                input: Some(InputEdge {
                    from,
                    port: OutputPort::Main,
                    partitioning,
                }),
                input_schema: Some(schema),
                pool: stage.pool.unwrap_or(upstream_pool),
            });
            if Self::has_parameter_servers(spec, stage) {
                Self::add_parameter_servers(&mut operators, stage);
            }
        }
        for sink in &spec.sinks {
            let (stage_id, stage_schema, parallelism, upstream_pool) =
                Self::upstream(&operators, &sink.input);
            let (from, schema, port) = if sink.late {
                // A late sink reads its stage's late side output: the stage's input rows.
                let input_schema = operators
                    .get(stage_id.0 as usize)
                    .and_then(|o| o.input_schema.clone())
                    .unwrap_or_default();
                (stage_id, input_schema, OutputPort::Late)
            } else {
                (stage_id, stage_schema, OutputPort::Main)
            };
            let keyed_by = match operators.get(stage_id.0 as usize).map(|o| &o.kind) {
                Some(OperatorKind::Stage(s)) if port == OutputPort::Main => match &s.kind {
                    StageKind::Aggregate(agg) => Some(agg.key.as_slice()),
                    _ => None,
                },
                _ => None,
            };
            let partitioning = sink_partitioning(sink, &schema, parallelism, keyed_by);
            operators.push(OperatorPlan {
                id: OperatorId(operators.len() as u32),
                name: sink.name.clone(),
                parallelism: sink.parallelism,
                kind: OperatorKind::Sink(sink.clone()),
                input: Some(InputEdge {
                    from,
                    port,
                    partitioning,
                }),
                input_schema: Some(schema),
                pool: sink.pool.unwrap_or(upstream_pool),
            });
        }
        JobPlan {
            spec: spec.clone(),
            operators,
        }
    }

    /// Whether `stage` trains through parameter servers: a learner with additive parameters
    /// in a job that takes checkpoints (its workers push their changes at barriers); a
    /// `matrix_factorization` only with `parameter_shards` set. Without checkpoints every
    /// partition keeps its own model.
    pub fn has_parameter_servers(spec: &JobSpec, stage: &StageSpec) -> bool {
        spec.checkpoint_interval.is_some()
            && matches!(
                stage.kind,
                StageKind::LogisticRegression(_)
                    | StageKind::LinearRegression(_)
                    | StageKind::KMeans(_)
            )
            || matches!(
                &stage.kind,
                StageKind::MatrixFactorization(s) if s.parameter_shards.is_some()
            )
    }

    /// Adds the shards (reading the learner's [`OutputPort::Params`] by parameter key) and
    /// the feed (reading every shard) of the learner `stage`, just added.
    fn add_parameter_servers(operators: &mut Vec<OperatorPlan>, stage: &StageSpec) {
        let learner = OperatorId(operators.len() as u32 - 1);
        let pool = operators.last().map(|o| o.pool).unwrap_or_default();
        let model = operators
            .last()
            .and_then(crate::state_schema::StateSchema::of)
            .and_then(|s| Some(format!("{}: {}", s.kind, s.values.first()?.definition)))
            .unwrap_or_default();
        let shard_count = stage.kind.parameter_shards().unwrap_or(stage.parallelism);
        let plan = |role| ParameterPlan {
            learner: stage.name.clone(),
            role,
            workers: stage.parallelism,
            shards: shard_count,
            model: model.clone(),
        };
        let shards = OperatorId(operators.len() as u32);
        operators.push(OperatorPlan {
            id: shards,
            name: ParameterPlan::shards_name(&stage.name),
            parallelism: shard_count,
            kind: OperatorKind::Parameters(plan(ParameterRole::Shard)),
            input: Some(InputEdge {
                from: learner,
                port: OutputPort::Params,
                partitioning: Partitioning::Hash {
                    key_columns: vec![0],
                },
            }),
            input_schema: Some(ParameterPlan::change_schema().clone()),
            pool,
        });
        operators.push(OperatorPlan {
            id: OperatorId(operators.len() as u32),
            name: ParameterPlan::feed_name(&stage.name),
            parallelism: stage.parallelism,
            kind: OperatorKind::Parameters(plan(ParameterRole::Feed)),
            input: Some(InputEdge {
                from: shards,
                port: OutputPort::Main,
                partitioning: Partitioning::Broadcast,
            }),
            input_schema: Some(ParameterPlan::version_schema().clone()),
            pool,
        });
    }

    /// The id, output schema, parallelism and pool of the operator named `name` (validated
    /// to exist).
    fn upstream(operators: &[OperatorPlan], name: &str) -> (OperatorId, Schema, u32, Pool) {
        operators
            .iter()
            .find(|o| o.name == name)
            .map(|o| (o.id, o.output_schema().clone(), o.parallelism, o.pool))
            .unwrap_or((OperatorId(0), Schema::default(), 1, Pool::Default))
    }

    /// The operator with this id.
    pub fn operator(&self, id: OperatorId) -> Option<&OperatorPlan> {
        self.operators.get(id.0 as usize)
    }

    /// The operators reading `id`'s output, with the port they read.
    pub fn consumers(&self, id: OperatorId) -> impl Iterator<Item = &OperatorPlan> + '_ {
        self.operators
            .iter()
            .filter(move |o| o.input.as_ref().is_some_and(|e| e.from == id))
    }

    /// Whether `op` runs chained behind its upstream, in the upstream's task (never across
    /// a pool boundary).
    pub fn is_chained(&self, op: &OperatorPlan) -> bool {
        let Some(edge) = &op.input else { return false };
        if edge.partitioning != Partitioning::Forward
            || self.operator(edge.from).map(|o| o.pool) != Some(op.pool)
        {
            return false;
        }
        let siblings = self
            .consumers(edge.from)
            .filter(|c| c.input.as_ref().map(|e| e.port) == Some(edge.port))
            .count();
        siblings == 1
    }

    /// The earlier sibling whose task `op` joins, if any: the first consumer of the same
    /// output partitioned by the same key at the same parallelism in the same pool. Its task
    /// receives each record once for both (one exchange instead of one per consumer: several
    /// aggregates keyed alike over one stream are the common case of feature jobs), and
    /// hands every batch, watermark and barrier to each of them.
    pub fn joins_task_of(&self, op: &OperatorPlan) -> Option<&OperatorPlan> {
        let edge = op.input.as_ref()?;
        if !matches!(edge.partitioning, Partitioning::Hash { .. })
            || !matches!(op.kind, OperatorKind::Stage(_) | OperatorKind::Sink(_))
        {
            return None;
        }
        self.consumers(edge.from)
            .take_while(|c| c.id != op.id)
            .find(|c| {
                c.input.as_ref() == Some(edge)
                    && c.parallelism == op.parallelism
                    && c.pool == op.pool
                    && matches!(c.kind, OperatorKind::Stage(_) | OperatorKind::Sink(_))
            })
    }

    /// The operator `op` runs chained behind (transitively): itself when it is not chained.
    fn forward_root<'a>(&'a self, mut op: &'a OperatorPlan) -> &'a OperatorPlan {
        while self.is_chained(op) {
            let Some(up) = op.input.as_ref().and_then(|e| self.operator(e.from)) else {
                break;
            };
            op = up;
        }
        op
    }

    /// The siblings that joined `head`'s task ([`JobPlan::joins_task_of`]), in plan order.
    pub fn joined_to<'a>(
        &'a self,
        head: &'a OperatorPlan,
    ) -> impl Iterator<Item = &'a OperatorPlan> {
        self.operators
            .iter()
            .filter(move |o| self.joins_task_of(o).is_some_and(|h| h.id == head.id))
    }

    /// The head operator of the task `op` runs in.
    pub fn chain_head(&self, op: &OperatorPlan) -> OperatorId {
        let root = self.forward_root(op);
        self.joins_task_of(root)
            .map_or(root.id, |sibling| sibling.id)
    }

    /// Operators that start a task (not chained behind another, not joining a sibling's).
    pub fn task_heads(&self) -> impl Iterator<Item = &OperatorPlan> + '_ {
        self.operators
            .iter()
            .filter(|o| !self.is_chained(o) && self.joins_task_of(o).is_none())
    }

    /// The names of the operators the task headed by `head` runs, head first: `a → b` for
    /// `b` chained behind `a`, and `a → b + c → d` when `c` (with `d` behind it) joined the
    /// task ([`JobPlan::joins_task_of`]).
    pub fn chain_names(&self, head: &OperatorPlan) -> String {
        let branches = std::iter::once(head)
            .chain(self.joined_to(head))
            .map(|branch| {
                let behind = self
                    .operators
                    .iter()
                    .filter(|o| o.id != branch.id && self.forward_root(o).id == branch.id);
                std::iter::once(branch)
                    .chain(behind)
                    .map(|o| o.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" → ")
            });
        branches.collect::<Vec<_>>().join(" + ")
    }

    /// The slots the job needs in each pool it uses: the largest parallelism of the pool's
    /// operators.
    pub fn slots_by_pool(&self) -> BTreeMap<Pool, u32> {
        let mut slots = BTreeMap::new();
        for o in &self.operators {
            let needed = slots.entry(o.pool).or_insert(1);
            *needed = o.parallelism.max(*needed);
        }
        slots
    }

    /// The slots the job needs in all: the sum over its pools of [`JobPlan::slots_by_pool`].
    pub fn slots_needed(&self) -> u32 {
        self.slots_by_pool().values().sum::<u32>().max(1)
    }
}

impl OperatorPlan {
    /// The schema of the records this operator emits (sinks emit nothing: empty).
    pub fn output_schema(&self) -> &Schema {
        static EMPTY: Schema = Schema {
            columns: Vec::new(),
        };
        match &self.kind {
            OperatorKind::Source(s) => &s.schema,
            OperatorKind::Stage(s) => &s.schema,
            OperatorKind::Parameters(p) if p.role == ParameterRole::Shard => {
                ParameterPlan::version_schema()
            }
            OperatorKind::Sink(_) | OperatorKind::Parameters(_) => &EMPTY,
        }
    }
}

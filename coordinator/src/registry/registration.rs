//! Registering versions when a checkpoint completes: which stages of a plan are learners and
//! which operator's state holds their parameters (pure), and the registration itself, run
//! off the cluster lock (it reads the checkpoint's chains and flushes).

use super::{Registry, RegistryError, VersionRecord};
use quiver_protocol::models::ModelLineage;
use quiver_protocol::plan::{JobPlan, OperatorKind};
use quiver_protocol::spec::StageKind;
use quiver_protocol::{CheckpointId, Generation, JobId, OperatorId};
use std::collections::BTreeMap;

/// A learner stage of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LearnerStage {
    /// The stage's name.
    pub(crate) name: String,
    /// The operator whose checkpointed state holds its parameters: `NAME/params` when the
    /// plan has an operator of that name (the parameter shards), else the stage itself.
    pub(crate) state_operator: String,
    /// The head of the task chain that runs the stage (whose metrics count its records).
    pub(crate) head: OperatorId,
}

/// The learner stages of a plan (kinds `logistic_regression`, `linear_regression`, `kmeans`,
/// `matrix_factorization`), in plan order.
pub(crate) fn learner_stages(plan: &JobPlan) -> Vec<LearnerStage> {
    plan.operators
        .iter()
        .filter(|op| {
            matches!(
                &op.kind,
                OperatorKind::Stage(stage) if matches!(
                    stage.kind,
                    StageKind::LogisticRegression(_)
                        | StageKind::LinearRegression(_)
                        | StageKind::KMeans(_)
                        | StageKind::MatrixFactorization(_)
                )
            )
        })
        .map(|op| {
            let params = format!("{}/params", op.name);
            let sharded = plan.operators.iter().any(|o| o.name == params);
            LearnerStage {
                name: op.name.clone(),
                state_operator: if sharded { params } else { op.name.clone() },
                head: plan.chain_head(op),
            }
        })
        .collect()
}

/// What a completed checkpoint registers, gathered under the cluster lock and run off it.
pub(crate) struct Registration {
    /// The registry to write to.
    pub(crate) registry: Registry,
    /// The job.
    pub(crate) job: JobId,
    /// The completed checkpoint (the versions' id).
    pub(crate) checkpoint: CheckpointId,
    /// The generation that took it.
    pub(crate) generation: Generation,
    /// When it completed, ms since the epoch.
    pub(crate) completed_at_ms: u64,
    /// The learner stages with their metrics at completion.
    pub(crate) stages: Vec<(LearnerStage, BTreeMap<String, f64>)>,
}

impl Registration {
    /// Registers a version of every learner stage whose state in the checkpoint differs
    /// from its state in the previous complete checkpoint of the job (every learner with
    /// state when there is none to compare with). Adds the metric `state_bytes` (bytes the
    /// parameters' state references). Returns the stages registered.
    pub(crate) fn run(self) -> Result<Vec<String>, RegistryError> {
        let Registration {
            registry,
            job,
            checkpoint,
            generation,
            completed_at_ms,
            stages,
        } = self;
        let checkpoints = &registry.checkpoints;
        let previous = checkpoints
            .list(job)?
            .into_iter()
            .map(|c| c.checkpoint)
            .filter(|c| *c < checkpoint)
            .max();
        let mut registered = Vec::new();
        for (stage, mut metrics) in stages {
            let operator = &stage.state_operator;
            let now = checkpoints.state_fingerprint(job, checkpoint, operator)?;
            if now.is_empty() {
                continue;
            }
            // A previous checkpoint pruned meanwhile compares as "nothing to compare with".
            let before =
                previous.and_then(|p| checkpoints.state_fingerprint(job, p, operator).ok());
            if !now.changed_since(before.as_ref().filter(|b| !b.is_empty())) {
                continue;
            }
            metrics.insert("state_bytes".into(), now.bytes() as f64);
            let record = VersionRecord {
                stage: stage.name.clone(),
                version: checkpoint,
                created_ms: completed_at_ms,
                lineage: ModelLineage {
                    job,
                    checkpoint,
                    generation,
                },
                metrics,
                state_operator: stage.state_operator,
            };
            if registry.register(job, &record)? {
                registered.push(stage.name);
            }
        }
        Ok(registered)
    }
}

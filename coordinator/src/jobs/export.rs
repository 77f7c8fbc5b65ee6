//! `quiver model export`: checking under the cluster lock that a job has the learner stage
//! asked for and that its parameters live on parameter servers; the registry then reads them
//! off the lock ([`crate::registry::Registry::export`]).

use super::Cluster;
use crate::registry::{learner_stages, ExportRequest, Registry};
use quiver_protocol::models::LEARNER_KINDS;
use quiver_protocol::plan::OperatorKind;
use quiver_protocol::spec::StageKind;
use quiver_protocol::{CheckpointId, JobId};

/// A learner stage with parameter servers, as export and import find it.
pub(super) struct ShardedLearner<'a> {
    /// Its kind: `linear_regression`, `logistic_regression`, `kmeans` or
    /// `matrix_factorization`.
    pub(super) kind: &'static str,
    /// Its spec.
    pub(super) spec: &'a StageKind,
    /// The operator whose state holds its parameters (`NAME/params`).
    pub(super) state_operator: String,
}

impl Cluster {
    /// Stage `stage` of `job` when it is a learner with parameter servers; else an error
    /// naming what to do (`what`: the command, e.g. "export").
    pub(super) fn sharded_learner(
        &self,
        job: JobId,
        stage: &str,
        what: &str,
    ) -> Result<ShardedLearner<'_>, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let learners = learner_stages(&entry.plan);
        let Some(learner) = learners.iter().find(|s| s.name == stage) else {
            let names: Vec<&str> = learners.iter().map(|s| s.name.as_str()).collect();
            return Err(if names.is_empty() {
                format!(
                    "{job} has no learner stage (kinds {}), so it has no model to {what}",
                    LEARNER_KINDS.join(", ")
                )
            } else {
                format!(
                    "{job} has no learner stage {stage:?}; its learner stages: {}",
                    names.join(", ")
                )
            });
        };
        let spec = entry.plan.operators.iter().find_map(|op| match &op.kind {
            OperatorKind::Stage(spec) if op.name == stage => Some(&spec.kind),
            _ => None,
        });
        let sharded = learner.state_operator != learner.name;
        let (kind, spec) = match spec {
            Some(spec @ StageKind::LinearRegression(_)) if sharded => ("linear_regression", spec),
            Some(spec @ StageKind::LogisticRegression(_)) if sharded => {
                ("logistic_regression", spec)
            }
            Some(spec @ StageKind::KMeans(_)) if sharded => ("kmeans", spec),
            Some(spec @ StageKind::MatrixFactorization(_)) if sharded => {
                ("matrix_factorization", spec)
            }
            _ => {
                return Err(format!(
                    "stage {stage:?} of {job} keeps one model per partition, not one model on \
                     parameter servers: {what} works with the parameter servers of a \
                     linear_regression, logistic_regression or kmeans stage, or a \
                     matrix_factorization with parameter_shards, in a job with \
                     job.checkpoint_interval"
                ))
            }
        };
        Ok(ShardedLearner {
            kind,
            spec,
            state_operator: learner.state_operator.clone(),
        })
    }

    /// What `quiver model export JOB STAGE VERSION` reads, and the registry to read it with;
    /// an error naming what to do when the job or stage is unknown or the stage keeps its
    /// model per partition (no parameter servers).
    pub(crate) fn export_request(
        &self,
        job: JobId,
        stage: &str,
        version: CheckpointId,
    ) -> Result<(Registry, ExportRequest), String> {
        let learner = self.sharded_learner(job, stage, "export")?;
        let request = ExportRequest {
            job,
            stage: stage.to_string(),
            kind: learner.kind.to_string(),
            state_operator: learner.state_operator,
            version,
        };
        Ok((self.registry.clone(), request))
    }
}

//! `quiver model export`: checking under the cluster lock that a job has the learner stage
//! asked for and that its parameters live on parameter servers; the registry then reads them
//! off the lock ([`crate::registry::Registry::export`]).

use super::Cluster;
use crate::registry::{learner_stages, ExportRequest, Registry};
use quiver_protocol::models::LEARNER_KINDS;
use quiver_protocol::plan::OperatorKind;
use quiver_protocol::spec::StageKind;
use quiver_protocol::{CheckpointId, JobId};

impl Cluster {
    /// What `quiver model export JOB STAGE VERSION` reads, and the registry to read it with;
    /// an error naming what to do when the job or stage is unknown or the stage keeps its
    /// model per partition (no parameter servers).
    pub(crate) fn export_request(
        &self,
        job: JobId,
        stage: &str,
        version: CheckpointId,
    ) -> Result<(Registry, ExportRequest), String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let learners = learner_stages(&entry.plan);
        let Some(learner) = learners.iter().find(|s| s.name == stage) else {
            let names: Vec<&str> = learners.iter().map(|s| s.name.as_str()).collect();
            return Err(if names.is_empty() {
                format!(
                    "{job} has no learner stage (kinds {}), so it has no model to export",
                    LEARNER_KINDS.join(", ")
                )
            } else {
                format!(
                    "{job} has no learner stage {stage:?}; its learner stages: {}",
                    names.join(", ")
                )
            });
        };
        let kind = entry.plan.operators.iter().find_map(|op| match &op.kind {
            OperatorKind::Stage(spec) if op.name == stage => Some(match spec.kind {
                StageKind::LinearRegression(_) => "linear_regression",
                StageKind::LogisticRegression(_) => "logistic_regression",
                StageKind::KMeans(_) => "kmeans",
                StageKind::MatrixFactorization(_) => "matrix_factorization",
                _ => "other",
            }),
            _ => None,
        });
        let sharded = learner.state_operator != learner.name;
        let kind = match kind {
            Some(kind @ ("linear_regression" | "logistic_regression")) if sharded => kind,
            _ => {
                return Err(format!(
                    "stage {stage:?} of {job} keeps one model per partition, not one model on \
                     parameter servers: export reads the parameter servers of a \
                     linear_regression or logistic_regression stage in a job with \
                     job.checkpoint_interval"
                ))
            }
        };
        let request = ExportRequest {
            job,
            stage: stage.to_string(),
            kind: kind.to_string(),
            state_operator: learner.state_operator.clone(),
            version,
        };
        Ok((self.registry.clone(), request))
    }
}

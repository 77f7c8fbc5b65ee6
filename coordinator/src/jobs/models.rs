//! The cluster's side of the model registry: what a completed checkpoint registers (the
//! learner stages and their tasks' metrics, gathered under the lock), `quiver model list`,
//! and setting aliases.

use super::Cluster;
use crate::checkpoint_store::Manifest;
use crate::registry::{learner_stages, Registration};
use quiver_protocol::messages::TaskMetrics;
use quiver_protocol::models::{ModelList, LEARNER_KINDS};
use quiver_protocol::{CheckpointId, JobId};
use std::collections::BTreeMap;

impl Cluster {
    /// The registration of the versions a completed checkpoint produced, if the job has
    /// learner stages. Metrics: `records_in`, the records read by the tasks that run the
    /// stage, and `refused_updates`, as of their last heartbeat (they may trail the
    /// checkpoint by one heartbeat).
    pub(super) fn registration(&self, manifest: &Manifest) -> Option<Registration> {
        let entry = self.jobs.get(&manifest.job)?;
        let stages: Vec<_> = learner_stages(&entry.plan)
            .into_iter()
            .map(|stage| {
                let mut sum = TaskMetrics::default();
                for (_, status) in entry.tasks.iter().filter(|(t, _)| t.operator == stage.head) {
                    sum.add(&status.metrics);
                }
                let metrics = BTreeMap::from([
                    ("records_in".to_string(), sum.records_in as f64),
                    ("refused_updates".to_string(), sum.refused_updates as f64),
                ]);
                (stage, metrics)
            })
            .collect();
        if stages.is_empty() {
            return None;
        }
        Some(Registration {
            registry: self.registry.clone(),
            job: manifest.job,
            checkpoint: manifest.checkpoint,
            generation: manifest.generation,
            completed_at_ms: manifest.completed_at_ms,
            stages,
        })
    }

    /// `quiver model list`: the job's learner stages and every registered version.
    pub(crate) fn model_list(&self, job: JobId) -> Result<ModelList, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let versions = self.registry.versions(job).map_err(|e| e.to_string())?;
        Ok(ModelList {
            job,
            learner_stages: learner_stages(&entry.plan)
                .into_iter()
                .map(|s| s.name)
                .collect(),
            checkpointing: entry.plan.spec.checkpoint_interval.is_some(),
            versions,
        })
    }

    /// Points `alias` of a learner stage at `version` (`None`: removes it); returns the
    /// version it named before. Removing an alias prunes at once what it pinned.
    pub(crate) fn set_alias(
        &self,
        job: JobId,
        stage: &str,
        alias: &str,
        version: Option<CheckpointId>,
    ) -> Result<Option<CheckpointId>, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let learners: Vec<String> = learner_stages(&entry.plan)
            .into_iter()
            .map(|s| s.name)
            .collect();
        if !learners.iter().any(|s| s == stage) {
            return Err(if learners.is_empty() {
                format!(
                    "{job} has no learner stage (kinds {}), so it has no model versions to alias",
                    LEARNER_KINDS.join(", ")
                )
            } else {
                format!(
                    "{job} has no learner stage {stage:?}; its learner stages: {}",
                    learners.join(", ")
                )
            });
        }
        match version {
            Some(version) => self
                .registry
                .set_alias(job, stage, alias, version)
                .map_err(|e| e.to_string()),
            None => {
                let previous = self
                    .registry
                    .remove_alias(job, stage, alias)
                    .map_err(|e| e.to_string())?;
                if previous.is_none() {
                    return Err(format!(
                        "stage {stage:?} of {job} has no alias {alias:?}: see `quiver model list {job}`"
                    ));
                }
                self.prune_checkpoints(job);
                Ok(previous)
            }
        }
    }
}

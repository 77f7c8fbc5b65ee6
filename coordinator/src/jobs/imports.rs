//! `quiver model import`: a model file registered as a new version of a learner stage with
//! parameter servers. The file is checked against the stage
//! ([`crate::registry::read_model_file`]) before anything changes; the version takes the
//! job's next checkpoint id (which no checkpoint will get), so versions stay ordered by
//! time and unique, and its model is kept in the registry (design §6, "Imported versions").

use super::checkpointing::now_ms;
use super::Cluster;
use crate::registry::{read_model_file, ImportRecord, VersionRecord};
use quiver_protocol::models::{ModelLineage, ModelVersionInfo, MAX_IMPORT_BYTES};
use quiver_protocol::{CheckpointId, JobId};
use std::collections::BTreeMap;

/// What a version imported from a file names as the operator holding its state.
pub(crate) const IMPORTED_STATE: &str = "registry";

impl Cluster {
    /// Imports `contents` (the file `file`) as a new version of `stage` of `job`, and points
    /// `alias` at it; returns the version. An error changes nothing and says what to do.
    pub(crate) fn import_model(
        &mut self,
        job: JobId,
        stage: &str,
        file: &str,
        contents: &[u8],
        alias: Option<&str>,
    ) -> Result<ModelVersionInfo, String> {
        if contents.len() > MAX_IMPORT_BYTES {
            return Err(format!(
                "{file} has {} bytes, more than an import takes ({MAX_IMPORT_BYTES})",
                contents.len()
            ));
        }
        if let Some(alias) = alias.filter(|a| !quiver_protocol::models::is_valid_alias(a)) {
            return Err(format!(
                "{alias:?} is not an alias name: use lowercase letters, digits, '_' and '-', \
                 starting with a letter (at most 64)"
            ));
        }
        let learner = self.sharded_learner(job, stage, "import")?;
        let model = read_model_file(stage, learner.spec, contents)
            .map_err(|e| format!("cannot import {file} into stage {stage:?} of {job}: {e}"))?;
        let registry = self.registry.clone();
        let entry = self
            .jobs
            .get_mut(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let version = CheckpointId(entry.schedule.take_id());
        entry.record.next_checkpoint = entry.schedule.next_id();
        self.store
            .save_job(&entry.record)
            .map_err(|e| format!("cannot store {job}: {e}"))?;
        let record = VersionRecord {
            stage: stage.to_string(),
            version,
            created_ms: now_ms(),
            lineage: ModelLineage {
                job,
                checkpoint: version,
                generation: entry.record.generation,
            },
            metrics: BTreeMap::new(),
            state_operator: IMPORTED_STATE.to_string(),
        };
        registry
            .import(job, &record, &ImportRecord::new(file, model))
            .map_err(|e| e.to_string())?;
        if let Some(alias) = alias {
            registry
                .set_alias(job, stage, alias, version)
                .map_err(|e| e.to_string())?;
        }
        tracing::info!("{job}: imported {file} as {version} of stage {stage}");
        let listed = registry.versions(job).map_err(|e| e.to_string())?;
        listed
            .into_iter()
            .find(|v| v.stage == stage && v.version == version)
            .ok_or_else(|| format!("{job}: the imported {version} is not listed"))
    }
}

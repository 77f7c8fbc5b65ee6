//! Imported versions (`quiver model import`): a model read from a file
//! ([`super::model_file`]) registered as a version of a learner stage. No checkpoint holds
//! it: its parameters (and the library's snapshot of a saved model) live in the registry's
//! `model_imports` tree under the version's key, retention never drops it, and the serving
//! tables that name it carry it to the nodes ([`Registry::imported_models`]).

use super::model_file::ModelFile;
use super::{codec_err, job_prefix, sled_err, version_key, Registry, RegistryError, VersionRecord};
use quiver_protocol::codec;
use quiver_protocol::models::{ImportedVersion, ServingTable};
use quiver_protocol::{CheckpointId, JobId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// An imported version's model as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImportRecord {
    /// The name of the file it came from.
    pub(crate) file: String,
    /// Its parameter vector.
    pub(crate) parameters: Vec<f64>,
    /// The library's snapshot of a saved model (`None`: an export was imported).
    pub(crate) snapshot: Option<Vec<u8>>,
}

impl ImportRecord {
    /// The record of `model` read from `file`.
    pub(crate) fn new(file: &str, model: ModelFile) -> Self {
        ImportRecord {
            file: file.to_string(),
            parameters: model.parameters,
            snapshot: model.snapshot,
        }
    }
}

impl Registry {
    /// Registers `record` as an imported version holding `model`. The version id must be
    /// unused (the caller takes it from the job's checkpoint ids).
    pub(crate) fn import(
        &self,
        job: JobId,
        record: &VersionRecord,
        model: &ImportRecord,
    ) -> Result<(), RegistryError> {
        let _locked = self.locked();
        let what = || format!("{job}: importing {} of {:?}", record.version, record.stage);
        let key = version_key(job, &record.stage, record.version);
        if self.versions.contains_key(&key).map_err(sled_err(what))? {
            return Err(RegistryError::Import(format!(
                "{job} already has a version {} of {:?}",
                record.version, record.stage
            )));
        }
        let value = codec::encode(model).map_err(codec_err(what))?;
        // The model first: a version is listed only once its model is there.
        self.imports.insert(&key, value).map_err(sled_err(what))?;
        let value = codec::encode(record).map_err(codec_err(what))?;
        self.versions.insert(key, value).map_err(sled_err(what))?;
        self.flush()
    }

    /// The model of `version` of `stage` if it was imported.
    pub(crate) fn imported(
        &self,
        job: JobId,
        stage: &str,
        version: CheckpointId,
    ) -> Result<Option<ImportRecord>, RegistryError> {
        let what = || format!("{job}: reading imported {version} of {stage:?}");
        self.imports
            .get(version_key(job, stage, version))
            .map_err(sled_err(what))?
            .map(|bytes| codec::decode(&bytes))
            .transpose()
            .map_err(codec_err(what))
    }

    /// The file names of a job's imported versions by version key.
    pub(super) fn imported_files(
        &self,
        job: JobId,
    ) -> Result<HashMap<Vec<u8>, String>, RegistryError> {
        self.imports
            .scan_prefix(job_prefix(job))
            .map(|entry| {
                let (key, value) = entry.map_err(sled_err(|| format!("{job}: reading imports")))?;
                let record: ImportRecord = codec::decode(&value)
                    .map_err(codec_err(|| format!("{job}: an imported version")))?;
                Ok((key.to_vec(), record.file))
            })
            .collect()
    }

    /// The models of the imported versions `table` names, for the nodes; `model_of` names
    /// the learner whose versions a stage of the table serves (a predict stage's model).
    pub(crate) fn imported_models(
        &self,
        job: JobId,
        table: &ServingTable,
        model_of: impl Fn(&str) -> String,
    ) -> Result<Vec<ImportedVersion>, RegistryError> {
        let mut out = Vec::new();
        for (stage, serving) in &table.stages {
            for version in serving.versions() {
                if let Some(record) = self.imported(job, &model_of(stage), version)? {
                    out.push(ImportedVersion {
                        stage: stage.clone(),
                        version,
                        parameters: record.parameters,
                        snapshot: record.snapshot,
                    });
                }
            }
        }
        Ok(out)
    }
}

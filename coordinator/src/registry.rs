//! The model registry (DESIGN §6, "Registry"): the versions of every learner stage's model
//! that completed checkpoints produced, and the aliases (`champion`, `challenger`, ...) naming
//! them, in two trees of the coordinator's sled database.
//!
//! A version is `(job, stage, version)` where the version is the id of the checkpoint whose
//! state holds the parameters; the registry stores no parameters of its own, it references
//! the checkpoint. So a version lives as long as its checkpoint: [`Registry::prune`] runs the
//! checkpoint store's retention with the checkpoints of aliased versions pinned, then drops
//! the versions whose checkpoint went. One lock orders registration, aliasing and pruning, so
//! an alias never names a version whose checkpoint is being pruned.
//!
//! Key layout: `job (8 bytes BE) ‖ stage length (4 bytes BE) ‖ stage` is a stage's prefix; a
//! version's key appends the version (8 bytes BE), an alias's key appends the alias name.

mod export;
mod import;
mod model_file;
mod registration;

#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod tests;

pub(crate) use export::ExportRequest;
pub(crate) use import::ImportRecord;
pub(crate) use model_file::read_model_file;
pub(crate) use registration::{learner_stages, Registration};

use crate::checkpoint_store::{CheckpointStore, CheckpointStoreError};
use quiver_protocol::codec::{self, CodecError};
use quiver_protocol::models::{is_valid_alias, ModelLineage, ModelVersionInfo};
use quiver_protocol::{CheckpointId, JobId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One registered model version as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// The learner stage.
    pub stage: String,
    /// The version: the id of the checkpoint that produced it.
    pub version: CheckpointId,
    /// When its checkpoint completed, ms since the epoch.
    pub created_ms: u64,
    /// The job, checkpoint and generation it came from.
    pub lineage: ModelLineage,
    /// Figures about it by name.
    pub metrics: BTreeMap<String, f64>,
    /// The operator whose checkpointed state holds the parameters (the stage, or
    /// `STAGE/params`).
    pub state_operator: String,
}

impl VersionRecord {
    /// The version as the admin API shows it, with its aliases and the file it was imported
    /// from.
    fn info(self, aliases: Vec<String>, imported: Option<String>) -> ModelVersionInfo {
        ModelVersionInfo {
            stage: self.stage,
            version: self.version,
            created_ms: self.created_ms,
            lineage: self.lineage,
            metrics: self.metrics,
            state_operator: self.state_operator,
            aliases,
            imported,
        }
    }
}

/// An alias as stored: the value under its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct AliasRecord {
    stage: String,
    alias: String,
    version: CheckpointId,
}

/// The registry could not do what was asked; the text says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// sled failed.
    #[error("model registry: {what}: {source}")]
    Sled {
        /// What was being done.
        what: String,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// A stored record cannot be decoded or encoded.
    #[error("model registry: {what}: {source}")]
    Codec {
        /// Which record.
        what: String,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoints(#[from] CheckpointStoreError),
    /// An alias name that is not `[a-z][a-z0-9_-]*`.
    #[error(
        "{alias:?} is not an alias name: use lowercase letters, digits, '_' and '-', starting \
         with a letter (at most 64), e.g. champion or challenger"
    )]
    BadAlias {
        /// The name given.
        alias: String,
    },
    /// No such version is registered.
    #[error(
        "{job} has no version {version} of stage {stage:?} (pruned with its checkpoint, or \
         never registered): see `quiver model list {job}`"
    )]
    NoVersion {
        /// The job.
        job: JobId,
        /// The stage.
        stage: String,
        /// The version asked for.
        version: CheckpointId,
    },
    /// The version asked for to export is not a complete checkpoint of the job.
    #[error(
        "{job} has no version {version} of stage {stage:?}: it is no complete checkpoint of \
         the job (pruned: only the newest checkpoints and aliased versions are kept; or never \
         taken); see `quiver model list {job}` and `quiver checkpoint list {job}`"
    )]
    NoCheckpoint {
        /// The job.
        job: JobId,
        /// The stage.
        stage: String,
        /// The version asked for.
        version: CheckpointId,
    },
    /// A version's stored state cannot be exported; the text says why.
    #[error("model export: {0}")]
    Export(String),
    /// A model cannot be imported; the text says why.
    #[error("model import: {0}")]
    Import(String),
}

fn sled_err(what: impl Fn() -> String) -> impl FnOnce(sled::Error) -> RegistryError {
    move |source| RegistryError::Sled {
        what: what(),
        source,
    }
}

fn codec_err(what: impl Fn() -> String) -> impl FnOnce(CodecError) -> RegistryError {
    move |source| RegistryError::Codec {
        what: what(),
        source,
    }
}

fn job_prefix(job: JobId) -> [u8; 8] {
    job.0.to_be_bytes()
}

fn stage_prefix(job: JobId, stage: &str) -> Vec<u8> {
    let mut key = job_prefix(job).to_vec();
    key.extend_from_slice(&(stage.len() as u32).to_be_bytes());
    key.extend_from_slice(stage.as_bytes());
    key
}

fn version_key(job: JobId, stage: &str, version: CheckpointId) -> Vec<u8> {
    let mut key = stage_prefix(job, stage);
    key.extend_from_slice(&version.0.to_be_bytes());
    key
}

fn alias_key(job: JobId, stage: &str, alias: &str) -> Vec<u8> {
    let mut key = stage_prefix(job, stage);
    key.extend_from_slice(alias.as_bytes());
    key
}

/// The versions (`(stage, version)`) that retention drops: those whose checkpoint is no
/// longer complete and that no alias names.
pub(crate) fn dropped(
    versions: &[(String, CheckpointId)],
    complete: &HashSet<CheckpointId>,
    aliased: &HashSet<(String, CheckpointId)>,
) -> Vec<(String, CheckpointId)> {
    versions
        .iter()
        .filter(|v| !complete.contains(&v.1) && !aliased.contains(*v))
        .cloned()
        .collect()
}

/// The version an alias named before it was moved or removed (`previous`: its old record).
fn previous_version(
    previous: Option<sled::IVec>,
    what: impl Fn() -> String,
) -> Result<Option<CheckpointId>, RegistryError> {
    previous
        .map(|bytes| codec::decode::<AliasRecord>(&bytes).map(|a| a.version))
        .transpose()
        .map_err(codec_err(what))
}

/// Model versions and aliases of every job. Cloning is cheap and clones share everything.
#[derive(Clone)]
pub struct Registry {
    db: sled::Db,
    /// Version key → [`VersionRecord`].
    versions: sled::Tree,
    /// Alias key → [`AliasRecord`].
    aliases: sled::Tree,
    /// Version key → [`ImportRecord`] of an imported version.
    imports: sled::Tree,
    checkpoints: CheckpointStore,
    /// Orders registration, aliasing and pruning.
    lock: Arc<Mutex<()>>,
}

impl Registry {
    /// Opens (or creates) the registry's trees in the coordinator's database; versions
    /// reference checkpoints of `checkpoints`.
    pub fn open(db: &sled::Db, checkpoints: CheckpointStore) -> Result<Registry, RegistryError> {
        let tree = |name: &'static str| {
            db.open_tree(name)
                .map_err(sled_err(|| format!("opening tree {name}")))
        };
        Ok(Registry {
            db: db.clone(),
            versions: tree("model_versions")?,
            aliases: tree("model_aliases")?,
            imports: tree("model_imports")?,
            checkpoints,
            lock: Arc::new(Mutex::new(())),
        })
    }

    fn locked(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn flush(&self) -> Result<(), RegistryError> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(sled_err(|| "flushing".into()))
    }

    /// Registers a version if its checkpoint is still complete (it may have been pruned in
    /// the meantime); registering it again keeps the first record. Returns whether it is
    /// registered.
    pub fn register(&self, job: JobId, record: &VersionRecord) -> Result<bool, RegistryError> {
        let _locked = self.locked();
        if !self.checkpoints.is_complete(job, record.version)? {
            return Ok(false);
        }
        let what = || {
            format!(
                "{job}: registering {} of {:?}",
                record.version, record.stage
            )
        };
        let value = codec::encode(record).map_err(codec_err(what))?;
        let key = version_key(job, &record.stage, record.version);
        // Already registered: the first record stays.
        let _first_stays = self
            .versions
            .compare_and_swap(key, None::<&[u8]>, Some(value))
            .map_err(sled_err(what))?;
        self.flush()?;
        Ok(true)
    }

    /// The stored versions of a job.
    fn records(&self, job: JobId) -> Result<Vec<VersionRecord>, RegistryError> {
        self.versions
            .scan_prefix(job_prefix(job))
            .values()
            .map(|value| {
                let value = value.map_err(sled_err(|| format!("{job}: reading versions")))?;
                codec::decode(&value).map_err(codec_err(|| format!("{job}: a version record")))
            })
            .collect()
    }

    /// The stored aliases of a job.
    fn alias_records(&self, job: JobId) -> Result<Vec<AliasRecord>, RegistryError> {
        self.aliases
            .scan_prefix(job_prefix(job))
            .values()
            .map(|value| {
                let value = value.map_err(sled_err(|| format!("{job}: reading aliases")))?;
                codec::decode(&value).map_err(codec_err(|| format!("{job}: an alias record")))
            })
            .collect()
    }

    /// Every version of every stage of a job with its aliases, by stage then version.
    pub fn versions(&self, job: JobId) -> Result<Vec<ModelVersionInfo>, RegistryError> {
        let mut aliases: BTreeMap<(String, CheckpointId), Vec<String>> = BTreeMap::new();
        for a in self.alias_records(job)? {
            aliases
                .entry((a.stage, a.version))
                .or_default()
                .push(a.alias);
        }
        let mut imported = self.imported_files(job)?;
        let mut out: Vec<ModelVersionInfo> = self
            .records(job)?
            .into_iter()
            .map(|r| {
                let named = aliases.remove(&(r.stage.clone(), r.version));
                let file = imported.remove(&version_key(job, &r.stage, r.version));
                r.info(named.unwrap_or_default(), file)
            })
            .collect();
        out.sort_by(|a, b| (&a.stage, a.version).cmp(&(&b.stage, b.version)));
        Ok(out)
    }

    /// The checkpoints that aliased versions of a job hold on to.
    pub fn pinned(&self, job: JobId) -> Result<Vec<CheckpointId>, RegistryError> {
        let mut pinned: Vec<CheckpointId> = self
            .alias_records(job)?
            .into_iter()
            .map(|a| a.version)
            .collect();
        pinned.sort_unstable();
        pinned.dedup();
        Ok(pinned)
    }

    /// Points `alias` of `stage` at `version`, moving it from the version it named before
    /// (returned): at most one version per (job, stage, alias). The version must be
    /// registered; its checkpoint is then kept by [`Registry::prune`] until the alias moves
    /// or is removed.
    pub fn set_alias(
        &self,
        job: JobId,
        stage: &str,
        alias: &str,
        version: CheckpointId,
    ) -> Result<Option<CheckpointId>, RegistryError> {
        if !is_valid_alias(alias) {
            return Err(RegistryError::BadAlias {
                alias: alias.to_string(),
            });
        }
        let _locked = self.locked();
        let what = || format!("{job}: setting alias {alias:?} of {stage:?}");
        let registered = self
            .versions
            .contains_key(version_key(job, stage, version))
            .map_err(sled_err(what))?;
        let imported = || {
            self.imports
                .contains_key(version_key(job, stage, version))
                .map_err(sled_err(what))
        };
        if !registered || !(self.checkpoints.is_complete(job, version)? || imported()?) {
            return Err(RegistryError::NoVersion {
                job,
                stage: stage.to_string(),
                version,
            });
        }
        let record = AliasRecord {
            stage: stage.to_string(),
            alias: alias.to_string(),
            version,
        };
        let value = codec::encode(&record).map_err(codec_err(what))?;
        let previous = self
            .aliases
            .insert(alias_key(job, stage, alias), value)
            .map_err(sled_err(what))?;
        self.flush()?;
        previous_version(previous, what)
    }

    /// Removes `alias` of `stage`; returns the version it named, if it existed. The
    /// version's checkpoint is no longer pinned: the next [`Registry::prune`] may drop both.
    pub fn remove_alias(
        &self,
        job: JobId,
        stage: &str,
        alias: &str,
    ) -> Result<Option<CheckpointId>, RegistryError> {
        let _locked = self.locked();
        let what = || format!("{job}: removing alias {alias:?} of {stage:?}");
        let previous = self
            .aliases
            .remove(alias_key(job, stage, alias))
            .map_err(sled_err(what))?;
        self.flush()?;
        previous_version(previous, what)
    }

    /// Checkpoint retention with the registry's pins: keeps the newest `keep` complete
    /// checkpoints, every savepoint and every checkpoint an alias or `served` (the versions
    /// a serving table names) names ([`CheckpointStore::retain`]), then drops the versions
    /// whose checkpoint was pruned and that nothing names.
    pub fn prune(
        &self,
        job: JobId,
        keep: usize,
        served: &[(String, CheckpointId)],
    ) -> Result<(), RegistryError> {
        let _locked = self.locked();
        let aliases = self.alias_records(job)?;
        let pinned: Vec<CheckpointId> = aliases
            .iter()
            .map(|a| a.version)
            .chain(served.iter().map(|(_, v)| *v))
            .collect();
        self.checkpoints.retain(job, keep, &pinned)?;
        let complete: HashSet<CheckpointId> = self
            .checkpoints
            .list(job)?
            .into_iter()
            .map(|c| c.checkpoint)
            .collect();
        let aliased: HashSet<(String, CheckpointId)> = aliases
            .into_iter()
            .map(|a| (a.stage, a.version))
            .chain(served.iter().cloned())
            .collect();
        // Imported versions have no checkpoint to lose: they stay.
        let imported = self.imported_files(job)?;
        let versions: Vec<(String, CheckpointId)> = self
            .records(job)?
            .into_iter()
            .filter(|r| !imported.contains_key(&version_key(job, &r.stage, r.version)))
            .map(|r| (r.stage, r.version))
            .collect();
        let doomed = dropped(&versions, &complete, &aliased);
        if doomed.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (stage, version) in &doomed {
            batch.remove(version_key(job, stage, *version));
        }
        self.versions
            .apply_batch(batch)
            .map_err(sled_err(|| format!("{job}: dropping pruned versions")))?;
        tracing::debug!(%job, dropped = doomed.len(), "dropped model versions of pruned checkpoints");
        Ok(())
    }
}

//! The coordinator's durable state in sled: job ids and job records, so `quiver job list`
//! survives a coordinator restart (checkpoint manifests join them with exactly-once).

use crate::jobs::SavedServing;
use quiver_protocol::codec;
use quiver_protocol::messages::JobState;
use quiver_protocol::{Generation, JobId};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id.
    pub job: JobId,
    /// `job.name`.
    pub name: String,
    /// The spec text as submitted.
    pub spec_toml: String,
    /// The folder its relative paths resolve against.
    pub base_dir: PathBuf,
    /// Its lifecycle state.
    pub state: JobState,
    /// Its generation.
    pub generation: Generation,
    /// Why it failed.
    pub error: Option<String>,
    /// The id its next checkpoint gets (ids never repeat within a job).
    pub next_checkpoint: u64,
    /// The job whose savepoint it started from (its state lives under that job).
    pub restore_job: Option<JobId>,
    /// Names this run's output files: unique per submission, inherited from a savepoint's job.
    pub lineage: u64,
    /// This job's own id in output folders it owns: unique per submission.
    pub run: u64,
}

/// The store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed.
    #[error("coordinator store at {path}: {source}")]
    Sled {
        /// The data directory.
        path: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// Another coordinator holds the data directory.
    #[error(
        "the data directory {path} is in use by another coordinator: stop it, or give this one \
         its own --data-dir"
    )]
    InUse {
        /// The data directory.
        path: PathBuf,
    },
    /// The checkpoint store could not be opened.
    #[error("checkpoint store: {0}")]
    Checkpoints(String),
    /// A stored record could not be decoded.
    #[error("coordinator store: corrupt record: {0}")]
    Corrupt(#[from] codec::CodecError),
}

/// Where the coordinator's decisions keep job records and what their learners served:
/// [`Store`] (sled) in a process; tests put faults between the decisions and the disk.
pub(crate) trait JobStore: Send {
    /// A job id never handed out before by this store.
    fn next_job_id(&self) -> Result<JobId, StoreError>;
    /// Writes a job record durably.
    fn save_job(&self, record: &JobRecord) -> Result<(), StoreError>;
    /// Writes what a job's learners served when (flushed with the next checkpoint's
    /// manifest, which is what a restore reads it for).
    fn save_serving(&self, job: JobId, saved: &SavedServing) -> Result<(), StoreError>;
    /// What `save_serving` wrote for a job last, if anything.
    fn serving(&self, job: JobId) -> Result<Option<SavedServing>, StoreError>;
    /// Every stored job, by id.
    fn jobs(&self) -> Result<Vec<JobRecord>, StoreError>;
}

/// Durable coordinator state.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    jobs: sled::Tree,
    /// Per job, what its learners served when (`jobs::serving`), so a restarted coordinator
    /// recovers a job serving what its restored checkpoint served.
    serving: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.to_path_buf();
        let err = |source| StoreError::Sled {
            path: path.clone(),
            source,
        };
        let db = sled::open(dir.join("coordinator.sled")).map_err(|e| match e {
            // sled reports a held lock as an I/O error carrying this text.
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::InUse { path: path.clone() }
            }
            other => err(other),
        })?;
        let jobs = db.open_tree("jobs").map_err(err)?;
        let serving = db.open_tree("serving").map_err(err)?;
        Ok(Store {
            path,
            db,
            jobs,
            serving,
        })
    }

    fn err(&self, source: sled::Error) -> StoreError {
        StoreError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// The underlying database, for other stores that keep their trees in it (checkpoints).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl JobStore for Store {
    fn next_job_id(&self) -> Result<JobId, StoreError> {
        Ok(JobId(self.db.generate_id().map_err(|e| self.err(e))? + 1))
    }

    fn save_job(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = codec::encode(record)?;
        self.jobs
            .insert(record.job.0.to_be_bytes(), bytes)
            .map_err(|e| self.err(e))?;
        self.jobs.flush().map_err(|e| self.err(e))?;
        Ok(())
    }

    fn save_serving(&self, job: JobId, saved: &SavedServing) -> Result<(), StoreError> {
        let bytes = codec::encode(saved)?;
        self.serving
            .insert(job.0.to_be_bytes(), bytes)
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn serving(&self, job: JobId) -> Result<Option<SavedServing>, StoreError> {
        let Some(bytes) = self
            .serving
            .get(job.0.to_be_bytes())
            .map_err(|e| self.err(e))?
        else {
            return Ok(None);
        };
        Ok(Some(codec::decode(&bytes)?))
    }

    fn jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.jobs
            .iter()
            .map(|item| {
                let (_, bytes) = item.map_err(|e| self.err(e))?;
                Ok(codec::decode(&bytes)?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_ids_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let store = Store::open(dir.path()).unwrap();
            let job = store.next_job_id().unwrap();
            store
                .save_job(&JobRecord {
                    job,
                    name: "j".into(),
                    spec_toml: "[job]".into(),
                    base_dir: "/".into(),
                    state: JobState::Running,
                    generation: Generation(1),
                    error: None,
                    next_checkpoint: 1,
                    restore_job: None,
                    lineage: 7,
                    run: 8,
                })
                .unwrap();
            job
        };
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.jobs().unwrap()[0].job, first);
        assert!(store.next_job_id().unwrap() > first);
    }
}

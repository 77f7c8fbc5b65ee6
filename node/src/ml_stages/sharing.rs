//! A learner partition as a parameter-server worker (`crate::parameters`): it learns on a
//! working copy, pushes the change since its last push at every barrier (before the
//! barrier, so shard state at checkpoint `n` holds exactly the updates of the records before
//! barrier `n`), and there adopts the newest version every shard has published.
//!
//! Adopting, the working copy becomes that version plus the change just pushed (which no
//! version holds yet); the worker's updates of the epoch before may be missing from both
//! for a moment when the shards lag a full epoch, which is the staleness asynchronous
//! parameter servers accept. A single worker never adopts values: its own model is the
//! whole model (it reads only the version number).

use super::columns::data_error;
use crate::operator::{OperatorError, Wait};
use crate::parameters::WorkerLink;
use quiver_ml::{OnlineModel, SharedParameters};
use quiver_protocol::batch::{Batch, Column};

/// The version a learner partition scores rows with: the version a worker (`sharing`)
/// adopted, else its own model's (0 before the model exists).
pub(super) fn scoring_version<M: OnlineModel>(sharing: Option<&Sharing>, model: Option<&M>) -> u64 {
    match (sharing, model) {
        (Some(sharing), _) => sharing.version(),
        (None, model) => model.map_or(0, |m| m.version().0),
    }
}

/// The records of a push (`ParameterPlan::change_schema`): per parameter its index, its
/// change and whether the shards average it (1) or sum it (0); the three of equal length.
pub(super) fn change_batch(keys: Vec<i64>, changes: Vec<f64>, averaged: Vec<i64>) -> Batch {
    let n = keys.len();
    let columns = vec![
        Column::i64(keys),
        Column::f64(changes),
        Column::i64(averaged),
    ];
    // Three columns of equal length always make a batch.
    Batch::try_new(vec![0; n], columns).unwrap_or_else(|_| unreachable!())
}

/// A learner partition's side of its parameter servers.
pub(super) struct Sharing {
    stage: String,
    link: WorkerLink,
    /// The parameters the next change is measured from (`None` before the model exists).
    base: Option<Vec<f64>>,
    /// Scratch for the current parameters.
    current: Vec<f64>,
    /// The version adopted.
    version: u64,
    /// The board's count of shard versions when last read.
    seen: u64,
}

impl Sharing {
    /// The worker side of learner `stage`.
    pub(super) fn new(stage: &str, link: WorkerLink) -> Self {
        Sharing {
            stage: stage.to_string(),
            link,
            base: None,
            current: Vec::new(),
            version: 0,
            seen: 0,
        }
    }

    /// The learner stage.
    pub(super) fn stage(&self) -> &str {
        &self.stage
    }

    /// How it reaches its parameter servers and serving tables.
    pub(super) fn link(&self) -> &WorkerLink {
        &self.link
    }

    /// The version rows are scored with.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Until every shard has published its first version: what the task awaits.
    pub(super) fn ready(&self) -> Option<Wait> {
        (!self.link.board.is_ready()).then(|| self.link.board.wait_ready())
    }

    /// A model was created for the first rows: it starts from the merged version. Before
    /// the shards hold any value it keeps its initial state (k-means' random centroids) and
    /// measures its first change from 0, the value of a parameter the shards never received,
    /// so the first push carries the whole model.
    pub(super) fn start(&mut self, model: &mut impl SharedParameters) -> Result<(), OperatorError> {
        match self.link.board.latest() {
            Some(version) if !version.values.is_empty() => {
                let values = self.fit(version.values, model)?;
                model
                    .read_parameters(&values)
                    .map_err(|e| data_error(&self.stage, e))?;
                (self.version, self.seen) = (version.version.max(0) as u64, version.seen);
                self.base = Some(values);
            }
            latest => {
                if let Some(version) = latest {
                    (self.version, self.seen) = (version.version.max(0) as u64, version.seen);
                }
                self.seed(model);
            }
        }
        Ok(())
    }

    /// A model whose parameters the shards do not hold (a fresh one, or one restored from
    /// state saved before the stage had parameter servers): all of it is pushed at the first
    /// barrier.
    pub(super) fn seed(&mut self, model: &impl SharedParameters) {
        self.base = Some(vec![0.0; model.parameter_len()]);
    }

    /// `values` of a version as long as `model`'s vector (parameters never written are 0).
    fn fit(
        &self,
        mut values: Vec<f64>,
        model: &impl SharedParameters,
    ) -> Result<Vec<f64>, OperatorError> {
        let len = model.parameter_len();
        if values.len() > len {
            return Err(OperatorError::Config(format!(
                "stage \"{}\": its parameter servers hold {} parameters, a model for these rows \
                 has {len}: the rows' feature dimension changed; give the stage a new name to \
                 start a new model",
                self.stage,
                values.len()
            )));
        }
        values.resize(len, 0.0);
        Ok(values)
    }

    /// The change since the last push, as records for the shards; the next change is
    /// measured from now.
    pub(super) fn push(&mut self, model: &impl SharedParameters) -> Batch {
        model.write_parameters(&mut self.current);
        let base = self.base.get_or_insert_with(Vec::new);
        base.resize(self.current.len(), 0.0);
        let (mut keys, mut changes, mut averaged) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (now, before)) in self.current.iter().zip(base.iter()).enumerate() {
            if now != before {
                keys.push(i as i64);
                changes.push(now - before);
                averaged.push(i64::from(model.averaged(i)));
            }
        }
        std::mem::swap(base, &mut self.current);
        change_batch(keys, changes, averaged)
    }

    /// Barrier: pushes the change, then adopts the newest complete version (its number
    /// only, for a single worker).
    pub(super) fn push_then_adopt(
        &mut self,
        model: &mut impl SharedParameters,
    ) -> Result<Batch, OperatorError> {
        let pushed = self.push(model);
        let Some(version) = self.link.board.newer_than(self.seen) else {
            return Ok(pushed);
        };
        (self.version, self.seen) = (version.version.max(0) as u64, version.seen);
        if self.link.workers > 1 {
            let mut values = self.fit(version.values, model)?;
            let columns = pushed.columns();
            if let (Some(keys), Some(changes)) = (columns[0].as_i64(), columns[1].as_f64()) {
                for (&k, &change) in keys.iter().zip(changes) {
                    values[k as usize] += change;
                }
            }
            model
                .read_parameters(&values)
                .map_err(|e| data_error(&self.stage, e))?;
            self.base = Some(values);
        }
        Ok(pushed)
    }
}

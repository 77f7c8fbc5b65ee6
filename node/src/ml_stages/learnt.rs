//! A learner partition's model (design §6, "Parameter servers, versions and swaps"): its
//! working copy, created at the first row with that row's dimension and trained alone or as
//! a worker of parameter servers ([`Sharing`]), and what a worker serves ([`Served`]): the
//! working copy or registered versions, each built as the stage's model reading the
//! version's vector. The supervised learners ([`super::learner`]) and `kmeans` score and
//! learn through it; what a row's prediction and loss are is theirs.

use super::columns::data_error;
use super::learner::MakeModel;
use super::served::{Scorer, Served};
use super::sharing::{scoring_version, Sharing};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::{OnlineModel, Persist, SharedParameters};
use quiver_protocol::batch::Batch;
use quiver_protocol::models::ServedVersion;
use quiver_protocol::Barrier;

/// A partition's model: created at the first row with features, and trained through
/// parameter servers or on its own.
pub(super) struct Learnt<L> {
    make: MakeModel<L>,
    model: Option<L>,
    /// Training through parameter servers (`None`: the partition owns its model).
    sharing: Option<Sharing>,
    /// What a worker of parameter servers serves.
    served: Option<Served<L>>,
    /// The rows' feature dimension, once a row came.
    dim: Option<usize>,
}

/// What scores a record: the working copy (which learns it either way), or a registered
/// version instead.
pub(super) struct Scorers<'a, L> {
    /// The working copy.
    pub(super) working: &'a mut L,
    /// The version the working copy scores with.
    pub(super) version: u64,
    /// The registered version that scores the record instead, and its model.
    pub(super) served: Option<(u64, &'a L)>,
}

impl<L> Learnt<L> {
    /// What a worker serves (`None`: a partition that owns its model).
    pub(super) fn served_mut(&mut self) -> Option<&mut Served<L>> {
        self.served.as_mut()
    }
}

impl<L: OnlineModel + SharedParameters + Persist> Learnt<L> {
    /// A model made by `make` when the first row comes, trained through `sharing` when set.
    pub(super) fn new(make: MakeModel<L>, sharing: Option<Sharing>) -> Self {
        let served = sharing
            .as_ref()
            .map(|s| Served::of_worker(s.stage(), s.link()));
        Learnt {
            make,
            model: None,
            sharing,
            served,
            dim: None,
        }
    }

    /// The working copy, created for rows of dimension `dim` (from the parameter servers'
    /// version when the partition is a worker).
    fn working(&mut self, stage: &str, dim: usize) -> Result<&mut L, OperatorError> {
        if self.model.is_none() {
            let mut model = (self.make)(dim).map_err(|e| data_error(stage, e))?;
            if let Some(sharing) = &mut self.sharing {
                sharing.start(&mut model)?;
            }
            self.model = Some(model);
            self.dim = Some(dim);
        }
        self.model
            .as_mut()
            .ok_or_else(|| data_error(stage, "the model was not created"))
    }

    /// Who scores a record of dimension `dim` in `bucket` (of the serving split, if any):
    /// the working copy, created at the first record, or a registered version.
    pub(super) fn scorers(
        &mut self,
        stage: &str,
        dim: usize,
        bucket: Option<u32>,
    ) -> Result<Scorers<'_, L>, OperatorError> {
        self.working(stage, dim)?;
        let version = self.version();
        let scorer = (self.served.as_ref()).map_or(Scorer::Working, |s| s.scorer(bucket));
        let Learnt {
            make,
            model,
            served,
            ..
        } = self;
        let working = model
            .as_mut()
            .ok_or_else(|| data_error(stage, "the model was not created"))?;
        let served = match (scorer, served) {
            (Scorer::Version(v), Some(served)) => {
                Some((v, served.model_with(v, |s| s.learner(dim, make))?))
            }
            _ => None,
        };
        Ok(Scorers {
            working,
            version,
            served,
        })
    }

    /// The version rows are scored with: the adopted version of a worker, else the model's.
    pub(super) fn version(&self) -> u64 {
        scoring_version(self.sharing.as_ref(), self.model.as_ref())
    }

    /// Updates the model refused.
    pub(super) fn refused_updates(&self) -> u64 {
        self.model.as_ref().map_or(0, |m| m.refused_updates().0)
    }

    /// The partition's state: none for a worker (the parameters are the shards' state).
    pub(super) fn snapshot(
        &self,
        state: &PartitionState,
    ) -> Result<Vec<KeyGroupState>, OperatorError> {
        if self.sharing.is_some() {
            return Ok(Vec::new());
        }
        state.save_model(self.model.as_ref())
    }

    /// Restores the partition's model, if `states` hold one.
    pub(super) fn restore(
        &mut self,
        state: &PartitionState,
        states: SavedState,
    ) -> Result<(), OperatorError> {
        if let Some(model) = state.restore_model::<L>(states)? {
            if let Some(sharing) = &mut self.sharing {
                // A model saved before the stage had parameter servers.
                sharing.seed(&model);
            }
            self.model = Some(model);
        }
        Ok(())
    }

    /// Until every shard has published its first version: what the task awaits.
    pub(super) fn ready(&self) -> Option<Wait> {
        self.sharing.as_ref()?.ready()
    }

    /// A barrier: a worker pushes its change and adopts the newest version, then switches
    /// to the serving table the barrier carries and warms each version it builds for it
    /// with `warmup` predictions (`run` on a dense row of zeros, which reads every weight).
    pub(super) fn on_barrier(
        &mut self,
        barrier: &Barrier,
        run: impl Fn(&L, &[f64]),
    ) -> Result<Option<Batch>, OperatorError> {
        let pushed = match (&mut self.sharing, &mut self.model) {
            (Some(sharing), Some(model)) => Some(sharing.push_then_adopt(model)?),
            _ => None,
        };
        let Learnt {
            served, make, dim, ..
        } = self;
        if let Some(served) = served {
            served.switch(barrier.serving)?;
            if let Some(dim) = *dim {
                let zeros = vec![0.0; dim];
                served.warm_with(|s| s.learner(dim, make), |model| run(model, &zeros))?;
            }
        }
        Ok(pushed)
    }

    /// What the partition scored per version.
    pub(super) fn served(&self) -> Vec<ServedVersion> {
        let working = self.version();
        (self.served.as_ref()).map_or_else(Vec::new, |s| s.report(working))
    }

    /// The end of the input: a worker pushes its last change.
    pub(super) fn on_end(&mut self) -> Option<Batch> {
        match (&mut self.sharing, &self.model) {
            (Some(sharing), Some(model)) => Some(sharing.push(model)),
            _ => None,
        }
    }
}

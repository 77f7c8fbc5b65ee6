//! The operator of a supervised online learner (`logistic_regression`, `linear_regression`):
//! per row, predict with the current model, then learn from the row's label (progressive
//! validation), and add `prediction` (+ `probability`) and `model_version`.
//!
//! With parameter servers (`crate::parameters`) the partition is a worker: its model is a
//! working copy, it pushes its change at every barrier and adopts the newest merged
//! version there ([`Sharing`]); `model_version` is then the version adopted (the checkpoint
//! that closed it), and the partition keeps no state of its own.

use super::columns::{data_error, refused, row_error, version_i64, InputColumn};
use super::features::FeatureReader;
use super::sharing::Sharing;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState, Wait};
use quiver_ml::{MlError, OnlineLearner, Persist, Prediction, SharedParameters};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{FeatureInput, StageSpec};
use quiver_protocol::CheckpointId;
use quiver_protocol::Schema;

/// Creates the model for a feature dimension.
pub(super) type MakeModel<L> = Box<dyn Fn(usize) -> Result<L, MlError> + Send>;

/// One partition of a supervised learner stage: one model, created at the first row with
/// features.
pub(super) struct Progressive<L> {
    stage: String,
    features: FeatureReader,
    label: InputColumn,
    /// Also emit `probability` (binary classifiers).
    probability: bool,
    learnt: Learnt<L>,
    state: PartitionState,
}

/// A partition's model: created at the first row with features, and trained through
/// parameter servers or on its own.
pub(super) struct Learnt<L> {
    make: MakeModel<L>,
    model: Option<L>,
    /// Training through parameter servers (`None`: the partition owns its model).
    sharing: Option<Sharing>,
}

impl<L> Progressive<L> {
    /// A partition of the learner stage `stage`, reading `features` and the column `label` from
    /// batches of `input`.
    pub(super) fn new(
        stage: &StageSpec,
        features: &FeatureInput,
        label: &str,
        input: &Schema,
        probability: bool,
        learnt: Learnt<L>,
        state: PartitionState,
    ) -> Result<Self, OperatorError> {
        Ok(Progressive {
            stage: stage.name.clone(),
            features: FeatureReader::new(&stage.name, features, input)?,
            label: InputColumn::find(&stage.name, input, label)?,
            probability,
            learnt,
            state,
        })
    }
}

impl<L> Learnt<L> {
    /// A model made by `make` when the first row comes, trained through `sharing` when set.
    pub(super) fn new(make: MakeModel<L>, sharing: Option<Sharing>) -> Self {
        Learnt {
            make,
            model: None,
            sharing,
        }
    }
}

impl<L: OnlineLearner + SharedParameters> Learnt<L> {
    /// The model, created for rows of dimension `dim` (from the parameter servers' version
    /// when the partition is a worker), and the version it scores with.
    fn model(&mut self, stage: &str, dim: usize) -> Result<(&mut L, u64), OperatorError> {
        if self.model.is_none() {
            let mut model = (self.make)(dim).map_err(|e| data_error(stage, e))?;
            if let Some(sharing) = &mut self.sharing {
                sharing.start(&mut model)?;
            }
            self.model = Some(model);
        }
        let version = self.version();
        let model = self
            .model
            .as_mut()
            .ok_or_else(|| data_error(stage, "the model was not created"))?;
        Ok((model, version))
    }

    /// The version rows are scored with: the adopted version of a worker, else the model's.
    fn version(&self) -> u64 {
        match (&self.sharing, &self.model) {
            (Some(sharing), _) => sharing.version(),
            (None, model) => model.as_ref().map_or(0, |m| m.version().0),
        }
    }
}

impl<L> AddColumns for Progressive<L>
where
    L: OnlineLearner + Persist + SharedParameters + Send + 'static,
{
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        let labels = self.label.numbers(&self.stage, batch)?;
        let mut features = self.features.bind(batch)?;
        let mut predictions = ColumnBuilder::new(ColumnType::F64, n);
        let mut probabilities = self
            .probability
            .then(|| ColumnBuilder::new(ColumnType::F64, n));
        let mut versions = ColumnBuilder::new(ColumnType::I64, n);
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let label = labels.finite(row)?;
            let (prediction, version) = match features.read(row)? {
                None => (None, self.learnt.version()),
                Some(x) => {
                    let (model, version) = self.learnt.model(&self.stage, x.dim())?;
                    let prediction = match label {
                        Some(y) => match model.predict_then_learn(x, y) {
                            // Refused and counted by the model, which is as it was.
                            Err(e) if e.is_refused_update() => model.predict_one(x),
                            scored => scored,
                        },
                        None => model.predict_one(x),
                    }
                    .map_err(|e| row_error(&self.stage, event_time, e))?;
                    (Some(prediction), version)
                }
            };
            let refused = |e| refused(&self.stage, e);
            let probability = match prediction {
                Some(Prediction { value, probability }) => {
                    predictions.push_f64(value).map_err(refused)?;
                    probability
                }
                None => {
                    predictions.push_null();
                    None
                }
            };
            if let Some(probabilities) = &mut probabilities {
                match probability {
                    Some(p) => probabilities.push_f64(p).map_err(refused)?,
                    None => probabilities.push_null(),
                }
            }
            versions.push_i64(version_i64(version)).map_err(refused)?;
        }
        columns.push(predictions.finish());
        columns.extend(probabilities.as_mut().map(ColumnBuilder::finish));
        columns.push(versions.finish());
        Ok(())
    }

    fn refused_updates(&self) -> u64 {
        self.learnt
            .model
            .as_ref()
            .map_or(0, |m| m.refused_updates().0)
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        if self.learnt.sharing.is_some() {
            // The parameters are the shards' state.
            return Ok(Vec::new());
        }
        self.state.save_model(self.learnt.model.as_ref())
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(model) = self.state.restore_model::<L>(states)? {
            if let Some(sharing) = &mut self.learnt.sharing {
                // A model saved before the stage had parameter servers.
                sharing.seed(&model);
            }
            self.learnt.model = Some(model);
        }
        Ok(())
    }

    fn ready(&mut self) -> Option<Wait> {
        self.learnt.sharing.as_ref()?.ready()
    }

    fn on_barrier(&mut self, _checkpoint: CheckpointId) -> Result<Option<Batch>, OperatorError> {
        match (&mut self.learnt.sharing, &mut self.learnt.model) {
            (Some(sharing), Some(model)) => sharing.push_then_adopt(model).map(Some),
            _ => Ok(None),
        }
    }

    fn on_end(&mut self) -> Result<Option<Batch>, OperatorError> {
        match (&mut self.learnt.sharing, &self.learnt.model) {
            (Some(sharing), Some(model)) => Ok(Some(sharing.push(model))),
            _ => Ok(None),
        }
    }
}

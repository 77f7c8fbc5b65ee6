//! The operator of a supervised online learner (`logistic_regression`, `linear_regression`):
//! per row, predict with the current model, then learn from the row's label (progressive
//! validation), and add `prediction` (+ `probability`) and `model_version`.

use super::columns::{data_error, refused, row_error, version_i64, InputColumn};
use super::features::FeatureReader;
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::{MlError, OnlineLearner, Persist, Prediction};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{FeatureInput, StageSpec};
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
    make: MakeModel<L>,
    model: Option<L>,
    state: PartitionState,
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
        make: MakeModel<L>,
        state: PartitionState,
    ) -> Result<Self, OperatorError> {
        Ok(Progressive {
            stage: stage.name.clone(),
            features: FeatureReader::new(&stage.name, features, input)?,
            label: InputColumn::find(&stage.name, input, label)?,
            probability,
            make,
            model: None,
            state,
        })
    }
}

impl<L> AddColumns for Progressive<L>
where
    L: OnlineLearner + Persist + Send + 'static,
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
                None => (None, self.model.as_ref().map_or(0, |m| m.version().0)),
                Some(x) => {
                    let model = match &mut self.model {
                        Some(model) => model,
                        None => self
                            .model
                            .insert((self.make)(x.dim()).map_err(|e| data_error(&self.stage, e))?),
                    };
                    let version = model.version().0;
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
        self.model.as_ref().map_or(0, |m| m.refused_updates().0)
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.state.save_model(self.model.as_ref())
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(model) = self.state.restore_model(states)? {
            self.model = Some(model);
        }
        Ok(())
    }
}

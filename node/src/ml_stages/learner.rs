//! The operator of a supervised online learner (`logistic_regression`, `linear_regression`):
//! per row, predict with the current model, then learn from the row's label (progressive
//! validation), and add `prediction` (+ `probability`) and `model_version`.

use super::features::{data_error, row_error, FeatureReader, InputColumn};
use super::rows::{RowOperator, RowOutput};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::{MlError, OnlineLearner, Persist, Prediction};
use quiver_protocol::spec::{FeatureInput, StageSpec};
use quiver_protocol::{Batch, Schema, Value};

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
    /// rows of `input`.
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

/// A model version as the i64 `model_version` column.
pub(super) fn version_value(version: u64) -> Value {
    Value::I64(i64::try_from(version).unwrap_or(i64::MAX))
}

/// Moves `batch` into the output records.
pub(super) fn emit(batch: Batch, out: &mut RowOutput) {
    if out.records.is_empty() {
        out.records = batch;
    } else {
        out.records.extend(batch);
    }
}

impl<L> RowOperator for Progressive<L>
where
    L: OnlineLearner + Persist + Send + 'static,
{
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let label = self.label.number(&self.stage, &record.row)?;
            let (prediction, version) = match self.features.read(&record.row)? {
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
                        Some(y) => model.predict_then_learn(x, y),
                        None => model.predict_one(x),
                    }
                    .map_err(|e| row_error(&self.stage, record.event_time, e))?;
                    (Some(prediction), version)
                }
            };
            let row = &mut record.row;
            row.reserve(2 + usize::from(self.probability));
            match prediction {
                Some(Prediction { value, probability }) => {
                    row.push(Value::F64(value));
                    if self.probability {
                        row.push(probability.map_or(Value::Null, Value::F64));
                    }
                }
                None => {
                    row.push(Value::Null);
                    if self.probability {
                        row.push(Value::Null);
                    }
                }
            }
            row.push(version_value(version));
        }
        emit(batch, out);
        Ok(())
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

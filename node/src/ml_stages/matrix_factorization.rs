//! `kind = "matrix_factorization"`: online matrix factorisation of `(user, item, rating)`
//! (`quiver_ml::recommendation::MatrixFactorization`, River's `reco` models). Each row is
//! predicted with the current model, then learnt from (a null rating: predict only); adds
//! `prediction` and `model_version`. Ids are i64 (used as their 64-bit pattern) or strings
//! (their 64-bit FNV-1a hash of the UTF-8 bytes); a null id gives a null prediction.

use super::features::{data_error, row_error, InputColumn};
use super::learner::{emit, version_value};
use super::rows::{RowOperator, RowOutput};
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::recommendation::{MatrixFactorization, MfKind, MfParams};
use quiver_ml::OnlineModel;
use quiver_protocol::spec::{MatrixFactorizationStage, MfModel, StageSpec};
use quiver_protocol::{Batch, Schema, Value};

/// One partition of a matrix factorisation stage.
struct MfOperator {
    stage: String,
    user: InputColumn,
    item: InputColumn,
    rating: InputColumn,
    model: MatrixFactorization,
    state: PartitionState,
}

/// The library parameters of a stage.
fn params(spec: &MatrixFactorizationStage) -> MfParams {
    MfParams {
        kind: match spec.model {
            MfModel::Baseline => MfKind::Baseline,
            MfModel::BiasedMf => MfKind::BiasedMf,
            MfModel::FunkMf => MfKind::FunkMf,
        },
        n_factors: usize::try_from(spec.n_factors).unwrap_or(usize::MAX),
        bias_learning_rate: spec.bias_learning_rate,
        latent_learning_rate: spec.latent_learning_rate,
        l2_bias: spec.l2_bias,
        l2_latent: spec.l2_latent,
        init_std: spec.init_std,
        clip_gradient: spec.clip_gradient,
        seed: spec.seed,
    }
}

/// Builds one partition.
pub(super) fn build(
    stage: &StageSpec,
    spec: &MatrixFactorizationStage,
    input: &Schema,
    state: PartitionState,
) -> Result<Box<dyn RowOperator>, OperatorError> {
    let model = MatrixFactorization::new(params(spec)).map_err(|e| data_error(&stage.name, e))?;
    Ok(Box::new(MfOperator {
        stage: stage.name.clone(),
        user: InputColumn::find(&stage.name, input, &spec.user)?,
        item: InputColumn::find(&stage.name, input, &spec.item)?,
        rating: InputColumn::find(&stage.name, input, &spec.rating)?,
        model,
        state,
    }))
}

/// The 64-bit FNV-1a hash of `bytes`.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl MfOperator {
    /// The id in `column` of `row`; `None` when null.
    fn id(&self, column: &InputColumn, row: &[Value]) -> Result<Option<u64>, OperatorError> {
        match column.of(row) {
            Value::Null => Ok(None),
            Value::I64(id) => Ok(Some(*id as u64)),
            Value::Str(id) => Ok(Some(fnv1a_64(id.as_bytes()))),
            other => Err(column.unexpected(&self.stage, other, "an i64 or string id")),
        }
    }
}

impl RowOperator for MfOperator {
    fn process_batch(
        &mut self,
        mut batch: Batch,
        out: &mut RowOutput,
    ) -> Result<(), OperatorError> {
        for record in &mut batch {
            let version = self.model.version().0;
            let user = self.id(&self.user, &record.row)?;
            let item = self.id(&self.item, &record.row)?;
            let rating = self.rating.number(&self.stage, &record.row)?;
            let prediction = match (user, item) {
                (Some(user), Some(item)) => {
                    let prediction = self.model.predict_one(user, item);
                    if let Some(rating) = rating {
                        self.model
                            .learn_one(user, item, rating)
                            .map_err(|e| row_error(&self.stage, record.event_time, e))?;
                    }
                    Value::F64(prediction)
                }
                _ => Value::Null,
            };
            record.row.reserve(2);
            record.row.push(prediction);
            record.row.push(version_value(version));
        }
        emit(batch, out);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.state.save_model(Some(&self.model))
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        if let Some(model) = self.state.restore_model(states)? {
            self.model = model;
        }
        Ok(())
    }
}

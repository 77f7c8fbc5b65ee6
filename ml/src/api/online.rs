//! Online learning: models updated one example (or one mini-batch) at a time.
//!
//! [`OnlineModel`] is what every online model has, whatever its inputs (vector
//! learners, clustering, matrix factorisation): a version that moves on every update
//! and a snapshot / restore of its full state for checkpoints. [`OnlineLearner`] adds
//! the supervised per-record calls over [`Features`].

use crate::api::MlError;
use crate::vector::Features;
use serde::{Deserialize, Serialize};

/// A model version: starts at 0 and moves by one on every update of the parameters.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ModelVersion(pub u64);

impl ModelVersion {
    /// The next version.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

/// How many updates a model refused because a parameter or statistic would have left the
/// finite range or ±[`crate::MAX_PARAMETER`] ([`MlError::Diverged`] / [`MlError::Overflow`]):
/// a diverging learner refuses each such update and counts it, so divergence is never
/// silent. Counted since the model was built or restored (not part of its snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RefusedUpdates(pub u64);

/// The refusal count a model keeps. It is not model state: it is left out of snapshots, and
/// models compare equal whatever their counts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RefusalCounter(u64);

impl PartialEq for RefusalCounter {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl RefusalCounter {
    /// Passes `result` through, counting it when it is a refused update.
    pub(crate) fn note<T>(&mut self, result: Result<T, MlError>) -> Result<T, MlError> {
        if matches!(&result, Err(e) if e.is_refused_update()) {
            self.0 += 1;
        }
        result
    }

    /// The count.
    pub(crate) fn get(self) -> RefusedUpdates {
        RefusedUpdates(self.0)
    }
}

/// The output of a supervised model for one example.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// The predicted value: the regression output, or the class (0.0 / 1.0) for a classifier.
    pub value: f64,
    /// For a binary classifier, the probability of class 1.
    pub probability: Option<f64>,
}

/// State every online model shares: a version and a checkpointable snapshot.
pub trait OnlineModel {
    /// The current model version; moves on every parameter update.
    fn version(&self) -> ModelVersion;

    /// The updates refused since the model was built or restored (see [`RefusedUpdates`]).
    fn refused_updates(&self) -> RefusedUpdates;

    /// The full state (parameters, optimiser accumulators, pending mini-batch, version).
    fn snapshot(&self) -> Result<Vec<u8>, MlError>;

    /// Replaces the full state with a snapshot taken by [`OnlineModel::snapshot`] of the
    /// same kind of model. On error the state is unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), MlError>;
}

/// Implements [`OnlineModel`] for a [`crate::Persist`] type with a `version:
/// ModelVersion` field and a `#[serde(skip)] refused: RefusalCounter` field: the snapshot
/// is [`crate::Persist::to_snapshot`], and restore replaces the whole value with
/// [`crate::Persist::from_snapshot`] (so a failed restore leaves the state unchanged).
macro_rules! online_model_via_persist {
    ($model:ty) => {
        impl $crate::api::OnlineModel for $model {
            fn version(&self) -> $crate::api::ModelVersion {
                self.version
            }

            fn refused_updates(&self) -> $crate::api::RefusedUpdates {
                self.refused.get()
            }

            fn snapshot(&self) -> Result<Vec<u8>, $crate::api::MlError> {
                Ok($crate::persist::Persist::to_snapshot(self)?)
            }

            fn restore(&mut self, snapshot: &[u8]) -> Result<(), $crate::api::MlError> {
                *self = <Self as $crate::persist::Persist>::from_snapshot(snapshot)?;
                Ok(())
            }
        }
    };
}
pub(crate) use online_model_via_persist;

/// A supervised online learner over feature vectors (dense or sparse).
///
/// The streaming runtime calls `predict_one` then `learn_one` for each record
/// (progressive validation).
pub trait OnlineLearner: OnlineModel {
    /// Learns from one example with label `y`.
    fn learn_one(&mut self, x: Features<'_>, y: f64) -> Result<(), MlError>;

    /// Learns from examples in order; the same result as `learn_one` on each.
    fn learn_many(&mut self, xs: &[Features<'_>], ys: &[f64]) -> Result<(), MlError> {
        if xs.len() != ys.len() {
            return Err(MlError::Length {
                what: "learn_many features and labels",
                left: xs.len(),
                right: ys.len(),
            });
        }
        xs.iter()
            .zip(ys)
            .try_for_each(|(x, &y)| self.learn_one(*x, y))
    }

    /// Predicts one example with the current parameters.
    fn predict_one(&self, x: Features<'_>) -> Result<Prediction, MlError>;

    /// Progressive validation of one example: the prediction of the current model, then
    /// learning from the example. Learners may override it to share work between both.
    fn predict_then_learn(&mut self, x: Features<'_>, y: f64) -> Result<Prediction, MlError> {
        let prediction = self.predict_one(x)?;
        self.learn_one(x, y)?;
        Ok(prediction)
    }

    /// Predicts examples with the current parameters.
    fn predict_many(&self, xs: &[Features<'_>]) -> Result<Vec<Prediction>, MlError> {
        xs.iter().map(|x| self.predict_one(*x)).collect()
    }
}

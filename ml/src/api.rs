//! The Pipeline API: [`Transformer`], [`Estimator`], [`Model`], [`Pipeline`] →
//! [`PipelineModel`] over [`Frame`]s, and the online-learning traits
//! [`OnlineModel`] / [`OnlineLearner`] the streaming runtime calls per record.

mod error;
mod frame;
mod online;
mod pipeline;
mod rows;
mod shared;

pub use error::MlError;
pub use frame::{Column, Frame};
pub(crate) use online::{online_model_via_persist, RefusalCounter};
pub use online::{ModelVersion, OnlineLearner, OnlineModel, Prediction, RefusedUpdates};
pub use pipeline::{DynEstimator, Pipeline, PipelineModel, PipelineStage};
pub use rows::Cell;
pub(crate) use shared::check_parameters;
pub use shared::SharedParameters;

use crate::persist::{Persist, PersistError, StoredModel};

/// A stage that maps a frame to a frame with its output columns added.
pub trait Transformer: Send + Sync {
    /// Transforms a batch of rows; the input is not changed.
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError>;
}

/// A stage that learns from a frame and returns a fitted [`Model`].
pub trait Estimator {
    /// The fitted model.
    type Model: Model + 'static;

    /// Fits on a batch of rows.
    fn fit(&self, frame: &Frame) -> Result<Self::Model, MlError>;
}

/// A fitted (or parameter-only) transformer that can be saved.
///
/// Every type that is [`Transformer`] + [`Persist`] is a `Model`.
pub trait Model: Transformer {
    /// The kind written in the saved header.
    fn kind(&self) -> &'static str;

    /// The saved form (header + fields).
    fn to_stored(&self) -> Result<StoredModel, PersistError>;
}

impl<T: Transformer + Persist> Model for T {
    fn kind(&self) -> &'static str {
        T::KIND
    }

    fn to_stored(&self) -> Result<StoredModel, PersistError> {
        Persist::to_stored(self)
    }
}

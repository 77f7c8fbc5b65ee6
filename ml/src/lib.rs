//! Pure machine learning for Quiver: the Pipeline API ([`Transformer`], [`Estimator`],
//! [`Model`], [`Pipeline`]), online learners ([`OnlineLearner`]), feature stages,
//! linear learners, clustering, recommendation, evaluation and drift detection.
//! No I/O (except save / load to a caller's reader or writer), no async.

pub mod api;
pub mod clustering;
pub mod drift;
pub mod evaluation;
pub mod feature;
pub mod finite;
pub mod linear;
pub mod params;
pub mod persist;
pub mod recommendation;
pub mod vector;

pub use api::{
    Cell, Column, Estimator, Frame, MlError, Model, ModelVersion, OnlineLearner, OnlineModel,
    Pipeline, PipelineModel, Prediction, RefusedUpdates, SharedParameters, Transformer,
};
pub use finite::{NonFinite, MAX_PARAMETER};
pub use params::ParamError;
pub use persist::{Persist, PersistError};
pub use vector::{Features, SparseVector, SparseView, Vector};

//! The library's error type.

use crate::finite::{NonFinite, MAX_PARAMETER};
use crate::params::ParamError;
use crate::persist::PersistError;
use thiserror::Error;

/// What went wrong in a fit, transform, learn or predict call.
#[derive(Debug, Error)]
pub enum MlError {
    /// A parameter is outside its allowed range.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Saving or loading a model failed.
    #[error(transparent)]
    Persist(#[from] PersistError),
    /// A column the stage reads is not in the frame.
    #[error("column `{name}` not found; the frame has {available:?}")]
    MissingColumn {
        /// The missing column.
        name: String,
        /// The columns the frame has.
        available: Vec<String>,
    },
    /// A column has another type than the stage needs.
    #[error("column `{name}` has type {found}, expected {expected}")]
    ColumnType {
        /// The column.
        name: String,
        /// What the stage needs.
        expected: &'static str,
        /// What the column holds.
        found: &'static str,
    },
    /// A column's length differs from the frame's number of rows.
    #[error("column `{name}` has {found} rows, the frame has {expected}")]
    ColumnLength {
        /// The column.
        name: String,
        /// The frame's number of rows.
        expected: usize,
        /// The column's number of rows.
        found: usize,
    },
    /// A feature vector has another dimension than the model was built for.
    #[error("feature vector has dimension {found}, the model expects {expected}")]
    Dimension {
        /// The model's dimension.
        expected: usize,
        /// The vector's dimension.
        found: usize,
    },
    /// A sparse vector breaks its layout: indices not strictly increasing or not below its
    /// dimension, or not one value per index.
    #[error("sparse vector of dimension {dim} is malformed: {reason}")]
    Sparse {
        /// The vector's dimension.
        dim: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An index names nothing: `what` `index` where there are `len`.
    #[error("{what} {index} is out of range: there are {len}")]
    Index {
        /// What the index names, e.g. `feature`.
        what: &'static str,
        /// The index.
        index: usize,
        /// How many there are.
        len: usize,
    },
    /// Two inputs that must have equal lengths do not.
    #[error("{what}: lengths differ ({left} vs {right})")]
    Length {
        /// Which inputs.
        what: &'static str,
        /// The first length.
        left: usize,
        /// The second length.
        right: usize,
    },
    /// A fit got no rows.
    #[error("cannot fit {stage} on an empty input")]
    Empty {
        /// The stage being fitted.
        stage: &'static str,
    },
    /// A label is outside what the learner accepts.
    #[error("label {value} is invalid: allowed {allowed}")]
    Label {
        /// The label.
        value: f64,
        /// What labels are allowed.
        allowed: &'static str,
    },
    /// A value was not seen during fit and the stage is set to reject such values.
    #[error("column `{column}`: value {value:?} was not seen during fit (set handle_invalid to \"keep\" or \"skip\" to accept it)")]
    UnseenValue {
        /// The column.
        column: String,
        /// The value, printed.
        value: String,
    },
    /// A value is not usable: outside the stage's domain (for the batch evaluator, also NaN
    /// or infinite), or every value of a column missing.
    #[error("column `{column}`: invalid value {value}: {reason}")]
    InvalidValue {
        /// The column.
        column: String,
        /// The value, printed.
        value: String,
        /// What is allowed.
        reason: &'static str,
    },
    /// An input is NaN or infinite (see [`crate::finite`]).
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
    /// A learner's parameter would leave the finite range or ±[`MAX_PARAMETER`]: its steps
    /// grow instead of shrinking. The fit returns no model, the update is not applied.
    #[error("{stage} diverged: {quantity} would be {value} (learnt parameters must be finite and within ±{max:e}); lower the learning rate, scale the features (e.g. with StandardScaler) or raise the regularisation", max = MAX_PARAMETER)]
    Diverged {
        /// The learner.
        stage: &'static str,
        /// The parameter, e.g. `coefficient 1`.
        quantity: String,
        /// The value it would take.
        value: f64,
    },
    /// A statistic of finite inputs overflows f64 (inputs near 1e154 and beyond, which
    /// cannot be squared, or near 1e308, which cannot be added). Nothing is changed.
    #[error("{stage}: {quantity} overflows to {value}; the inputs are too large for f64 arithmetic: scale them down")]
    Overflow {
        /// The stage.
        stage: &'static str,
        /// The statistic, e.g. `standard deviation of feature 0`.
        quantity: String,
        /// The value it would take.
        value: f64,
    },
}

impl MlError {
    /// An update the model refused because a parameter or statistic would have left the
    /// finite range or ±[`crate::MAX_PARAMETER`] ([`MlError::Diverged`], [`MlError::Overflow`]):
    /// the model is as it was and counted it in [`crate::RefusedUpdates`].
    pub fn is_refused_update(&self) -> bool {
        matches!(self, MlError::Diverged { .. } | MlError::Overflow { .. })
    }
}

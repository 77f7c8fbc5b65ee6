//! Finite numbers at the boundary.
//!
//! Every fit, learn, update, transform and predict checks its numeric inputs with
//! [`check`] (or [`check_all`], built on it) before it changes any state: a NaN or an
//! infinity is rejected with a [`NonFinite`] error naming where it was and what it was,
//! and a rejected sample leaves a model exactly as it was. A frame's missing floats are
//! NaN: the stages made for missing values (`Imputer`, the `handle_invalid` setting of
//! `VectorAssembler` and `Bucketizer`, `FeatureHasher`, which skips them) keep handling
//! them so; infinities are not missing values and every stage rejects them.
//!
//! Results are checked as well. A learnt parameter (coefficient, weight, intercept,
//! bias, latent factor) must be finite and within ±[`MAX_PARAMETER`], else the fit or
//! update fails with [`MlError::Diverged`]; a fitted statistic (a deviation, a range, a
//! bin edge, a mean) must be finite, else it fails with [`MlError::Overflow`].

use crate::api::MlError;
use crate::vector::Vector;
use std::fmt;
use thiserror::Error;

/// The largest magnitude a learnt parameter may reach.
///
/// Models of features and labels up to about 1e6 stay orders of magnitude below it. A
/// learner that reaches it is diverging: its steps grow instead of shrinking (a learning
/// rate too high for the scale of the features), and its parameters would reach infinity
/// and NaN a few steps later.
pub const MAX_PARAMETER: f64 = 1e12;

/// Where a rejected input value was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Position {
    /// Entry `i` of the feature vector of a per-example call.
    Feature(usize),
    /// The value of a named input of a per-example call (a hashed column).
    Column(String),
    /// The label (target, rating) of a per-example call.
    Label,
    /// The sample weight of a per-example call.
    Weight,
    /// The prediction given to a metric.
    Prediction,
    /// The value given to a drift detector.
    Value,
    /// A cell of a frame: row `row` of column `column`, and entry `entry` of a vector cell.
    Cell {
        /// The column.
        column: String,
        /// The row.
        row: usize,
        /// The entry of a vector cell; `None` for a number.
        entry: Option<usize>,
    },
    /// An element of a slice argument: `name[index]`, and `[entry]` of a nested vector.
    Argument {
        /// The argument.
        name: &'static str,
        /// The element.
        index: usize,
        /// The entry of a nested vector (a centroid); `None` for a number.
        entry: Option<usize>,
    },
}

impl Position {
    /// Row `row` of the number column `column` of a frame.
    pub fn cell(column: &str, row: usize) -> Self {
        Position::Cell {
            column: column.to_string(),
            row,
            entry: None,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = |f: &mut fmt::Formatter<'_>, e: &Option<usize>| match e {
            Some(e) => write!(f, " entry {e}"),
            None => Ok(()),
        };
        match self {
            Position::Feature(i) => write!(f, "feature {i}"),
            Position::Column(name) => write!(f, "column `{name}`"),
            Position::Label => f.write_str("the label"),
            Position::Weight => f.write_str("the weight"),
            Position::Prediction => f.write_str("the prediction"),
            Position::Value => f.write_str("the value"),
            Position::Cell {
                column,
                row,
                entry: e,
            } => {
                write!(f, "column `{column}` row {row}")?;
                entry(f, e)
            }
            Position::Argument {
                name,
                index,
                entry: e,
            } => {
                write!(f, "`{name}` element {index}")?;
                entry(f, e)
            }
        }
    }
}

/// A NaN or infinite number where a finite one is needed.
#[derive(Clone, Debug, PartialEq, Error)]
#[error("{at} is {value}: NaN and infinite values are not accepted (drop the sample, or impute missing values first)")]
pub struct NonFinite {
    /// Where the value was.
    pub at: Position,
    /// The value.
    pub value: f64,
}

impl NonFinite {
    /// The error for a vector read from row `row` of frame column `column`: its
    /// `Feature(i)` becomes entry `i` of that cell.
    pub(crate) fn in_cell(self, column: &str, row: usize) -> Self {
        let entry = match self.at {
            Position::Feature(i) => Some(i),
            _ => None,
        };
        NonFinite {
            at: Position::Cell {
                column: column.to_string(),
                row,
                entry,
            },
            value: self.value,
        }
    }
}

/// `Ok(value)` when `value` is finite, else the error naming `at()`: the one check every
/// numeric input goes through.
#[inline]
pub fn check(value: f64, at: impl FnOnce() -> Position) -> Result<f64, NonFinite> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NonFinite { at: at(), value })
    }
}

/// [`check`] on every element of `values`, in order: the first non-finite one is the
/// error, at `at(index)`.
pub fn check_all(values: &[f64], at: impl Fn(usize) -> Position) -> Result<(), NonFinite> {
    // The common case without a branch per element (it vectorises); then find the culprit.
    if values.iter().fold(true, |ok, v| ok & v.is_finite()) {
        return Ok(());
    }
    values
        .iter()
        .enumerate()
        .try_for_each(|(i, &v)| check(v, || at(i)).map(drop))
}

/// Checks the float column `column` of a frame.
pub(crate) fn check_column(column: &str, values: &[f64]) -> Result<(), NonFinite> {
    check_all(values, |row| Position::cell(column, row))
}

/// Checks the vector column `column` of a frame: finite entries, and sparse vectors well
/// formed.
pub(crate) fn check_vectors(column: &str, vectors: &[Vector]) -> Result<(), MlError> {
    vectors.iter().enumerate().try_for_each(|(row, v)| {
        if let Vector::Sparse(s) = v {
            s.view().check_layout()?;
        }
        v.features()
            .check_finite()
            .map_err(|e| MlError::from(e.in_cell(column, row)))
    })
}

/// Checks a learnt parameter: `Ok` when it [`is_parameter`], else [`MlError::Diverged`]
/// naming the learner `stage` and the `quantity()` that left the range.
#[inline]
pub(crate) fn check_parameter(
    stage: &'static str,
    value: f64,
    quantity: impl FnOnce() -> String,
) -> Result<(), MlError> {
    check_learnt(stage, value, MAX_PARAMETER, quantity)
}

/// The first `(position, value)` of `values` that is not a usable learnt parameter (not
/// finite, or beyond ±[`MAX_PARAMETER`]); `None` when all are. A pass without a branch per
/// value (it vectorises) clears the common case before the culprit is looked for.
#[inline]
pub(crate) fn first_non_parameter(
    values: impl Iterator<Item = f64> + Clone,
) -> Option<(usize, f64)> {
    // NaN compares false: this also rejects NaN and both infinities.
    let is_parameter = |v: f64| v.abs() <= MAX_PARAMETER;
    if values.clone().fold(true, |ok, v| ok & is_parameter(v)) {
        return None;
    }
    values.enumerate().find(|&(_, v)| !is_parameter(v))
}

/// Checks a learner's loss: `Ok` when it is finite, else [`MlError::Diverged`].
pub(crate) fn check_loss(stage: &'static str, value: f64) -> Result<(), MlError> {
    check_learnt(stage, value, f64::MAX, || "the loss".to_string())
}

/// `Ok` when `|value| <= bound`, else [`MlError::Diverged`].
#[inline]
fn check_learnt(
    stage: &'static str,
    value: f64,
    bound: f64,
    quantity: impl FnOnce() -> String,
) -> Result<(), MlError> {
    // NaN compares false: this also rejects NaN and both infinities.
    if value.abs() <= bound {
        Ok(())
    } else {
        Err(MlError::Diverged {
            stage,
            quantity: quantity(),
            value,
        })
    }
}

/// Checks a fitted statistic: `Ok` when it is finite, else [`MlError::Overflow`] naming the
/// `stage` and the `quantity()` that overflowed.
pub(crate) fn check_statistic(
    stage: &'static str,
    value: f64,
    quantity: impl FnOnce() -> String,
) -> Result<(), MlError> {
    check(value, || Position::Value)
        .map(drop)
        .map_err(|_| MlError::Overflow {
            stage,
            quantity: quantity(),
            value,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_position_and_the_value() {
        let e = check(f64::NAN, || Position::Feature(3)).unwrap_err();
        assert_eq!(e.at, Position::Feature(3));
        assert!(e.to_string().starts_with("feature 3 is NaN: "), "{e}");
        let e = check_all(&[1.0, f64::NEG_INFINITY], |i| Position::Argument {
            name: "centroids",
            index: 0,
            entry: Some(i),
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("`centroids` element 0 entry 1 is -inf: "),
            "{e}"
        );
        let e = check(f64::INFINITY, || Position::Feature(2))
            .unwrap_err()
            .in_cell("x", 7);
        assert!(
            e.to_string().starts_with("column `x` row 7 entry 2 is inf"),
            "{e}"
        );
        assert_eq!(check(-0.5, || Position::Label), Ok(-0.5));
    }

    #[test]
    fn parameters_beyond_the_bound_or_not_finite_have_diverged() {
        let ok = |v: f64| check_parameter("s", v, String::new).is_ok();
        assert!(ok(MAX_PARAMETER) && ok(-MAX_PARAMETER) && ok(0.0));
        assert!(!ok(MAX_PARAMETER * 1.000_001));
        assert!(!ok(f64::NAN) && !ok(f64::INFINITY) && !ok(f64::NEG_INFINITY));
        let e = check_parameter("LinearRegression", 3e98, || "coefficient 1".into()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("LinearRegression diverged: coefficient 1 would be 3"),
            "{text}"
        );
        assert!(text.contains("lower the learning rate"), "{text}");
        assert!(check_loss("s", 1e300).is_ok());
        assert!(check_loss("s", f64::INFINITY).is_err() && check_loss("s", f64::NAN).is_err());
    }

    #[test]
    fn statistics_that_are_not_finite_overflowed() {
        assert!(check_statistic("s", 1e300, String::new).is_ok());
        assert!(matches!(
            check_statistic("s", f64::INFINITY, || "std".into()),
            Err(MlError::Overflow { .. })
        ));
    }
}

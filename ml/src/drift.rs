//! Drift detectors for a stream of numbers (a model's error, a feature's value):
//! ADWIN, Page-Hinkley and KSWIN behave as River's (same defaults, same flagged
//! indices on the same stream), and the population stability index (PSI) compares
//! a current histogram with a reference one.

pub mod adwin;
pub mod kswin;
pub mod page_hinkley;
pub mod psi;
mod py_random;

pub use adwin::{Adwin, AdwinConfig};
pub use kswin::{Kswin, KswinConfig};
pub use page_hinkley::{PageHinkley, PageHinkleyConfig, PageHinkleyMode};
pub use psi::{histogram, population_stability_index, quantile_edges};

use crate::finite::{check, NonFinite, Position};

/// `x` when finite; else the error every detector gives before it changes anything.
fn finite_value(x: f64) -> Result<f64, DriftError> {
    Ok(check(x, || Position::Value)?)
}

/// A detector fed one value at a time.
pub trait DriftDetector {
    /// Adds a finite `x` and returns whether a drift is detected at this value. After a
    /// detection the next update starts the detector afresh (as River does). A NaN or
    /// infinite `x` is an error and changes nothing.
    fn update(&mut self, x: f64) -> Result<bool, DriftError>;
    /// Whether the last update detected a drift.
    fn drift_detected(&self) -> bool;
}

/// A detector or PSI parameter outside its allowed range, or bad input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DriftError {
    /// A parameter value is not allowed.
    #[error("parameter `{name}` = {value} is not allowed; expected {allowed}")]
    BadParam {
        /// The parameter.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// The allowed range.
        allowed: &'static str,
    },
    /// Input that cannot be used.
    #[error("{0}")]
    BadInput(String),
    /// A value is NaN or infinite.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
}

/// Returns `BadParam` unless `ok`.
fn require(
    ok: bool,
    name: &'static str,
    value: impl std::fmt::Display,
    allowed: &'static str,
) -> Result<(), DriftError> {
    if ok {
        Ok(())
    } else {
        Err(DriftError::BadParam {
            name,
            value: value.to_string(),
            allowed,
        })
    }
}

//! Typed parameters: every stage keeps its parameters in a plain struct with
//! `Default` (the documented defaults) and a `validate()` that returns a
//! [`ParamError`] naming the parameter, the bad value and the allowed range.
//!
//! The helpers below are what those `validate()` methods are written with.

use std::fmt;
use thiserror::Error;

/// A parameter value outside its allowed range.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("parameter `{name}` = {value} is invalid: allowed {allowed}")]
pub struct ParamError {
    /// The parameter's name, as spelled in the params struct.
    pub name: &'static str,
    /// The rejected value, printed.
    pub value: String,
    /// The allowed range or set, in words (e.g. "(0, +inf)").
    pub allowed: String,
}

impl ParamError {
    /// A new error for parameter `name`.
    pub fn new(name: &'static str, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        Self {
            name,
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

/// Checks `lo <= value <= hi` (closed interval). NaN is always rejected.
pub fn in_closed(name: &'static str, value: f64, lo: f64, hi: f64) -> Result<(), ParamError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(ParamError::new(name, value, format!("[{lo}, {hi}]")))
    }
}

/// Checks `value > 0` and finite.
pub fn positive(name: &'static str, value: f64) -> Result<(), ParamError> {
    if value > 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ParamError::new(name, value, "(0, +inf)"))
    }
}

/// Checks `value >= 0` and finite.
pub fn non_negative(name: &'static str, value: f64) -> Result<(), ParamError> {
    if value >= 0.0 && value.is_finite() {
        Ok(())
    } else {
        Err(ParamError::new(name, value, "[0, +inf)"))
    }
}

/// Checks an integer parameter is at least `min`.
pub fn at_least(name: &'static str, value: usize, min: usize) -> Result<(), ParamError> {
    if value >= min {
        Ok(())
    } else {
        Err(ParamError::new(name, value, format!("[{min}, +inf)")))
    }
}

/// Checks `value` is one of `allowed`.
pub fn one_of(name: &'static str, value: &str, allowed: &[&str]) -> Result<(), ParamError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ParamError::new(
            name,
            format!("{value:?}"),
            format!("one of {allowed:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_parameter_value_and_range() {
        let e = positive("learning_rate", -1.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "parameter `learning_rate` = -1 is invalid: allowed (0, +inf)"
        );
        assert!(in_closed("elastic_net", f64::NAN, 0.0, 1.0).is_err());
        assert!(in_closed("elastic_net", 1.0, 0.0, 1.0).is_ok());
        assert!(at_least("k", 1, 2).is_err());
        assert!(one_of("handle_invalid", "skip", &["error", "keep"]).is_err());
    }
}

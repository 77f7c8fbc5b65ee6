//! [`SharedParameters`]: a learner whose state several workers can train together, the way
//! the runtime's parameter servers merge them (design §6).

use super::MlError;

/// A learner whose learnt state is a flat vector of numbers that **add up**: the change
/// two workers made to a copy each, summed, is the change of one model that learnt from
/// both. Parameter servers hold the sum; a worker reads its change against the copy it
/// adopted, pushes it, and later adopts the merged vector.
///
/// What is additive depends on the learner: for SGD the weights; for FTRL-Proximal its `z`
/// and `n` (the coefficients are derived from them); for a running label mean its count
/// and sum. Per-batch scratch state (a pending mini-batch) is not part of it.
pub trait SharedParameters {
    /// The length of the vector for a model of this dimension.
    fn parameter_len(&self) -> usize;

    /// Writes the vector into `out` (cleared first).
    fn write_parameters(&self, out: &mut Vec<f64>);

    /// Replaces the learnt state by `values` (of [`SharedParameters::parameter_len`]),
    /// recomputing what derives from it. Non-finite or out-of-range values are refused and
    /// leave the model as it was.
    fn read_parameters(&mut self, values: &[f64]) -> Result<(), MlError>;
}

/// Checks a vector handed to [`SharedParameters::read_parameters`]: its length and that
/// every value is finite.
pub(crate) fn check_parameters(values: &[f64], len: usize) -> Result<(), MlError> {
    if values.len() != len {
        return Err(MlError::Dimension {
            expected: len,
            found: values.len(),
        });
    }
    crate::finite::check_all(values, |index| crate::finite::Position::Argument {
        name: "parameters",
        index,
        entry: None,
    })
    .map_err(MlError::from)
}

//! [`SharedParameters`]: a learner whose state several workers can train together, the way
//! the runtime's parameter servers merge them (design §6).

use super::MlError;

/// A learner whose learnt state is a flat vector of numbers that workers' changes merge
/// into. Parameter servers hold the vector; a worker reads its change against the copy it
/// adopted, pushes it, and later adopts the merged vector.
///
/// Each entry merges one of two ways ([`SharedParameters::averaged`]):
/// - **summed**: statistics that add up exactly — counts and sums (a running label mean's
///   count and sum), FTRL-Proximal's `z` and `n` (its coefficients are derived from them),
///   AdaGrad's summed squared gradients, Adam's step count;
/// - **averaged**: values a worker *moves* — SGD weights, Adam's moments. Workers that
///   each move a weight toward the optimum from the same start would overshoot it if their
///   changes were summed (two workers that both nearly converge in an epoch would land it
///   at twice the distance), so the servers apply the mean of the changes of the workers
///   that changed the entry in an epoch: model averaging per entry, which is still the full
///   change for an entry only one worker touched (a sparse feature).
///
/// Per-batch scratch state (a pending mini-batch) is not part of it.
pub trait SharedParameters {
    /// The length of the vector for a model of this dimension.
    fn parameter_len(&self) -> usize;

    /// Writes the vector into `out` (cleared first).
    fn write_parameters(&self, out: &mut Vec<f64>);

    /// Whether the servers average the workers' changes of entry `index` (else they sum
    /// them).
    fn averaged(&self, index: usize) -> bool;

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

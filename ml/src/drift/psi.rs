//! Population stability index between a reference and a current histogram:
//! `PSI = sum_i (c_i - r_i) * ln(c_i / r_i)` over the bins' shares `r_i`, `c_i`, with
//! an empty bin's share raised to `1e-4` so the logarithm stays finite. Rules of
//! thumb: below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major shift.

use super::DriftError;
use crate::finite::{check_all, NonFinite, Position};

/// Checks the slice argument `name`.
fn check_argument(name: &'static str, values: &[f64]) -> Result<(), NonFinite> {
    check_all(values, |index| Position::Argument {
        name,
        index,
        entry: None,
    })
}

/// The share given to an empty bin.
const EMPTY_BIN_SHARE: f64 = 1e-4;

/// PSI of `current` against `reference`, both bin counts (or weights) over the same
/// bins: equal lengths, at least one bin, finite non-negative values, positive sums.
pub fn population_stability_index(reference: &[f64], current: &[f64]) -> Result<f64, DriftError> {
    if reference.is_empty() || reference.len() != current.len() {
        return Err(DriftError::BadInput(format!(
            "the reference histogram has {} bins and the current one {}; both need the same, at least one",
            reference.len(),
            current.len()
        )));
    }
    let shares = |name: &str, h: &[f64]| -> Result<Vec<f64>, DriftError> {
        if let Some(v) = h.iter().find(|v| !v.is_finite() || **v < 0.0) {
            return Err(DriftError::BadInput(format!(
                "the {name} histogram holds {v}; counts must be finite and >= 0"
            )));
        }
        let total: f64 = h.iter().sum();
        if total <= 0.0 {
            return Err(DriftError::BadInput(format!(
                "the {name} histogram is empty; it needs a positive total"
            )));
        }
        Ok(h.iter().map(|c| (c / total).max(EMPTY_BIN_SHARE)).collect())
    };
    let r = shares("reference", reference)?;
    let c = shares("current", current)?;
    Ok(r.iter().zip(&c).map(|(r, c)| (c - r) * (c / r).ln()).sum())
}

/// The `bins - 1` inner edges that split `reference` into `bins` equally filled bins
/// (linear-interpolated quantiles); errors when `bins` is 0 or `reference` is empty
/// or holds a NaN or an infinity.
pub fn quantile_edges(reference: &[f64], bins: usize) -> Result<Vec<f64>, DriftError> {
    if bins == 0 || reference.is_empty() {
        return Err(DriftError::BadInput(format!(
            "quantile edges need at least one bin (got {bins}) and a non-empty reference (got {} values)",
            reference.len()
        )));
    }
    check_argument("reference", reference)?;
    let mut sorted = reference.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    Ok((1..bins)
        .map(|b| {
            let pos = last * b as f64 / bins as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(sorted.len() - 1);
            sorted[lo] + frac * (sorted[hi] - sorted[lo])
        })
        .collect())
}

/// Counts of finite `values` in the `edges.len() + 1` bins split by increasing finite
/// `edges`; a value equal to an edge falls in the lower bin.
pub fn histogram(values: &[f64], edges: &[f64]) -> Result<Vec<f64>, DriftError> {
    check_argument("values", values)?;
    check_argument("edges", edges)?;
    let mut counts = vec![0.0; edges.len() + 1];
    for &v in values {
        counts[edges.partition_point(|&e| e < v)] += 1.0;
    }
    Ok(counts)
}

//! KBinsDiscretizer (as scikit-learn, `encode="ordinal"`): per-dimension bin edges
//! from uniform widths or quantiles; each value becomes its bin index.

use super::VectorColumns;
use crate::api::{Estimator, Frame, MlError, Transformer};
use crate::finite::{check, check_statistic, Position};
use crate::params::at_least;
use crate::persist::Persist;
use serde::{Deserialize, Serialize};

/// How bin edges are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KBinsStrategy {
    /// Equal-width bins between the minimum and maximum.
    Uniform,
    /// Equal-frequency bins (linear-interpolated percentiles, as `numpy.percentile`).
    #[default]
    Quantile,
}

/// Parameters of [`KBinsDiscretizer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KBinsParams {
    /// Input and output vector columns.
    pub columns: VectorColumns,
    /// Number of bins (default 5, at least 2).
    pub n_bins: usize,
    /// Edge strategy (default quantile, as scikit-learn).
    pub strategy: KBinsStrategy,
}

impl Default for KBinsParams {
    fn default() -> Self {
        Self {
            columns: VectorColumns::default(),
            n_bins: 5,
            strategy: KBinsStrategy::Quantile,
        }
    }
}

/// Fits a [`KBinsDiscretizerModel`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KBinsDiscretizer {
    /// Parameters.
    pub params: KBinsParams,
}

/// Maps each dimension to its bin index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KBinsDiscretizerModel {
    /// Parameters.
    pub params: KBinsParams,
    /// Per dimension, the bin edges (bins = edges − 1).
    pub bin_edges: Vec<Vec<f64>>,
}

/// `numpy.percentile(sorted, q)` with linear interpolation.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl Estimator for KBinsDiscretizer {
    type Model = KBinsDiscretizerModel;

    fn fit(&self, frame: &Frame) -> Result<KBinsDiscretizerModel, MlError> {
        let p = &self.params;
        at_least("n_bins", p.n_bins, 2)?;
        let (rows, dim) = p.columns.dense_rows(frame, "KBinsDiscretizer")?;
        let mut bin_edges = Vec::with_capacity(dim);
        for j in 0..dim {
            let mut col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            col.sort_by(f64::total_cmp);
            let (lo, hi) = (col[0], col[col.len() - 1]);
            if lo == hi {
                bin_edges.push(vec![f64::NEG_INFINITY, f64::INFINITY]);
                continue;
            }
            let k = p.n_bins as f64;
            let raw: Vec<f64> = (0..=p.n_bins)
                .map(|i| match p.strategy {
                    KBinsStrategy::Uniform => lo + (hi - lo) * i as f64 / k,
                    KBinsStrategy::Quantile => percentile(&col, 100.0 * i as f64 / k),
                })
                .collect();
            for (n, &e) in raw.iter().enumerate() {
                check_statistic("KBinsDiscretizer", e, || {
                    format!("bin edge {n} of feature {j}")
                })?;
            }
            // Drop quantile bins narrower than 1e-8, as scikit-learn does (not uniform ones).
            let edges = match p.strategy {
                KBinsStrategy::Uniform => raw,
                KBinsStrategy::Quantile => {
                    let mut edges = vec![raw[0]];
                    for &e in &raw[1..] {
                        if e - edges[edges.len() - 1] > 1e-8 {
                            edges.push(e);
                        }
                    }
                    edges
                }
            };
            bin_edges.push(edges);
        }
        Ok(KBinsDiscretizerModel {
            params: p.clone(),
            bin_edges,
        })
    }
}

impl KBinsDiscretizerModel {
    /// The bin of a finite `x` in dimension `j`: the number of inner edges ≤ `x`, as
    /// scikit-learn ≥ 1.9 (`searchsorted(edges[1:-1], x, side="right")`; before 1.9 it
    /// shifted `x` up by `1e-8 + 1e-5 |x|` first).
    /// A `j` beyond the model's dimensions is [`MlError::Index`].
    pub fn bin(&self, j: usize, x: f64) -> Result<f64, MlError> {
        if j >= self.bin_edges.len() {
            return Err(MlError::Index {
                what: "feature",
                index: j,
                len: self.bin_edges.len(),
            });
        }
        let x = check(x, || Position::Feature(j))?;
        Ok(self.bin_of(j, x))
    }

    /// [`Self::bin`] of a value known to be finite.
    fn bin_of(&self, j: usize, x: f64) -> f64 {
        let edges = &self.bin_edges[j];
        // Every edge but the first and last (none when narrow bins left a single edge).
        let inner = edges.get(1..edges.len().saturating_sub(1)).unwrap_or(&[]);
        inner.partition_point(|&e| e <= x) as f64
    }
}

impl Transformer for KBinsDiscretizerModel {
    fn transform(&self, frame: &Frame) -> Result<Frame, MlError> {
        self.params
            .columns
            .map_each(frame, self.bin_edges.len(), |j, x| self.bin_of(j, x))
    }
}

impl Persist for KBinsDiscretizerModel {
    const KIND: &'static str = "kbins_discretizer_model";
    const VERSION: u32 = 1;
}

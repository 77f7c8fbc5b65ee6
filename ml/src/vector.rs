//! Vector types shared with the streaming runtime.
//!
//! Dense vectors are plain `&[f64]` / `Vec<f64>`. Sparse vectors use the same
//! `dim` / `indices` / `values` layout as the runtime's `SparseVector`, so a row
//! held by the runtime (`Arc<[f64]>` or `Arc<SparseVector>`) is passed to a
//! learner as a borrowed [`Features`] without copying.

use crate::api::MlError;
use crate::finite::{check_all, NonFinite, Position};
use serde::{Deserialize, Serialize};

/// An owned sparse vector: `indices` strictly increasing, all below `dim`, one value each.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct SparseVector {
    /// The vector's dimension.
    pub dim: u32,
    /// Positions of the stored entries, strictly increasing.
    pub indices: Vec<u32>,
    /// Values at `indices`.
    pub values: Vec<f64>,
}

impl SparseVector {
    /// An empty (all-zero) sparse vector of dimension `dim`.
    pub fn zeros(dim: u32) -> Self {
        Self {
            dim,
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Builds a sparse vector from unordered `(index, value)` pairs: sorts them and adds
    /// the values of repeated indices. Returns `None` if an index is not below `dim`.
    pub fn from_pairs(dim: u32, mut pairs: Vec<(u32, f64)>) -> Option<Self> {
        if pairs.iter().any(|&(i, _)| i >= dim) {
            return None;
        }
        pairs.sort_unstable_by_key(|&(i, _)| i);
        let mut out = Self::zeros(dim);
        for (i, v) in pairs {
            if out.indices.last() == Some(&i) {
                if let Some(last) = out.values.last_mut() {
                    *last += v;
                }
            } else {
                out.indices.push(i);
                out.values.push(v);
            }
        }
        Some(out)
    }

    /// A borrowed view of this vector.
    pub fn view(&self) -> SparseView<'_> {
        SparseView {
            dim: self.dim,
            indices: &self.indices,
            values: &self.values,
        }
    }

    /// Empties the vector and sets its dimension, keeping the allocations (for reuse per record).
    pub fn clear(&mut self, dim: u32) {
        self.dim = dim;
        self.indices.clear();
        self.values.clear();
    }
}

/// A borrowed sparse vector with the [`SparseVector`] layout.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparseView<'a> {
    /// The vector's dimension.
    pub dim: u32,
    /// Positions of the stored entries, strictly increasing.
    pub indices: &'a [u32],
    /// Values at `indices`.
    pub values: &'a [f64],
}

impl SparseView<'_> {
    /// Checks the layout invariants: equal lengths, indices strictly increasing and below `dim`.
    pub fn is_well_formed(&self) -> bool {
        self.indices.len() == self.values.len()
            && self.indices.windows(2).all(|w| w[0] < w[1])
            && self.indices.last().is_none_or(|&i| i < self.dim)
    }

    /// `Ok` when [`Self::is_well_formed`], else [`MlError::Sparse`] saying what is wrong.
    pub fn check_layout(&self) -> Result<(), MlError> {
        let reason = if self.indices.len() != self.values.len() {
            "indices and values differ in length"
        } else if !self.indices.windows(2).all(|w| w[0] < w[1]) {
            "indices are not strictly increasing"
        } else if self.indices.last().is_some_and(|&i| i >= self.dim) {
            "an index is not below the dimension"
        } else {
            return Ok(());
        };
        Err(MlError::Sparse {
            dim: self.dim as usize,
            reason,
        })
    }

    /// Copies the view into an owned vector.
    pub fn to_owned_vector(&self) -> SparseVector {
        SparseVector {
            dim: self.dim,
            indices: self.indices.to_vec(),
            values: self.values.to_vec(),
        }
    }
}

/// One example's feature vector, borrowed: what learners and per-record transforms take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Features<'a> {
    /// A dense vector.
    Dense(&'a [f64]),
    /// A sparse vector.
    Sparse(SparseView<'a>),
}

impl<'a> Features<'a> {
    /// The vector's dimension.
    pub fn dim(&self) -> usize {
        match self {
            Features::Dense(x) => x.len(),
            Features::Sparse(s) => s.dim as usize,
        }
    }

    /// The dot product with a dense weight vector. Entries of `self` beyond
    /// `weights.len()` count as multiplied by zero.
    #[inline]
    pub fn dot(&self, weights: &[f64]) -> f64 {
        match self {
            Features::Dense(x) => x.iter().zip(weights).map(|(a, b)| a * b).sum(),
            Features::Sparse(s) => s
                .indices
                .iter()
                .zip(s.values)
                .map(|(&i, &v)| weights.get(i as usize).map_or(0.0, |w| w * v))
                .sum(),
        }
    }

    /// Calls `f(index, value)` for every stored entry (every entry of a dense vector).
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(usize, f64)) {
        match self {
            Features::Dense(x) => x.iter().enumerate().for_each(|(i, &v)| f(i, v)),
            Features::Sparse(s) => s
                .indices
                .iter()
                .zip(s.values)
                .for_each(|(&i, &v)| f(i as usize, v)),
        }
    }

    /// The value at `index` (zero when not stored).
    pub fn get(&self, index: usize) -> f64 {
        match self {
            Features::Dense(x) => x.get(index).copied().unwrap_or(0.0),
            Features::Sparse(s) => u32::try_from(index)
                .ok()
                .and_then(|i| s.indices.binary_search(&i).ok())
                .map_or(0.0, |p| s.values[p]),
        }
    }

    /// `Ok` when every stored entry is finite; else the first NaN or infinite one, at its
    /// [`Position::Feature`] index.
    pub fn check_finite(&self) -> Result<(), NonFinite> {
        match self {
            Features::Dense(x) => check_all(x, Position::Feature),
            Features::Sparse(s) => check_all(s.values, |k| {
                Position::Feature(s.indices.get(k).map_or(k, |&i| i as usize))
            }),
        }
    }

    /// Checks a per-example input before any model reads it: dimension `dim`, a well-formed
    /// sparse layout, finite entries (the first failure is the error).
    pub fn check(&self, dim: usize) -> Result<(), MlError> {
        if self.dim() != dim {
            return Err(MlError::Dimension {
                expected: dim,
                found: self.dim(),
            });
        }
        if let Features::Sparse(s) = self {
            s.check_layout()?;
        }
        Ok(self.check_finite()?)
    }

    /// Copies the vector into a dense `Vec` (entries of a malformed sparse vector at or
    /// beyond its dimension are left out).
    pub fn to_dense(&self) -> Vec<f64> {
        match self {
            Features::Dense(x) => x.to_vec(),
            Features::Sparse(_) => {
                let mut out = vec![0.0; self.dim()];
                self.for_each(|i, v| {
                    if let Some(o) = out.get_mut(i) {
                        *o = v;
                    }
                });
                out
            }
        }
    }
}

impl<'a> From<&'a [f64]> for Features<'a> {
    fn from(x: &'a [f64]) -> Self {
        Features::Dense(x)
    }
}

impl<'a> From<&'a Vec<f64>> for Features<'a> {
    fn from(x: &'a Vec<f64>) -> Self {
        Features::Dense(x)
    }
}

impl<'a> From<SparseView<'a>> for Features<'a> {
    fn from(x: SparseView<'a>) -> Self {
        Features::Sparse(x)
    }
}

impl<'a> From<&'a SparseVector> for Features<'a> {
    fn from(x: &'a SparseVector) -> Self {
        Features::Sparse(x.view())
    }
}

/// An owned vector, dense or sparse: the cell type of a vector column in a [`crate::Frame`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Vector {
    /// A dense vector.
    Dense(Vec<f64>),
    /// A sparse vector.
    Sparse(SparseVector),
}

impl Vector {
    /// A borrowed view for learners.
    pub fn features(&self) -> Features<'_> {
        match self {
            Vector::Dense(x) => Features::Dense(x),
            Vector::Sparse(s) => Features::Sparse(s.view()),
        }
    }

    /// The vector's dimension.
    pub fn dim(&self) -> usize {
        self.features().dim()
    }
}

impl From<Vec<f64>> for Vector {
    fn from(x: Vec<f64>) -> Self {
        Vector::Dense(x)
    }
}

impl From<SparseVector> for Vector {
    fn from(x: SparseVector) -> Self {
        Vector::Sparse(x)
    }
}

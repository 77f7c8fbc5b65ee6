//! Recommendation: online matrix factorisation for ratings (River's `Baseline`,
//! `BiasedMF` and `FunkMF`, trained by SGD one rating at a time) and Swing
//! item-to-item similarity (as Flink ML's `Swing`). Users and items are `u64` ids;
//! hash string ids to `u64` first.

pub mod mf;
pub mod swing;

pub use mf::{
    initial_factors, MatrixFactorization, MfKind, MfLayout, MfParams, Side, UserState,
    MAX_SHARED_PARAMETERS,
};
pub use swing::{SimilarItems, Swing, SwingParams};

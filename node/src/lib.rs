//! Quiver worker runtime.

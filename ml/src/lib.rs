//! Pure machine learning for Quiver.

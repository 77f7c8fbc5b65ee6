//! Clustering: batch [`KMeans`] (k-means++ initialisation, then Lloyd iterations,
//! seeded) and [`OnlineKMeans`] (mini-batch updates with a decay factor and cluster
//! weights, as Flink ML's `OnlineKMeans`).

pub mod kmeans;
pub mod online_kmeans;
pub(crate) mod rng;

pub use kmeans::{kmeans_cost, lloyd_step, nearest_centroid, KMeans, KMeansModel, KMeansParams};
pub use online_kmeans::{OnlineKMeans, OnlineKMeansParams};

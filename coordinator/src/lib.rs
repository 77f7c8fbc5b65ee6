//! The Quiver coordinator: node membership and failure detection, job admission, placement of
//! partitions onto nodes, the job lifecycle, and the admin API — all over mutual-TLS QUIC.

#[cfg(feature = "chaos")]
pub mod chaos;
pub mod checkpoint_store;
pub mod checkpoints;
pub mod health;
pub mod http;
mod jobs;
pub mod lifecycle;
pub mod registry;
pub mod scheduler;
mod server;
pub mod store;

pub use jobs::{HEARTBEAT_TIMEOUT, LOST_NODE_RETENTION, SCHEDULING_TIMEOUT};
pub use server::{Coordinator, CoordinatorError};

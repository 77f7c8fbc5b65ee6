//! Quiver's wire types and everything two processes must agree on: identifiers, values and
//! records, the fixed key hash, the job spec and plan, the messages between processes and the
//! bounded queues that write them, the bincode codec with size limits, and QUIC endpoints
//! with mutual TLS against the cluster CA.

pub mod batch;
pub mod codec;
pub mod failure;
pub mod heartbeat;
pub mod histogram;
pub mod host_port;
pub mod ids;
pub mod keygroup;
pub mod messages;
pub mod metrics;
pub mod models;
pub mod outbox;
pub mod pki;
pub mod plan;
pub mod pool;
pub mod quality;
pub mod record;
pub mod sink_latency;
pub mod spec;
pub mod state_piece;
pub mod state_schema;
pub mod state_stream;
pub mod transport;
pub mod value;

pub use failure::{Failure, FailureKind};
pub use ids::*;
pub use pool::{NodeSlots, Pool};
pub use record::{Barrier, Record, StreamElement};
pub use value::{Column, Row, Schema, SparseVector, Value, ValueType};

//! Quiver's worker runtime: partition actors, exchange with credit-based flow control, keyed
//! state, operators and connectors.

mod blocking;
#[cfg(feature = "chaos")]
pub mod chaos;
pub mod http;
mod kafka;
pub mod ml_stages;
pub mod operator;
pub mod operators;
pub(crate) mod parameters;
mod quality;
pub mod runtime;
pub mod service;
pub mod serving;
pub mod sinks;
pub mod sources;
pub(crate) mod state;
pub mod watermark;

pub use blocking::Cancellation;

//! The W1 data path three ways, for issue 14 part 1: today's rows ([`rows`]), Apache Arrow
//! ([`arrow_path`], feature `arrow`) and a small columnar format of our own ([`own`], over the
//! `own-batch` crate). [`pipeline`] drives one source batch through the steps of W1 and
//! [`state`] holds the keyed state every path shares, so that paths differ only in how a
//! batch is laid out, shared, split, read, built and encoded.

pub mod alloc_count;
#[cfg(feature = "arrow")]
pub mod arrow_path;
pub mod keys;
pub mod own;
pub mod pipeline;
pub mod robustness;
pub mod rows;
pub mod state;
pub mod w1;

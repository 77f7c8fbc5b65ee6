//! A small columnar batch format: the candidate for `protocol::Batch` measured against Apache
//! Arrow in `bench/batch-format`.
//!
//! - [`Batch`]: `len` rows, an event-time column and typed [`Column`]s. Every buffer is an
//!   `Arc`, so cloning a batch (fan-out to several consumers) copies no value.
//! - [`Column`]: i64, f64, bool, strings (offsets + one byte buffer: no heap allocation per
//!   value), dense vectors (one flat `f64` buffer, `dim` per row) and sparse vectors (CSR:
//!   offsets, indices, values), each with an optional validity bitmap (a set bit is a value,
//!   a clear bit a null; no bitmap means no null).
//! - [`Batch::scatter`]: splits a batch by a partition index per row (the exchange's hash
//!   partitioning by key group) into one batch per partition, in row order.
//! - [`wire`]: a length-prefixed columnar encoding with hard limits on every count, checked
//!   before anything is allocated.
//!
//! No dependency and no `unsafe`.

#![warn(missing_docs, rust_2018_idioms, unreachable_pub)]
#![forbid(unsafe_code)]

mod batch;
mod column;
pub mod wire;

pub use batch::{Batch, BatchError};
pub use column::{
    Bitmap, Column, ColumnData, ColumnType, SparseColumn, StrBuilder, StrColumn, Values,
};

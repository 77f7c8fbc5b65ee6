//! Quiver's columnar batch: how records travel between operators and nodes. Chosen over
//! Apache Arrow by the measurements in `bench/batch-format` (its `DECISION.md`, summarised in
//! `docs/design.md`).
//!
//! - [`Batch`]: `len` rows, an event-time column and typed [`Column`]s. Every buffer is an
//!   `Arc`, so cloning a batch (fan-out to several consumers) copies no value.
//! - [`Column`]: i64, f64, bool, strings (offsets + one byte buffer: no heap allocation per
//!   value), dense vectors (offsets + one flat `f64` buffer) and sparse vectors (CSR: a
//!   dimension per row, offsets, indices, values), each with an optional validity bitmap (a set bit is a value,
//!   a clear bit a null; no bitmap means no null).
//! - [`ValueRef`]: one row of a column, borrowed ([`Column::get`], [`ColumnBuilder::push`]),
//!   for code that works a value at a time.
//! - [`Batch::scatter`]: splits a batch by a partition index per row (the exchange's hash
//!   partitioning by key group) into one batch per partition, in row order.
//! - [`wire`]: a length-prefixed columnar encoding with hard limits on every count, checked
//!   before anything is allocated.
//!
//! No dependency and no `unsafe`.

#![forbid(unsafe_code)]

mod batch;
mod builder;
mod column;
mod value;
pub mod wire;

pub use batch::{Batch, BatchError};
pub use builder::{ColumnBuilder, WrongType};
pub use column::{
    Bitmap, Column, ColumnData, ColumnType, DenseColumn, SparseColumn, StrBuilder, StrColumn,
    Values,
};
pub use value::ValueRef;

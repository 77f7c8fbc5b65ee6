//! The decoder checks of Quiver's fuzzing: one module per decoder, each with a `check`
//! function that feeds arbitrary bytes to the project's real decode entry points and
//! asserts the properties every decoder must keep (no panic, no allocation beyond the
//! decoder's limits, typed errors, and where cheap decode ∘ encode round trips), and a
//! `seeds` function that builds real encodings for its corpus.
//!
//! The same checks run in two drivers: the cargo-fuzz targets in `fuzz/` (nightly,
//! libFuzzer, `cargo +nightly fuzz run TARGET`) and the stable smoke test of this crate
//! (`tests/smoke.rs`), which feeds every committed corpus file, the seeds and a few
//! thousand seeded mutations of them. `cargo run -p quiver-fuzz-checks --bin fuzz-seeds`
//! rewrites the committed seed corpora from [`TARGETS`].

pub mod batch;
pub mod checkpoint_store;
pub mod frame;
pub mod input;
pub mod job_spec;
pub mod mutate;
pub mod operator_state;
pub mod records;
pub mod state_chunk;
pub mod state_piece;

/// One fuzz target: the decoder it exercises and the real encodings its corpus starts from.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The name of the cargo-fuzz target and of its corpus folder (`fuzz/corpus/NAME`).
    pub name: &'static str,
    /// Feeds one input to the decoder; panics only when a property is broken.
    pub check: fn(&[u8]),
    /// Seed inputs made from real encodings.
    pub seeds: fn() -> Vec<Vec<u8>>,
}

/// Every fuzz target, in the order `BENCHMARKS.md` lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "frame",
        check: frame::check,
        seeds: frame::seeds,
    },
    Target {
        name: "state_chunk",
        check: state_chunk::check,
        seeds: state_chunk::seeds,
    },
    Target {
        name: "batch",
        check: batch::check,
        seeds: batch::seeds,
    },
    Target {
        name: "state_piece",
        check: state_piece::check,
        seeds: state_piece::seeds,
    },
    Target {
        name: "checkpoint_store",
        check: checkpoint_store::check,
        seeds: checkpoint_store::seeds,
    },
    Target {
        name: "operator_state",
        check: operator_state::check,
        seeds: operator_state::seeds,
    },
    Target {
        name: "job_spec",
        check: job_spec::check,
        seeds: job_spec::seeds,
    },
    Target {
        name: "csv_records",
        check: records::check_csv,
        seeds: records::csv_seeds,
    },
    Target {
        name: "jsonl_records",
        check: records::check_jsonl,
        seeds: records::jsonl_seeds,
    },
];

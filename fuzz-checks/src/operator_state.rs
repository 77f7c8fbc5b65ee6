//! Operator state snapshots as a node restores them (`quiver_node::operators`): the bytes
//! of each key group that a stage's `snapshot` wrote, handed to a fresh stage's `restore`.
//! The stages are built from a job spec ([`SPEC`]) by the node's own `build_stage`: keyed
//! running, tumbling and session aggregates (the keyed-state layer: chains of pieces,
//! with and without a state TTL), a standard scaler and an online k-means.
//!
//! The input is a stage byte, then key group states ([`crate::input::Chunks`]: a group byte
//! and a bytes chunk each). Properties: restore returns an error or succeeds, never panics;
//! a restored stage processes records, watermarks and the end of input without panicking;
//! its snapshot restores into a fresh stage whose snapshot is the same (a round trip).

use crate::input::{ChunkWriter, Chunks};
use quiver_node::operator::{KeyGroupState, Operator, Output, SavedState};
use quiver_node::operators::{build_stage, StageContext};
use quiver_protocol::batch::{self, Batch};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{KeyGroup, Record, Schema, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The stages whose state is fuzzed, reading the generator's rows (user, amount, ts).
pub const SPEC: &str = r#"
[job]
name = "fuzz-state"
max_parallelism = 8

[[source]]
name = "events"
kind = "generator"
keys = 100

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", total = "sum(amount)", low = "min(amount)", mean = "avg(amount)" }

[[stage]]
name = "tumbling"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()", top = "max(amount)" }

[[stage]]
name = "session"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "session", gap = "50ms" }
aggregates = { n = "count()", total = "sum(amount)" }

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "events"
columns = ["amount", "ts"]
output = "features"

[[stage]]
name = "clusters"
kind = "kmeans"
input = "scaled"
features = "features"
k = 3

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#;

/// A stage of [`SPEC`] ready to build: its spec, its input schema and a context.
struct Stage {
    spec: quiver_protocol::spec::StageSpec,
    input: Schema,
    ctx: StageContext,
}

impl Stage {
    fn build(&self) -> Box<dyn Operator> {
        build_stage(&self.spec, &self.input, &self.ctx).expect("a stage of the spec builds")
    }
}

thread_local! {
    /// Every stage of [`SPEC`], each with and without a state TTL.
    static STAGES: Vec<Stage> = stages();
}

fn stages() -> Vec<Stage> {
    let spec = JobSpec::parse(SPEC, Path::new(".")).expect("the fuzz spec is valid");
    let mut out = Vec::new();
    for state_ttl in [None, Some(Duration::from_secs(3600))] {
        for stage in &spec.stages {
            out.push(Stage {
                input: spec
                    .schema_of(&stage.input)
                    .expect("a stage's input is in the spec")
                    .clone(),
                spec: stage.clone(),
                ctx: StageContext {
                    max_parallelism: spec.max_parallelism,
                    state_ttl,
                    checkpoints: true,
                },
            });
        }
    }
    out
}

/// Checks one input: a stage and the state to restore it from.
pub fn check(data: &[u8]) {
    let mut chunks = Chunks::new(data);
    let Some(which) = chunks.byte() else { return };
    let mut pieces = Vec::new();
    while let (Some(group), Some(bytes)) = (chunks.byte(), chunks.chunk()) {
        pieces.push(KeyGroupState {
            group: KeyGroup(u32::from(group)),
            bytes: bytes.to_vec(),
        });
    }
    STAGES.with(|stages| {
        let stage = &stages[usize::from(which) % stages.len()];
        let mut op = stage.build();
        if op.restore(SavedState::from(pieces)).is_err() {
            return;
        }
        let saved = op.snapshot().expect("a restored stage snapshots");
        let mut again = stage.build();
        again
            .restore(SavedState::from(saved.clone()))
            .expect("a snapshot restores");
        assert_eq!(
            again.snapshot().expect("snapshots"),
            saved,
            "state changed on a snapshot round trip"
        );
        // A restored stage goes on working (its output may be an error, never a panic).
        let mut out = Output::default();
        let _ = op.process_batch(&rows(&stage.input, 3), &mut out);
        let _ = op.on_watermark(i64::MAX / 2, &mut out);
        let _ = op.on_end(&mut out);
    });
}

/// `n` generator-like rows: four users, amounts and times from their position (and a
/// feature vector for each column after the generator's three).
fn rows(schema: &Schema, n: i64) -> Batch {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut row = vec![
                Value::I64(i % 4),
                Value::F64(2.5 * i as f64),
                Value::I64(1_000 + 40 * i),
            ];
            // A scaler's output adds its feature vector.
            row.extend(
                schema.columns[3..]
                    .iter()
                    .map(|_| Value::Dense(Arc::from(&[0.5 * i as f64, 1.0][..]))),
            );
            Record {
                event_time: 1_000 + 40 * i,
                row,
            }
        })
        .collect();
    batch::from_records(schema, &records).expect("rows of the generator's schema")
}

/// Each stage's real snapshot after some records (and, for windows, a watermark that fires
/// part of them).
pub fn seeds() -> Vec<Vec<u8>> {
    STAGES.with(|stages| {
        stages
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let mut op = stage.build();
                let mut out = Output::default();
                op.process_batch(&rows(&stage.input, 12), &mut out)
                    .expect("processes");
                op.on_watermark(1_200, &mut out).expect("fires");
                let mut input = ChunkWriter::default();
                input.byte(i as u8);
                for piece in op.snapshot().expect("snapshots") {
                    input.byte(piece.group.0 as u8).chunk(&piece.bytes);
                }
                input.finish()
            })
            .collect()
    })
}

//! `Registry::export` on a real sled store: parameters merged from chains of base and delta
//! pieces over several key groups (as the shards upload them), registered and unregistered
//! versions, pruned checkpoints and state that is not a parameter vector refused.

use super::export::ExportRequest;
use super::*;
use crate::checkpoint_store::Manifest;
use crate::store::Store;
use quiver_protocol::messages::{IncrementalState, SnapshotKind};
use quiver_protocol::state_piece::entry::{encode, ordered_i64};
use quiver_protocol::state_piece::{Piece, PieceKind};
use quiver_protocol::state_schema;
use quiver_protocol::{Generation, KeyGroup};

const JOB: JobId = JobId(4);
const SCHEMA: &[u8] = b"params schema";
const GROUPS: u32 = 4;

fn open(dir: &tempfile::TempDir) -> (Store, Registry) {
    let store = Store::open(dir.path()).unwrap();
    let checkpoints = CheckpointStore::open(store.db()).unwrap();
    let registry = Registry::open(store.db(), checkpoints).unwrap();
    (store, registry)
}

/// A piece of `(parameter index, value | tombstone)` entries, schema-wrapped.
fn piece(kind: PieceKind, entries: &[(i64, Option<f64>)]) -> Vec<u8> {
    let entries = entries
        .iter()
        .map(|&(k, v)| {
            let value = v.map(|v| {
                let mut bytes = Vec::new();
                encode(&v, &mut bytes).unwrap();
                bytes
            });
            (ordered_i64(k).to_vec(), value)
        })
        .collect();
    let piece = Piece {
        kind,
        meta: None,
        drop_below: None,
        entries,
    };
    state_schema::wrap(SCHEMA, &piece.encode())
}

/// Completes checkpoint `id` of `reg/params` extending `base` with `deltas` by key group.
fn checkpoint(registry: &Registry, id: u64, base: Option<u64>, deltas: &[(u32, Vec<u8>)]) {
    let mut meta = Vec::new();
    encode(&id, &mut meta).unwrap();
    let state = IncrementalState {
        operator: "reg/params".into(),
        groups: 0..GROUPS,
        base: base.map(CheckpointId),
        meta: state_schema::wrap(SCHEMA, &Piece::meta(meta, None).encode()),
    };
    let deltas: Vec<(KeyGroup, Vec<u8>)> = deltas
        .iter()
        .map(|(g, bytes)| (KeyGroup(*g), bytes.clone()))
        .collect();
    let checkpoints = &registry.checkpoints;
    checkpoints
        .put_incremental(
            JOB,
            CheckpointId(id),
            Generation(2),
            base.map(|b| (JOB, CheckpointId(b))),
            &state,
            &deltas,
        )
        .unwrap();
    let manifest = Manifest {
        job: JOB,
        checkpoint: CheckpointId(id),
        generation: Generation(2),
        kind: SnapshotKind::Checkpoint,
        completed_at_ms: 5_000 + id,
        duration_ms: 1,
        operators: vec![("reg/params".into(), 1)],
        max_parallelism: GROUPS,
    };
    checkpoints.complete(JOB, &manifest).unwrap();
}

fn request(version: u64) -> ExportRequest {
    ExportRequest {
        job: JOB,
        stage: "reg".into(),
        kind: "linear_regression".into(),
        state_operator: "reg/params".into(),
        version: CheckpointId(version),
    }
}

fn register(registry: &Registry, version: u64) {
    let record = VersionRecord {
        stage: "reg".into(),
        version: CheckpointId(version),
        created_ms: 9,
        lineage: ModelLineage {
            job: JOB,
            checkpoint: CheckpointId(version),
            generation: Generation(2),
        },
        metrics: BTreeMap::from([("records_in".to_string(), 3.0)]),
        state_operator: "reg/params".into(),
    };
    assert!(registry.register(JOB, &record).unwrap());
}

#[test]
fn export_merges_every_key_groups_chain_into_the_vector() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoint(
        &registry,
        1,
        None,
        &[
            (
                0,
                piece(PieceKind::Delta, &[(0, Some(1.5)), (4, Some(-2.0))]),
            ),
            (
                2,
                piece(PieceKind::Delta, &[(1, Some(0.25)), (6, Some(9.0))]),
            ),
        ],
    );
    // Checkpoint 2 changes parameter 4, removes 6 and writes 7 in a new group; group 2's
    // parameter 1 is only in checkpoint 1's piece of its chain.
    checkpoint(
        &registry,
        2,
        Some(1),
        &[
            (0, piece(PieceKind::Delta, &[(4, Some(-2.5))])),
            (2, piece(PieceKind::Delta, &[(6, None)])),
            (3, piece(PieceKind::Delta, &[(7, Some(0.1))])),
        ],
    );
    register(&registry, 1);
    let first = registry.export(&request(1)).unwrap();
    assert_eq!(
        first.parameters,
        vec![1.5, 0.25, 0.0, 0.0, -2.0, 0.0, 9.0],
        "parameters never written are 0"
    );
    assert!(first.registered);
    assert_eq!(first.info.metrics["records_in"], 3.0);
    assert_eq!(first.kind, "linear_regression");

    let second = registry.export(&request(2)).unwrap();
    assert_eq!(
        second.parameters,
        vec![1.5, 0.25, 0.0, 0.0, -2.5, 0.0, 0.0, 0.1]
    );
    assert!(
        !second.registered,
        "a complete checkpoint that is not registered"
    );
    assert_eq!(second.info.created_ms, 5_002);
    assert_eq!(second.info.lineage.generation, Generation(2));
    assert_eq!(second.info.state_operator, "reg/params");
}

#[test]
fn unknown_and_pruned_versions_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    for id in 1..=5 {
        let base = (id > 1).then(|| id - 1);
        let delta = piece(PieceKind::Delta, &[(0, Some(id as f64))]);
        checkpoint(&registry, id, base, &[(1, delta)]);
    }
    registry.prune(JOB, 3, &[]).unwrap();
    assert_eq!(registry.export(&request(5)).unwrap().parameters, vec![5.0]);
    for missing in [1, 9] {
        let e = registry.export(&request(missing)).unwrap_err().to_string();
        assert!(e.contains("no complete checkpoint"), "{e}");
        assert!(e.contains("quiver model list job-4"), "{e}");
    }
}

#[test]
fn state_that_is_not_a_parameter_vector_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    let negative = piece(PieceKind::Base, &[(-3, Some(1.0))]);
    checkpoint(&registry, 1, None, &[(0, negative)]);
    let e = registry.export(&request(1)).unwrap_err().to_string();
    assert!(e.contains("index -3"), "{e}");
    assert!(e.contains("reg/params"), "{e}");
}

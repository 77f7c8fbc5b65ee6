//! Checkpoint records as the coordinator stores them (`quiver_coordinator::checkpoint_store`):
//! manifests, state references (chains of blob ids), blob index entries and blob bytes, the
//! history of completed checkpoints, read
//! back from a sled database whose trees hold arbitrary keys and values, as after a disk
//! fault or a bug.
//!
//! The input is a list of entries ([`crate::input::Chunks`]): a tree byte (an index into
//! [`TREES`]), a key chunk and a value chunk. The check writes them into the store's trees
//! and runs every reader: `list`, `history`, `latest_valid`, `stored_bytes`, `manifest`, `read_state`,
//! `state_fingerprint`, an incremental put on top of each listed checkpoint (which reads its
//! chains and compacts their pieces) and `retain`. Properties: no panic, every failure a
//! [`CheckpointStoreError`].

use crate::input::{ChunkWriter, Chunks};
use quiver_coordinator::checkpoint_store::{CheckpointStore, CheckpointStoreError, Manifest};
use quiver_protocol::messages::{IncrementalState, SnapshotKind};
use quiver_protocol::state_piece::{Piece, PieceKind};
use quiver_protocol::state_schema;
use quiver_protocol::{CheckpointId, Generation, JobId, KeyGroup};
use std::collections::BTreeSet;

/// The checkpoint store's sled trees, in the order an entry's tree byte selects them.
pub const TREES: [&str; 4] = [
    "checkpoint_manifests",
    "checkpoint_state",
    "checkpoint_blobs",
    "checkpoint_history",
];

/// Most jobs and checkpoints of one input that the readers visit.
const MAX_VISITED: usize = 4;

thread_local! {
    /// One temporary database per thread, emptied before each input.
    static DB: sled::Db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled database opens");
}

/// Checks one input: entries of the store's trees.
pub fn check(data: &[u8]) {
    DB.with(|db| {
        let trees: Vec<sled::Tree> = TREES
            .iter()
            .map(|name| {
                let tree = db.open_tree(name).expect("opens");
                tree.clear().expect("clears");
                tree
            })
            .collect();
        let mut chunks = Chunks::new(data);
        while let (Some(tree), Some(key), Some(value)) =
            (chunks.byte(), chunks.chunk(), chunks.chunk())
        {
            trees[usize::from(tree) % TREES.len()]
                .insert(key, value)
                .expect("inserts");
        }
        let store = CheckpointStore::open(db).expect("the store opens");
        let jobs: BTreeSet<JobId> = trees[0]
            .iter()
            .keys()
            .filter_map(|k| {
                Some(JobId(u64::from_be_bytes(
                    k.ok()?.get(..8)?.try_into().ok()?,
                )))
            })
            .take(MAX_VISITED)
            .collect();
        for job in jobs {
            // Errors are the typed outcome of corrupt records; only a panic fails the check.
            let _ = read_job(&store, job);
        }
    });
}

/// Runs every reader over one job's records.
fn read_job(store: &CheckpointStore, job: JobId) -> Result<(), CheckpointStoreError> {
    let _ = store.latest_valid(job);
    let _ = store.stored_bytes(job);
    let _ = store.history(job);
    for info in store.list(job)?.into_iter().take(MAX_VISITED) {
        let Ok(Some(manifest)) = store.manifest(job, info.checkpoint) else {
            continue;
        };
        for (operator, _) in manifest.operators.iter().take(MAX_VISITED) {
            let groups = 0..manifest.max_parallelism.min(64);
            let _ = store.read_state(job, info.checkpoint, operator, groups.clone());
            let _ = store.state_fingerprint(job, info.checkpoint, operator);
            let next = CheckpointId(info.checkpoint.0.wrapping_add(1));
            let state = IncrementalState {
                operator: operator.clone(),
                groups,
                base: Some(info.checkpoint),
                meta: wrapped(&Piece::meta(Vec::new(), None)),
            };
            let base = Some((job, info.checkpoint));
            let _ = store.put_incremental(job, next, manifest.generation, base, &state, &[]);
        }
    }
    store.retain(job, 1, &[])
}

/// The trees of real stores: whole-state checkpoints, a savepoint, and an incremental
/// checkpoint whose chains extend its base.
pub fn seeds() -> Vec<Vec<u8>> {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled database opens");
    let store = CheckpointStore::open(&db).expect("opens");
    let job = JobId(1);
    let manifest = |checkpoint: u64, kind| Manifest {
        job,
        checkpoint: CheckpointId(checkpoint),
        generation: Generation(1),
        kind,
        completed_at_ms: 1_700_000_000_000 + checkpoint,
        duration_ms: 12,
        operators: vec![("agg".into(), 2)],
        max_parallelism: 4,
    };
    let mut seeds = Vec::new();
    for (checkpoint, kind) in [(1, SnapshotKind::Checkpoint), (2, SnapshotKind::Savepoint)] {
        for group in 0..4u32 {
            let base = Piece {
                kind: PieceKind::Base,
                meta: None,
                drop_below: None,
                entries: vec![(vec![group as u8], Some(vec![checkpoint as u8; 3]))],
            };
            let bytes = wrapped(&base);
            store
                .put_state(
                    job,
                    CheckpointId(checkpoint),
                    "agg",
                    KeyGroup(group),
                    &bytes,
                )
                .expect("puts");
        }
        store
            .complete(job, &manifest(checkpoint, kind))
            .expect("completes");
        seeds.push(dump(&db));
    }
    let delta = Piece {
        kind: PieceKind::Delta,
        meta: None,
        drop_below: None,
        entries: vec![(b"k".to_vec(), Some(b"v".to_vec()))],
    };
    let state = IncrementalState {
        operator: "agg".into(),
        groups: 0..4,
        base: Some(CheckpointId(1)),
        meta: wrapped(&Piece::meta(vec![7], None)),
    };
    store
        .put_incremental(
            job,
            CheckpointId(3),
            Generation(1),
            Some((job, CheckpointId(1))),
            &state,
            &[(KeyGroup(1), wrapped(&delta))],
        )
        .expect("an incremental put works");
    store
        .complete(job, &manifest(3, SnapshotKind::Checkpoint))
        .expect("completes");
    seeds.push(dump(&db));
    seeds
}

/// A piece as a task uploads it: behind its (here empty) state schema.
fn wrapped(piece: &Piece) -> Vec<u8> {
    state_schema::wrap(b"", &piece.encode())
}

/// Every entry of the store's trees, as an input; the database must have no other tree, so
/// a renamed tree fails here rather than leaving the fuzzing blind.
fn dump(db: &sled::Db) -> Vec<u8> {
    let mut out = ChunkWriter::default();
    for name in db.tree_names() {
        if name == db.name() {
            continue;
        }
        let index = TREES
            .iter()
            .position(|t| t.as_bytes() == &*name)
            .unwrap_or_else(|| {
                panic!("the store has a tree {name:?} the fuzz target does not know")
            });
        for entry in db.open_tree(&name).expect("opens").iter() {
            let (key, value) = entry.expect("reads");
            out.byte(index as u8).chunk(&key).chunk(&value);
        }
    }
    out.finish()
}

//! Keyed-state chains in the store against an independent model: per key group a `BTreeMap`
//! that every write and removal is replayed into. The simulated task uploads, per checkpoint,
//! the values of the keys it changed since its last confirmed checkpoint (so a delta after an
//! aborted checkpoint carries that checkpoint's changes too), and every complete checkpoint —
//! read back as a chain and merged — must equal the model as it was at its barrier, also after
//! pruning, compaction and a copy into another job.

use super::tests::open;
use super::*;
use proptest::prelude::*;
use quiver_protocol::messages::IncrementalState;
use quiver_protocol::state_piece::{self, Piece, PieceKind};
use quiver_protocol::state_schema;
use std::collections::{BTreeMap, BTreeSet};

const SCHEMA: &[u8] = b"schema";
const GROUPS: u32 = 4;

type Model = BTreeMap<u32, BTreeMap<Vec<u8>, Vec<u8>>>;

/// A delta's entry: a key and its value, `None` for a tombstone.
type Change = (Vec<u8>, Option<Vec<u8>>);

fn manifest(job: JobId, checkpoint: u64, kind: SnapshotKind) -> Manifest {
    Manifest {
        job,
        checkpoint: CheckpointId(checkpoint),
        generation: Generation(1),
        kind,
        completed_at_ms: checkpoint,
        duration_ms: 1,
        operators: vec![("agg".into(), 1)],
        max_parallelism: GROUPS,
    }
}

/// The simulated task: its state, and the keys changed since its last confirmed checkpoint.
#[derive(Default)]
struct Task {
    model: Model,
    dirty: BTreeSet<(u32, Vec<u8>)>,
    base: Option<CheckpointId>,
    /// Upload base pieces (every live entry of the changed and the held groups), as a node
    /// does when its copy holds its whole state.
    whole: bool,
}

impl Task {
    fn change(&mut self, group: u32, key: u8, value: Option<u8>) {
        let entries = self.model.entry(group).or_default();
        match value {
            Some(v) => entries.insert(vec![key], vec![v; 1 + usize::from(key % 3)]),
            None => entries.remove(&vec![key]),
        };
        self.dirty.insert((group, vec![key]));
    }

    /// Uploads checkpoint `n` as the deltas of every key changed since the base (or, when
    /// `whole`, as base pieces of every group holding or having changed keys).
    fn upload(&self, store: &CheckpointStore, job: JobId, n: u64, base_job: JobId) {
        let mut deltas: BTreeMap<u32, BTreeMap<Vec<u8>, Option<Vec<u8>>>> = BTreeMap::new();
        for (group, key) in &self.dirty {
            let value = self.model.get(group).and_then(|e| e.get(key)).cloned();
            deltas.entry(*group).or_default().insert(key.clone(), value);
        }
        if self.whole {
            for (group, entries) in &self.model {
                let piece = deltas.entry(*group).or_default();
                piece.extend(entries.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
            }
        }
        let kind = if self.whole {
            PieceKind::Base
        } else {
            PieceKind::Delta
        };
        let deltas: Vec<(KeyGroup, Vec<u8>)> = deltas
            .into_iter()
            .map(|(g, entries)| {
                let entries: Vec<Change> = entries.into_iter().collect();
                let piece = Piece {
                    kind,
                    meta: None,
                    drop_below: None,
                    entries,
                };
                (KeyGroup(g), state_schema::wrap(SCHEMA, &piece.encode()))
            })
            .collect();
        let state = IncrementalState {
            operator: "agg".into(),
            groups: 0..GROUPS,
            base: self.base,
            meta: state_schema::wrap(
                SCHEMA,
                &Piece::meta(n.to_be_bytes().to_vec(), None).encode(),
            ),
        };
        let base = self.base.map(|b| (base_job, b));
        store
            .put_incremental(job, CheckpointId(n), Generation(1), base, &state, &deltas)
            .unwrap();
    }

    /// The coordinator confirmed checkpoint `n`: the changes up to it are stored.
    fn confirm(&mut self, n: u64) {
        self.dirty.clear();
        self.base = Some(CheckpointId(n));
    }
}

/// Every group's chain of `checkpoint`, merged, and the header it ends with.
fn restored(store: &CheckpointStore, job: JobId, checkpoint: u64) -> Model {
    let pieces = store
        .read_state(job, CheckpointId(checkpoint), "agg", 0..GROUPS)
        .unwrap();
    let mut chains: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    for (group, bytes) in pieces {
        let (_, payload) = state_schema::parts(&bytes).unwrap();
        chains.entry(group.0).or_default().push(payload.to_vec());
    }
    chains
        .into_iter()
        .filter_map(|(g, chain)| {
            let merged = state_piece::merge(chain.iter().map(Vec::as_slice)).unwrap();
            assert_eq!(
                merged.meta,
                Some(checkpoint.to_be_bytes().to_vec()),
                "every chain ends with its checkpoint's header"
            );
            (!merged.entries.is_empty()).then(|| (g, merged.entries.into_iter().collect()))
        })
        .collect()
}

fn live(model: &Model) -> Model {
    model
        .iter()
        .filter(|(_, e)| !e.is_empty())
        .map(|(g, e)| (*g, e.clone()))
        .collect()
}

/// One interval: the changes, whether its checkpoint completes (or is aborted), and whether
/// the task uploads its whole state as base pieces.
type Interval = (Vec<(u32, u8, Option<u8>)>, bool, bool);

fn intervals() -> impl Strategy<Value = Vec<Interval>> {
    let change = (0..GROUPS, 0u8..40, proptest::option::of(0u8..5));
    proptest::collection::vec(
        (
            proptest::collection::vec(change, 0..30),
            proptest::bool::weighted(0.8),
            proptest::bool::weighted(0.2),
        ),
        1..30,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn complete_checkpoints_restore_the_state_at_their_barrier(intervals in intervals()) {
        let dir = tempfile::tempdir().unwrap();
        let (_db, store) = open(&dir);
        let job = JobId(1);
        let mut task = Task::default();
        let mut expected: BTreeMap<u64, Model> = BTreeMap::new();
        let mut savepoint: Option<(u64, Model)> = None;
        for (i, (changes, completes, whole)) in intervals.iter().enumerate() {
            let n = i as u64 + 1;
            for &(g, k, v) in changes {
                task.change(g, k, v);
            }
            task.whole = *whole;
            task.upload(&store, job, n, job);
            if !completes {
                store.abort(job, CheckpointId(n)).unwrap();
                continue;
            }
            let kind = if n % 7 == 3 { SnapshotKind::Savepoint } else { SnapshotKind::Checkpoint };
            store.complete(job, &manifest(job, n, kind)).unwrap();
            task.confirm(n);
            expected.insert(n, live(&task.model));
            if kind == SnapshotKind::Savepoint {
                savepoint = Some((n, live(&task.model)));
            }
            store.retain(job, 2, &[]).unwrap();
            let kept: Vec<u64> = store.list(job).unwrap().iter().map(|c| c.checkpoint.0).collect();
            for k in kept {
                prop_assert_eq!(&restored(&store, job, k), &expected[&k], "checkpoint {}", k);
            }
        }
        if let Some((s, state)) = savepoint {
            prop_assert_eq!(&restored(&store, job, s), &state, "the savepoint's chains live");
            // A job started from the savepoint extends its chains in its own store.
            let other = JobId(2);
            let mut task = Task { model: state.clone(), base: Some(CheckpointId(s)), ..Task::default() };
            task.change(0, 1, Some(9));
            task.upload(&store, other, s + 1, job);
            store.complete(other, &manifest(other, s + 1, SnapshotKind::Checkpoint)).unwrap();
            store.retain(job, 0, &[]).unwrap();
            let mut savepoints_gone = store.list(job).unwrap();
            savepoints_gone.retain(|c| c.kind == SnapshotKind::Checkpoint);
            prop_assert!(savepoints_gone.is_empty());
            prop_assert_eq!(restored(&store, other, s + 1), live(&task.model));
        }
    }
}

#[test]
fn a_delta_on_a_missing_base_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let task = Task {
        base: Some(CheckpointId(4)),
        ..Task::default()
    };
    let state = IncrementalState {
        operator: "agg".into(),
        groups: 0..GROUPS,
        base: task.base,
        meta: Vec::new(),
    };
    let err = store
        .put_incremental(
            JobId(1),
            CheckpointId(5),
            Generation(1),
            Some((JobId(1), CheckpointId(4))),
            &state,
            &[],
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a complete checkpoint"),
        "{err}"
    );
    let outside = [(KeyGroup(GROUPS), Vec::new())];
    let err = store
        .put_incremental(
            JobId(1),
            CheckpointId(5),
            Generation(1),
            None,
            &state,
            &outside,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("outside the task's key groups"),
        "{err}"
    );
}

#[test]
fn a_task_whose_confirmations_lag_behind_retention_extends_a_newer_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let job = JobId(1);
    let mut task = Task::default();
    for n in 1..=5u64 {
        for k in 0..8u8 {
            // Every interval rewrites some keys and removes one.
            task.change(u32::from(k) % GROUPS, k + (n as u8 % 3), Some(n as u8));
        }
        task.change(0, n as u8, None);
        // Only checkpoint 1's commit reaches the task: later deltas are all against 1, which
        // retention prunes once 3 completes.
        task.upload(&store, job, n, job);
        store
            .complete(job, &manifest(job, n, SnapshotKind::Checkpoint))
            .unwrap();
        if n == 1 {
            task.confirm(1);
        }
        store.retain(job, 2, &[]).unwrap();
        assert_eq!(
            restored(&store, job, n),
            live(&task.model),
            "checkpoint {n}"
        );
    }
    assert!(!store.is_complete(job, CheckpointId(1)).unwrap());
    // Another generation (after a recovery) never extends this one's checkpoints.
    let state = IncrementalState {
        operator: "agg".into(),
        groups: 0..GROUPS,
        base: Some(CheckpointId(1)),
        meta: Vec::new(),
    };
    let base = Some((job, CheckpointId(1)));
    let err = store
        .put_incremental(job, CheckpointId(6), Generation(2), base, &state, &[])
        .unwrap_err();
    assert!(
        err.to_string().contains("is not a complete checkpoint"),
        "{err}"
    );
}

#[test]
fn unchanged_groups_store_no_bytes_and_long_chains_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let job = JobId(1);
    let mut task = Task::default();
    for k in 0..40 {
        task.change(u32::from(k) % GROUPS, k, Some(1));
    }
    let mut lengths = Vec::new();
    for n in 1..=(MAX_CHAIN_PIECES as u64 + 2) {
        if n > 1 {
            task.change(0, (n % 40) as u8, Some(n as u8));
        }
        task.upload(&store, job, n, job);
        store
            .complete(job, &manifest(job, n, SnapshotKind::Checkpoint))
            .unwrap();
        task.confirm(n);
        // Groups 1..4 did not change: their chains reference checkpoint 1's pieces.
        let others = |n: u64| {
            let chains = store
                .chains(job, CheckpointId(n), "agg", 1..GROUPS)
                .unwrap();
            chains
                .into_iter()
                .map(|(g, c)| (g, c.pieces))
                .collect::<Vec<_>>()
        };
        assert_eq!(others(n), others(1), "checkpoint {n}");
        let chain = store.chains(job, CheckpointId(n), "agg", 0..1).unwrap();
        lengths.push(chain[0].1.pieces.len());
        assert_eq!(restored(&store, job, n), live(&task.model));
    }
    assert_eq!(lengths[..3], [1, 2, 3]);
    assert!(
        lengths.iter().all(|&l| l <= MAX_CHAIN_PIECES),
        "compacted: {lengths:?}"
    );
    assert!(lengths.contains(&1) && lengths.iter().skip(1).any(|&l| l == 1));
}

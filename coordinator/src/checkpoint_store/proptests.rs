//! Random sequences of put / complete / skip / abort / retain against a naive model: every
//! checkpoint the model retains reads back exactly, `list` and `latest_valid` agree with the
//! model, and after each `retain` the stored bytes are exactly the distinct contents still
//! referenced.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const JOB: JobId = JobId(3);
const OPERATORS: [&str; 2] = ["map", "window"];
const GROUPS: u32 = 6;

#[derive(Clone, Debug)]
enum Op {
    Put {
        operator: usize,
        group: u32,
        content: u8,
    },
    Complete {
        savepoint: bool,
    },
    /// The in-flight checkpoint is left incomplete and the next one starts.
    Skip,
    Abort,
    Retain {
        keep: usize,
        pin: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..OPERATORS.len(), 0..GROUPS, 0u8..6)
            .prop_map(|(operator, group, content)| Op::Put { operator, group, content }),
        3 => proptest::bool::weighted(0.2).prop_map(|savepoint| Op::Complete { savepoint }),
        1 => Just(Op::Skip),
        1 => Just(Op::Abort),
        2 => (0usize..3, proptest::option::of(0usize..4)).prop_map(|(keep, pin)| Op::Retain { keep, pin }),
    ]
}

/// Content `c`: `c * 5` bytes of a pattern (content 0 is empty).
fn content(c: u8) -> Vec<u8> {
    (0..usize::from(c) * 5)
        .map(|i| c.wrapping_mul(17) ^ i as u8)
        .collect()
}

type State = BTreeMap<(usize, u32), u8>;

#[derive(Default)]
struct Model {
    /// Complete snapshots: id → (savepoint?, state).
    complete: BTreeMap<u64, (bool, State)>,
    /// Incomplete checkpoints with state, including the in-flight one.
    incomplete: BTreeMap<u64, State>,
    in_flight: u64,
}

impl Model {
    fn referenced_bytes(&self) -> u64 {
        let contents: BTreeSet<u8> = self
            .complete
            .values()
            .map(|(_, s)| s)
            .chain(self.incomplete.values())
            .flat_map(|s| s.values().copied())
            .collect();
        contents.iter().map(|c| content(*c).len() as u64).sum()
    }
}

fn check(store: &CheckpointStore, model: &Model) {
    let listed: Vec<u64> = store
        .list(JOB)
        .unwrap()
        .iter()
        .map(|i| i.checkpoint.0)
        .collect();
    assert_eq!(listed, model.complete.keys().copied().collect::<Vec<_>>());
    let latest = store.latest_valid(JOB).unwrap().map(|m| m.checkpoint.0);
    assert_eq!(latest, model.complete.keys().next_back().copied());
    for (chk, (_, state)) in &model.complete {
        for (o, name) in OPERATORS.iter().enumerate() {
            let read = store
                .read_state(JOB, CheckpointId(*chk), name, 0..GROUPS)
                .unwrap();
            let expected: Vec<(KeyGroup, Vec<u8>)> = state
                .iter()
                .filter(|((op, _), _)| *op == o)
                .map(|((_, g), c)| (KeyGroup(*g), content(*c)))
                .collect();
            assert_eq!(read, expected, "{name} in chk-{chk}");
        }
    }
}

fn run(ops: &[Op]) {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = CheckpointStore::open(&db).unwrap();
    let mut model = Model {
        in_flight: 1,
        ..Model::default()
    };
    for op in ops {
        let chk = CheckpointId(model.in_flight);
        match op {
            Op::Put {
                operator,
                group,
                content: c,
            } => {
                store
                    .put_state(
                        JOB,
                        chk,
                        OPERATORS[*operator],
                        KeyGroup(*group),
                        &content(*c),
                    )
                    .unwrap();
                model
                    .incomplete
                    .entry(chk.0)
                    .or_default()
                    .insert((*operator, *group), *c);
            }
            Op::Complete { savepoint } => {
                let kind = if *savepoint {
                    SnapshotKind::Savepoint
                } else {
                    SnapshotKind::Checkpoint
                };
                let manifest = Manifest {
                    job: JOB,
                    checkpoint: chk,
                    generation: Generation(1),
                    kind,
                    completed_at_ms: 0,
                    duration_ms: 0,
                    operators: OPERATORS.iter().map(|o| (o.to_string(), 2)).collect(),
                    max_parallelism: GROUPS,
                };
                store.complete(JOB, &manifest).unwrap();
                let state = model.incomplete.remove(&chk.0).unwrap_or_default();
                model.complete.insert(chk.0, (*savepoint, state));
                model.in_flight += 1;
            }
            Op::Skip => model.in_flight += 1,
            Op::Abort => {
                store.abort(JOB, chk).unwrap();
                model.incomplete.remove(&chk.0);
                model.in_flight += 1;
            }
            Op::Retain { keep, pin } => {
                let pinned: Vec<CheckpointId> = pin
                    .and_then(|i| model.complete.keys().nth(i))
                    .map(|id| CheckpointId(*id))
                    .into_iter()
                    .collect();
                store.retain(JOB, *keep, &pinned).unwrap();
                // The model's rule, written out: the newest `keep` checkpoints, savepoints, pins.
                let newest: Vec<u64> = model
                    .complete
                    .iter()
                    .rev()
                    .filter(|(_, (savepoint, _))| !savepoint)
                    .take(*keep)
                    .map(|(id, _)| *id)
                    .collect();
                let newest_complete = model.complete.keys().next_back().copied();
                model.complete.retain(|id, (savepoint, _)| {
                    *savepoint || newest.contains(id) || pinned.contains(&CheckpointId(*id))
                });
                model
                    .incomplete
                    .retain(|id, _| newest_complete.is_none_or(|n| *id > n));
                assert_eq!(store.stored_bytes(JOB).unwrap(), model.referenced_bytes());
            }
        }
        check(&store, &model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_retained_checkpoint_stays_fully_readable(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }
}

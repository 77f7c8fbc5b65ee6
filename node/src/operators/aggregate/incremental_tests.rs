//! Incremental checkpoints of every aggregate kind against independent references: the
//! operator runs with barriers, some of whose checkpoints are aborted; the completed ones are
//! composed into chains as the coordinator composes them (the chain of the base, the delta,
//! the header); then fresh operators restore the last complete checkpoint — whole, or split
//! by key-group range over two partitions — and replay the input after its barrier. What the
//! original emitted before that barrier and the restored operators emitted after it must be
//! exactly the rows a brute-force reference computes over the whole input.

use super::test_support::*;
use super::window_tests::{aligned_reference, session_reference};
use crate::operator::{Operator, Output};
use crate::operators::build_stage;
use crate::state::test_support::Chains;
use crate::watermark::WatermarkGenerator;
use quiver_protocol::keygroup::{key_group, key_groups_of, key_hash_code, partition_of};
use quiver_protocol::spec::WindowSpec;
use quiver_protocol::state_piece::{Piece, PieceKind};
use quiver_protocol::{CheckpointId, PartitionId, Record, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const GROUPS: u32 = 128;
const LAG: i64 = 40;

fn user(r: &Record) -> i64 {
    match r.row[0] {
        Value::I64(u) => u,
        _ => panic!("user"),
    }
}

/// The partition of `parallelism` that owns `user`'s key group.
fn owner(user: i64, parallelism: u32) -> u32 {
    let g = key_group(key_hash_code([Value::I64(user)].iter()), GROUPS);
    partition_of(g, GROUPS, parallelism).0
}

/// Runs `input` in `completes.len()` intervals, a barrier after each whose checkpoint
/// completes or is aborted as `completes` says; restores the last complete one at
/// `parallelism` and replays the rest. Returns every row emitted, original and restored.
fn run_with_recovery(
    build: &dyn Fn() -> Box<dyn Operator>,
    input: &[Record],
    completes: &[bool],
    parallelism: u32,
) -> Vec<Record> {
    let mut op = build();
    let mut wm = WatermarkGenerator::new(LAG);
    let mut chains = Chains::default();
    let mut confirmed: Option<(u64, usize, Vec<Record>, WatermarkGenerator)> = None;
    let mut emitted = Vec::new();
    let interval = input.len() / completes.len();
    for (i, &completes) in completes.iter().enumerate() {
        let n = i as u64 + 1;
        let (out, late) = feed(
            op.as_mut(),
            &input[i * interval..(i + 1) * interval],
            37,
            &mut wm,
        );
        assert!(late.is_empty(), "the lag covers the disorder");
        emitted.extend(out);
        let changes = op
            .snapshot_changes(CheckpointId(n))
            .expect("copy")
            .expect("a keyed-state operator")
            .serialize()
            .expect("encode");
        if completes {
            chains.complete(n, confirmed.as_ref().map(|c| c.0), changes);
            op.confirm(CheckpointId(n));
            confirmed = Some((n, (i + 1) * interval, emitted.clone(), wm));
        }
    }
    let (n, position, mut all, wm) = confirmed.expect("a checkpoint completed");
    let rest = &input[position..];
    for p in 0..parallelism {
        let mut restored = build();
        restored
            .restore(chains.restore(n, key_groups_of(PartitionId(p), GROUPS, parallelism)))
            .expect("restore");
        let mine: Vec<Record> = rest
            .iter()
            .filter(|r| owner(user(r), parallelism) == p)
            .cloned()
            .collect();
        let mut wm = wm;
        let mut out = Output::default();
        for chunk in rest.chunks(37) {
            chunk.iter().for_each(|r| wm.observe(r.event_time));
            let own: Vec<Record> = chunk.iter().filter(|r| mine.contains(r)).cloned().collect();
            restored
                .process_batch(&batch(&own), &mut out)
                .expect("process");
            if let Some(w) = wm.watermark() {
                restored.on_watermark(w, &mut out).expect("watermark");
            }
        }
        restored.on_end(&mut out).expect("end");
        assert!(out.late.is_empty());
        all.extend(records(&out.records));
    }
    all
}

/// Running rows by brute force: after each record, its user's aggregates so far.
fn running_reference(input: &[Record]) -> Vec<Record> {
    let mut amounts: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    input
        .iter()
        .map(|r| {
            let seen = amounts.entry(user(r)).or_default();
            seen.push(amount(r));
            let mut row = vec![Value::I64(user(r))];
            row.extend(reference_aggregates(seen));
            Record {
                event_time: r.event_time,
                row,
            }
        })
        .collect()
}

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// Which checkpoints complete: aborted ones in the middle and after the last complete one.
const PATTERNS: [&[bool]; 3] = [
    &[true, false, true, true, false, false],
    &[false, false, true, false, true, false],
    &[true, true, true, true, true, true],
];

#[test]
fn every_aggregate_restores_exactly_from_chains_across_aborted_checkpoints() {
    let input = events(3000, 1000, LAG, 17);
    let kinds: [(Option<WindowSpec>, Vec<Record>); 4] = [
        (None, running_reference(&input)),
        (
            Some(WindowSpec::Tumbling { size: ms(200) }),
            aligned_reference(&input, 200, 200),
        ),
        (
            Some(WindowSpec::Sliding {
                size: ms(300),
                slide: ms(100),
            }),
            aligned_reference(&input, 300, 100),
        ),
        (
            Some(WindowSpec::Session { gap: ms(151) }),
            session_reference(&input, 151),
        ),
    ];
    for (window, expected) in kinds {
        let build =
            || build_stage(&stage(&["user"], window), &schema(), &ctx(GROUPS)).expect("build");
        for completes in PATTERNS {
            for parallelism in [1, 2] {
                let got = run_with_recovery(&build, &input, completes, parallelism);
                assert_eq!(
                    sorted(&got),
                    sorted(&expected),
                    "{window:?}, checkpoints {completes:?}, parallelism {parallelism}"
                );
            }
        }
    }
}

#[test]
fn a_checkpoint_copies_only_the_keys_changed_since_the_last_confirmed_one() {
    let mut op = build_stage(&stage(&["user"], None), &schema(), &ctx(GROUPS)).expect("build");
    let input = events(2000, 500, 0, 3);
    feed(op.as_mut(), &input, 100, &mut WatermarkGenerator::new(0));
    let keys = |changes: &crate::operator::Changes| -> usize {
        changes
            .deltas
            .iter()
            .map(|d| {
                let piece = Piece::decode(&d.bytes).expect("piece");
                piece.entries.len()
            })
            .sum()
    };
    let barrier = |op: &mut Box<dyn Operator>, n: u64| {
        let copy = op.snapshot_changes(CheckpointId(n)).unwrap().unwrap();
        copy.serialize().unwrap()
    };
    let kinds = |changes: &crate::operator::Changes| -> Vec<PieceKind> {
        let mut kinds: Vec<PieceKind> = changes
            .deltas
            .iter()
            .map(|d| Piece::kind_of(&d.bytes).expect("piece"))
            .collect();
        kinds.dedup();
        kinds
    };
    let first = barrier(&mut op, 1);
    let users: std::collections::BTreeSet<i64> = input.iter().map(user).collect();
    assert_eq!(keys(&first), users.len(), "every key, once");
    assert_eq!(kinds(&first), [PieceKind::Base], "the whole state: bases");
    op.confirm(CheckpointId(1));
    // Three keys change; checkpoint 2 is aborted, so checkpoint 3 carries them too.
    let few = [(7, 5.0), (8, 1.0), (7, 2.0)].map(|(u, a)| {
        let mut r = input[0].clone();
        r.row[0] = Value::I64(u);
        r.row[1] = Value::F64(a);
        r
    });
    let mut out = Output::default();
    op.process_batch(&batch(&few[..2]), &mut out).unwrap();
    let second = barrier(&mut op, 2);
    assert_eq!((keys(&second), kinds(&second)), (2, vec![PieceKind::Delta]));
    op.process_batch(&batch(&few[2..]), &mut out).unwrap();
    let mut other = input[0].clone();
    other.row[0] = Value::I64(9);
    op.process_batch(&batch(&[other]), &mut out).unwrap();
    assert_eq!(keys(&barrier(&mut op, 3)), 3, "keys 7, 8 (aborted 2) and 9");
    op.confirm(CheckpointId(3));
    assert_eq!(keys(&barrier(&mut op, 4)), 0, "nothing changed");
}

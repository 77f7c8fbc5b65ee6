//! Running aggregates against a naive reference, for each key type; snapshot and restore.

use super::test_support::*;
use crate::operator::{KeyGroupState, Operator, Output};
use crate::operators::build_stage;
use crate::watermark::WatermarkGenerator;
use quiver_protocol::keygroup::{key_group, key_groups_of, key_hash_code, partition_of};
use quiver_protocol::spec::WindowSpec;
use quiver_protocol::{PartitionId, Record, Value};
use std::collections::HashMap;
use std::time::Duration;

/// What a running aggregate must emit: per record, its key's aggregates so far.
fn running_reference(records: &[Record], key: &[usize]) -> Vec<Record> {
    let mut seen: HashMap<String, Vec<f64>> = HashMap::new();
    records
        .iter()
        .map(|r| {
            let k: Vec<Value> = key.iter().map(|&c| r.row[c].clone()).collect();
            let amounts = seen.entry(format!("{k:?}")).or_default();
            amounts.push(amount(r));
            let mut row = k;
            row.extend(reference_aggregates(amounts));
            Record {
                event_time: r.event_time,
                row,
            }
        })
        .collect()
}

#[test]
fn running_aggregate_matches_reference_for_every_key_type() {
    let input = events(3000, 50, 0, 7);
    for (key, columns) in [
        (vec!["user"], vec![0]),
        (vec!["name"], vec![3]),
        (vec!["user", "name"], vec![0, 3]),
        (vec![], vec![]),
    ] {
        let mut op = build_stage(&stage(&key, None), &schema(), &ctx(128)).expect("build");
        let (out, late) = run(op.as_mut(), &input, 97, 0);
        assert!(late.is_empty());
        let distinct: std::collections::HashSet<String> = input
            .iter()
            .map(|r| {
                format!(
                    "{:?}",
                    columns.iter().map(|&c| &r.row[c]).collect::<Vec<_>>()
                )
            })
            .collect();
        assert_eq!(
            op.state_entries(),
            distinct.len() as u64,
            "one entry per key"
        );
        assert_eq!(out, running_reference(&input, &columns), "key {key:?}");
    }
}

#[test]
fn null_values_are_skipped_and_null_keys_are_a_key() {
    let mut op = build_stage(&stage(&["user"], None), &schema(), &ctx(128)).expect("build");
    let rec = |user: Value, amount: Value| Record {
        event_time: 1,
        row: vec![user, amount, Value::I64(1), Value::from("x")],
    };
    let mut out = Output::default();
    op.process_batch(
        &batch(&[
            rec(Value::Null, Value::Null),
            rec(Value::Null, Value::F64(2.0)),
            rec(Value::I64(1), Value::Null),
        ]),
        &mut out,
    )
    .expect("process");
    let rows: Vec<Vec<Value>> = records(&out.records).into_iter().map(|r| r.row).collect();
    let f = Value::F64;
    assert_eq!(
        rows,
        vec![
            vec![
                Value::Null,
                Value::I64(1),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ],
            vec![Value::Null, Value::I64(2), f(2.0), f(2.0), f(2.0), f(2.0)],
            vec![
                Value::I64(1),
                Value::I64(1),
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null
            ],
        ]
    );
}

#[test]
fn f64_keys_of_one_value_are_one_group() {
    // -0.0 and 0.0 are one number, printed as 0.0; NaNs with another sign or payload are one
    // NaN. Each is one group, alone or beside another key column, and in one key group.
    let other_nan = f64::from_bits(f64::NAN.to_bits() ^ (1 << 63) ^ 1);
    assert!(other_nan.is_nan() && other_nan.to_bits() != f64::NAN.to_bits());
    let amounts = [0.0, -0.0, 0.0, -0.0, f64::NAN, other_nan];
    let window = WindowSpec::Tumbling {
        size: Duration::from_millis(1000),
    };
    for (key, width) in [(vec!["amount"], 1), (vec!["user", "amount"], 2)] {
        let mut op = build_stage(&stage(&key, Some(window)), &schema(), &ctx(128)).expect("build");
        let input: Vec<Record> = amounts
            .iter()
            .map(|&a| Record {
                event_time: 5,
                row: vec![
                    Value::I64(1),
                    Value::F64(a),
                    Value::I64(5),
                    Value::from("x"),
                ],
            })
            .collect();
        let mut out = Output::default();
        op.process_batch(&batch(&input), &mut out).expect("process");
        op.on_end(&mut out).expect("end");
        let mut groups: Vec<(u64, Value)> = records(&out.records)
            .iter()
            .map(|r| match r.row[width - 1] {
                Value::F64(k) => (k.to_bits(), r.row[width + 2].clone()),
                ref other => panic!("key {other:?}"),
            })
            .collect();
        groups.sort_by_key(|g| g.0);
        assert_eq!(
            groups,
            vec![(0, Value::I64(4)), (f64::NAN.to_bits(), Value::I64(2))],
            "key {key:?}: +0.0 holding 4 records, the canonical NaN 2"
        );
    }
    let group = |x: f64| key_group(key_hash_code([Value::I64(1), Value::F64(x)].iter()), 128);
    assert_eq!(group(-0.0), group(0.0));
    assert_eq!(group(other_nan), group(f64::NAN));
}

/// A batch of `record` whose columns have the types of its values, whatever the schema says.
fn batch_as_is(record: Record) -> quiver_protocol::batch::Batch {
    let names: Vec<String> = (0..record.row.len()).map(|i| format!("c{i}")).collect();
    let schema = quiver_protocol::Schema::new(
        names
            .iter()
            .zip(&record.row)
            .map(|(n, v)| (n.as_str(), v.value_type().expect("a value"))),
    );
    quiver_protocol::batch::from_records(&schema, &[record]).expect("one record")
}

#[test]
fn wrong_value_types_are_errors_not_panics() {
    let mut op = build_stage(&stage(&["user"], None), &schema(), &ctx(128)).expect("build");
    let mut out = Output::default();
    let bad_key = Record {
        event_time: 0,
        row: vec![
            Value::from("u"),
            Value::F64(1.0),
            Value::I64(0),
            Value::from("x"),
        ],
    };
    let e = op
        .process_batch(&batch_as_is(bad_key), &mut out)
        .expect_err("bad key");
    assert_eq!(
        e.to_string(),
        "stage \"agg\": key column: expected i64, found string"
    );
    let bad_amount = Record {
        event_time: 0,
        row: vec![
            Value::I64(1),
            Value::from("1.5"),
            Value::I64(0),
            Value::from("x"),
        ],
    };
    let e = op
        .process_batch(&batch_as_is(bad_amount), &mut out)
        .expect_err("bad amount");
    assert_eq!(
        e.to_string(),
        "stage \"agg\": column \"amount\": expected a number, found a string"
    );
    let short = Record {
        event_time: 0,
        row: vec![Value::I64(1)],
    };
    assert!(op.process_batch(&batch_as_is(short), &mut out).is_err());
}

#[test]
fn output_schema_must_match_the_emitted_layout() {
    let mut spec = stage(&["user"], None);
    spec.schema.columns.swap(1, 2);
    let e = build_stage(&spec, &schema(), &ctx(128))
        .err()
        .expect("mismatch");
    assert_eq!(
        e.to_string(),
        "stage \"agg\": the spec's output schema (user, s, n, lo, hi, mean) is not what the aggregate emits (user, n, s, lo, hi, mean)"
    );
}

#[test]
fn unknown_columns_are_build_errors() {
    let e = build_stage(&stage(&["nope"], None), &schema(), &ctx(128))
        .err()
        .expect("unknown key");
    assert_eq!(
        e.to_string(),
        "stage \"agg\": key column \"nope\" is not in the input (columns: user, amount, ts, name)"
    );
}

/// Which partition of `parallelism` (out of 128 key groups) owns a state entry / record key.
fn owner(user: i64, parallelism: u32) -> u32 {
    let g = key_group(key_hash_code([Value::I64(user)].iter()), 128);
    partition_of(g, 128, parallelism).0
}

/// Restores `states` split over `parallelism` fresh operators, by key-group ranges.
pub(super) fn restore_split(
    build: &dyn Fn() -> Box<dyn Operator>,
    states: &[KeyGroupState],
    parallelism: u32,
) -> Vec<Box<dyn Operator>> {
    (0..parallelism)
        .map(|p| {
            let range = key_groups_of(PartitionId(p), 128, parallelism);
            let mine: Vec<KeyGroupState> = states
                .iter()
                .filter(|s| range.contains(&s.group.0))
                .cloned()
                .collect();
            let mut op = build();
            op.restore(mine.into()).expect("restore");
            op
        })
        .collect()
}

/// Snapshot after the first half, then: the original, one restored copy, and two restored
/// halves (records routed by key group) all emit the same rows for the second half.
pub(super) fn check_snapshot_restore(
    build: &dyn Fn() -> Box<dyn Operator>,
    input: &[Record],
    lag: i64,
) {
    let (first, second) = input.split_at(input.len() / 2);
    let mut original = build();
    let mut wm = WatermarkGenerator::new(lag);
    feed(original.as_mut(), first, 50, &mut wm);
    let states = original.snapshot().expect("snapshot");
    assert!(!states.is_empty());
    let mut groups: Vec<u32> = states.iter().map(|s| s.group.0).collect();
    groups.dedup();
    assert_eq!(groups.len(), states.len(), "one entry per key group");

    let expected = {
        let mut wm = wm;
        let (mut out, late) = feed(original.as_mut(), second, 50, &mut wm);
        let mut end = Output::default();
        original.on_end(&mut end).expect("end");
        out.extend(records(&end.records));
        (sorted(&out), sorted(&late))
    };
    for parallelism in [1, 2] {
        let mut ops = restore_split(build, &states, parallelism);
        let mut all = Vec::new();
        let mut all_late = Vec::new();
        for (p, op) in ops.iter_mut().enumerate() {
            let mine: Vec<Record> = second
                .iter()
                .filter(|r| match r.row[0] {
                    Value::I64(u) => owner(u, parallelism) == p as u32,
                    _ => false,
                })
                .cloned()
                .collect();
            // Watermarks follow the whole stream, as the runtime broadcasts them.
            let mut wm = wm;
            let mut out = Output::default();
            for chunk in second.chunks(50) {
                chunk.iter().for_each(|r| wm.observe(r.event_time));
                let own: Vec<Record> = chunk.iter().filter(|r| mine.contains(r)).cloned().collect();
                op.process_batch(&batch(&own), &mut out).expect("process");
                if let Some(w) = wm.watermark() {
                    op.on_watermark(w, &mut out).expect("watermark");
                }
            }
            op.on_end(&mut out).expect("end");
            all.extend(records(&out.records));
            all_late.extend(records(&out.late));
        }
        assert_eq!(
            (sorted(&all), sorted(&all_late)),
            expected,
            "parallelism {parallelism}"
        );
    }
}

#[test]
fn running_snapshot_restores_into_one_or_two_operators() {
    let input = events(2000, 40, 0, 3);
    let build = || build_stage(&stage(&["user"], None), &schema(), &ctx(128)).expect("build");
    check_snapshot_restore(&build, &input, 0);
}

#[test]
fn corrupt_state_is_an_error() {
    let mut op = build_stage(&stage(&["user"], None), &schema(), &ctx(128)).expect("build");
    let e = op
        .restore(
            vec![KeyGroupState {
                group: quiver_protocol::KeyGroup(3),
                bytes: vec![0xff; 16],
            }]
            .into(),
        )
        .expect_err("garbage");
    assert!(
        e.to_string()
            .starts_with("state: stage \"agg\": cannot decode kg3"),
        "{e}"
    );
}

#[test]
fn a_state_copy_serialises_to_the_same_snapshot_and_is_unaffected_by_later_records() {
    use quiver_protocol::spec::WindowSpec;
    use std::time::Duration;
    let input = events(2000, 40, 300, 11);
    let (before, after) = input.split_at(1200);
    for window in [
        None,
        Some(WindowSpec::Tumbling {
            size: Duration::from_millis(100),
        }),
        Some(WindowSpec::Session {
            gap: Duration::from_millis(50),
        }),
    ] {
        let mut op = build_stage(&stage(&["user"], window), &schema(), &ctx(128)).expect("build");
        feed(op.as_mut(), before, 97, &mut WatermarkGenerator::new(300));
        let expected = op.snapshot().expect("snapshot");
        let copy = op.snapshot_copy().expect("copy");
        // The task goes on while the copy waits for its encoding thread.
        feed(op.as_mut(), after, 97, &mut WatermarkGenerator::new(300));
        assert_eq!(copy.serialize().expect("serialise"), expected, "{window:?}");
    }
}

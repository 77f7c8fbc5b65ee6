//! Tumbling, sliding and session windows against naive references; lateness; restore.

use super::test_support::*;
use super::tests::check_snapshot_restore;
use crate::operator::{Operator, Output};
use crate::operators::build_stage;
use quiver_protocol::spec::WindowSpec;
use quiver_protocol::{Record, Value};
use std::collections::BTreeMap;
use std::time::Duration;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// Rows of aligned windows computed by brute force: every window start (a multiple of
/// `slide`) from far below each record, kept when the record falls inside.
pub(super) fn aligned_reference(records: &[Record], size: i64, slide: i64) -> Vec<Record> {
    let mut windows: BTreeMap<(i64, i64), Vec<f64>> = BTreeMap::new();
    for r in records {
        let t = r.event_time;
        let mut start = (t - size - slide).div_euclid(slide) * slide;
        while start <= t {
            if start <= t && t < start + size {
                let Value::I64(user) = r.row[0] else {
                    panic!("user")
                };
                windows.entry((user, start)).or_default().push(amount(r));
            }
            start += slide;
        }
    }
    windows
        .into_iter()
        .map(|((user, start), amounts)| {
            let mut row = vec![
                Value::I64(user),
                Value::I64(start),
                Value::I64(start + size),
            ];
            row.extend(reference_aggregates(&amounts));
            Record {
                event_time: start + size - 1,
                row,
            }
        })
        .collect()
}

/// Sessions by brute force: per user, sort the times, cut where the next is more than `gap`
/// after the previous.
pub(super) fn session_reference(records: &[Record], gap: i64) -> Vec<Record> {
    let mut per_user: BTreeMap<i64, Vec<(i64, f64)>> = BTreeMap::new();
    for r in records {
        let Value::I64(user) = r.row[0] else {
            panic!("user")
        };
        per_user
            .entry(user)
            .or_default()
            .push((r.event_time, amount(r)));
    }
    let mut out = Vec::new();
    for (user, mut events) in per_user {
        events.sort_by_key(|e| e.0);
        let mut session: Vec<(i64, f64)> = Vec::new();
        let mut close = |session: &mut Vec<(i64, f64)>| {
            if let (Some(first), Some(last)) = (session.first(), session.last()) {
                let (start, end) = (first.0, last.0 + gap);
                let amounts: Vec<f64> = session.iter().map(|e| e.1).collect();
                let mut row = vec![Value::I64(user), Value::I64(start), Value::I64(end)];
                row.extend(reference_aggregates(&amounts));
                out.push(Record {
                    event_time: end - 1,
                    row,
                });
            }
            session.clear();
        };
        for e in events {
            if session.last().is_some_and(|last| e.0 > last.0 + gap) {
                close(&mut session);
            }
            session.push(e);
        }
        close(&mut session);
    }
    out
}

/// Emitted rows must come in window-end order.
fn assert_end_order(out: &[Record]) {
    assert!(
        out.windows(2).all(|w| w[0].event_time <= w[1].event_time),
        "fired out of order"
    );
}

#[test]
fn tumbling_matches_reference_with_out_of_order_input() {
    let input = events(5000, 30, 60, 11);
    let window = WindowSpec::Tumbling { size: ms(100) };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let (out, late) = run(op.as_mut(), &input, 64, 60);
    assert!(late.is_empty(), "every record is within the lag");
    assert_end_order(&out);
    assert_eq!(sorted(&out), sorted(&aligned_reference(&input, 100, 100)));
}

#[test]
fn sliding_matches_reference_with_out_of_order_input() {
    let input = events(4000, 20, 40, 12);
    let window = WindowSpec::Sliding {
        size: ms(300),
        slide: ms(100),
    };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let (out, late) = run(op.as_mut(), &input, 50, 40);
    assert!(late.is_empty());
    assert_end_order(&out);
    assert_eq!(sorted(&out), sorted(&aligned_reference(&input, 300, 100)));
}

#[test]
fn session_matches_reference_with_out_of_order_input() {
    // Times are even and the gap odd, so no record ever lands exactly on a session's end.
    let input = events(4000, 200, 30, 13);
    let window = WindowSpec::Session { gap: ms(301) };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let (out, late) = run(op.as_mut(), &input, 40, 30);
    assert!(late.is_empty());
    assert_end_order(&out);
    assert_eq!(sorted(&out), sorted(&session_reference(&input, 301)));
}

fn record(user: i64, t: i64, amount: f64) -> Record {
    Record {
        event_time: t,
        row: vec![
            Value::I64(user),
            Value::F64(amount),
            Value::I64(t),
            Value::from("x"),
        ],
    }
}

#[test]
fn records_behind_fired_windows_are_late() {
    let window = WindowSpec::Tumbling { size: ms(1000) };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let mut out = Output::default();
    op.process_batch(
        &batch(&[record(1, 100, 1.0), record(1, 1200, 2.0)]),
        &mut out,
    )
    .expect("process");
    op.on_watermark(998, &mut out).expect("wm");
    assert!(out.records.is_empty(), "[0, 1000) fires at 999, not 998");
    op.on_watermark(999, &mut out).expect("wm");
    let fired = records(&out.records);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].event_time, 999);
    assert_eq!(
        fired[0].row[..4],
        [
            Value::I64(1),
            Value::I64(0),
            Value::I64(1000),
            Value::I64(1)
        ]
    );
    let late = record(1, 999, 5.0);
    op.process_batch(&batch(&[late.clone(), record(1, 1000, 3.0)]), &mut out)
        .expect("process");
    assert_eq!(
        records(&out.late),
        vec![late],
        "999 is in the fired window; 1000 is not late"
    );
    assert_eq!(op.state_entries(), 1, "one key in [1000, 2000)");
    op.on_end(&mut out).expect("end");
    let fired = records(&out.records);
    assert_eq!(fired.len(), 2);
    assert_eq!(fired[1].row[4], Value::F64(5.0), "sum of 2.0 and 3.0 only");
}

#[test]
fn sliding_record_with_some_fired_windows_is_not_late() {
    let window = WindowSpec::Sliding {
        size: ms(2000),
        slide: ms(1000),
    };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let mut out = Output::default();
    op.on_watermark(1999, &mut out).expect("wm");
    // 1500 is in [0, 2000) (fired) and [1000, 3000) (open): only the open one takes it.
    op.process_batch(
        &batch(&[record(7, 1500, 4.0), record(7, 500, 1.0)]),
        &mut out,
    )
    .expect("process");
    let late = records(&out.late);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].event_time, 500);
    op.on_end(&mut out).expect("end");
    let windows: Vec<(Value, Value, Value)> = records(&out.records)
        .iter()
        .map(|r| (r.row[1].clone(), r.row[2].clone(), r.row[3].clone()))
        .collect();
    assert_eq!(
        windows,
        vec![(Value::I64(1000), Value::I64(3000), Value::I64(1))],
        "[1000, 3000) holds the one record"
    );
}

#[test]
fn session_late_and_merging_rules() {
    let window = WindowSpec::Session { gap: ms(100) };
    let mut op = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
    let mut out = Output::default();
    op.process_batch(
        &batch(&[record(1, 1000, 1.0), record(1, 1300, 2.0)]),
        &mut out,
    )
    .expect("p");
    op.on_watermark(1150, &mut out).expect("wm");
    // [1000, 1100) fired; 1010 would open [1010, 1110), all below the watermark: late.
    assert_eq!(records(&out.records).len(), 1);
    op.process_batch(&batch(&[record(1, 1010, 9.0)]), &mut out)
        .expect("p");
    assert_eq!(records(&out.late).len(), 1);
    // 1160 opens [1160, 1260): on time. 1250 bridges it with [1300, 1400): one session.
    op.process_batch(
        &batch(&[record(1, 1160, 3.0), record(1, 1250, 4.0)]),
        &mut out,
    )
    .expect("p");
    op.on_end(&mut out).expect("end");
    let fired = records(&out.records);
    assert_eq!(fired.len(), 2);
    assert_eq!(
        fired[1].row,
        vec![
            Value::I64(1),
            Value::I64(1160),
            Value::I64(1400),
            Value::I64(3),
            Value::F64(9.0),
            Value::F64(2.0),
            Value::F64(4.0),
            Value::F64(3.0)
        ]
    );
}

#[test]
fn windowed_snapshots_restore_into_one_or_two_operators() {
    let input = events(3000, 40, 40, 5);
    for window in [
        WindowSpec::Tumbling { size: ms(200) },
        WindowSpec::Sliding {
            size: ms(300),
            slide: ms(100),
        },
        WindowSpec::Session { gap: ms(151) },
    ] {
        let build =
            || build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build");
        check_snapshot_restore(&build, &input, 40);
    }
}

#[test]
fn sliding_slide_larger_than_size_is_refused() {
    let window = WindowSpec::Sliding {
        size: ms(100),
        slide: ms(200),
    };
    let e = build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128))
        .err()
        .expect("refused");
    assert_eq!(
        e.to_string(),
        "stage \"agg\": sliding window slide (200 ms) must not exceed its size (100 ms)"
    );
}

#[test]
fn extending_a_session_adds_no_timers() {
    use super::key::I64Key;
    use super::session::SessionWindows;
    use quiver_protocol::spec::AggregateFunction as F;
    let plans = [
        (F::Count, None),
        (F::Sum, Some("amount")),
        (F::Min, Some("amount")),
        (F::Max, Some("amount")),
        (F::Avg, Some("amount")),
    ]
    .into_iter()
    .map(|(f, c)| super::accumulator::AggregatePlan::new(f, c, &schema()).expect("plan"))
    .collect();
    let core = super::Core::new(
        "agg",
        &schema(),
        &output(&["user"], true),
        vec![0],
        plans,
        128,
    );
    let mut op = SessionWindows::<I64Key>::new(core, 100, None);
    let mut out = Output::default();
    let input: Vec<Record> = (0..10_000).map(|i| record(1, i * 10, 1.0)).collect();
    op.process_batch(&batch(&input), &mut out).expect("process");
    assert_eq!(op.timer_count(), 1, "one session, one timer");
    assert_eq!(op.state_entries(), 1);
    op.on_watermark(50_000, &mut out).expect("wm");
    assert!(out.records.is_empty(), "the session runs to 100 090");
    assert_eq!(op.timer_count(), 1, "its timer moved to the session's end");
    op.on_watermark(100_089, &mut out).expect("wm");
    let fired = records(&out.records);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        fired[0].row[1..4],
        [Value::I64(0), Value::I64(100_090), Value::I64(10_000)]
    );
    assert_eq!(op.timer_count(), 0);
}

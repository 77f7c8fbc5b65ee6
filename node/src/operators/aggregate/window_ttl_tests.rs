//! State TTL of windowed aggregates on a test clock, against hand-computed results: a key not
//! written for the TTL loses its pending windows (or sessions) unfired, a key written within
//! it keeps them, an expired key written again starts fresh windows, snapshots and restores
//! leave expired keys out, and state stays bounded under key churn with a stalled watermark.

use super::test_support::*;
use crate::operator::{Operator, Output};
use crate::operators::StageContext;
use crate::state::test_support::TestClock;
use crate::state::ttl::Clock;
use quiver_protocol::spec::{StageKind, WindowSpec};
use quiver_protocol::{Record, Value};
use std::sync::Arc;
use std::time::Duration;

const TTL_MS: u64 = 100;

fn tumbling() -> WindowSpec {
    WindowSpec::Tumbling {
        size: Duration::from_secs(1),
    }
}

fn session() -> WindowSpec {
    WindowSpec::Session {
        gap: Duration::from_secs(1),
    }
}

/// A windowed aggregate keyed by `user` with a 100 ms TTL on `clock`.
fn windowed(window: WindowSpec, clock: &Arc<TestClock>) -> Box<dyn Operator> {
    let spec = stage(&["user"], Some(window));
    let StageKind::Aggregate(aggregate) = &spec.kind else {
        panic!("the test stage is an aggregate");
    };
    let ctx = StageContext {
        max_parallelism: 128,
        state_ttl: Some(Duration::from_millis(TTL_MS)),
        checkpoints: true,
    };
    let clock: Arc<dyn Clock> = clock.clone();
    super::build_with_clock("agg", aggregate, &schema(), &spec.schema, &ctx, clock).expect("build")
}

/// One batch of `(user, event time, amount)` at processing time `now`; no watermark, so no
/// window fires.
fn write(op: &mut dyn Operator, clock: &TestClock, now: i64, events: &[(i64, i64, f64)]) {
    clock.set(now);
    let input: Vec<Record> = events
        .iter()
        .map(|&(user, t, amount)| Record {
            event_time: t,
            row: vec![
                Value::I64(user),
                Value::F64(amount),
                Value::I64(t),
                Value::Str("x".into()),
            ],
        })
        .collect();
    let mut out = Output::default();
    op.process_batch(&batch(&input), &mut out).expect("process");
    assert!(out.records.is_empty() && out.late.is_empty());
}

/// Fires everything: `(user, window start, window end, n, sum)` per row, sorted.
fn fire_all(op: &mut dyn Operator) -> Vec<(i64, i64, i64, i64, f64)> {
    let mut out = Output::default();
    op.on_end(&mut out).expect("end");
    let mut rows: Vec<_> = records(&out.records)
        .iter()
        .map(|r| match r.row[..5] {
            [Value::I64(u), Value::I64(s), Value::I64(e), Value::I64(n), Value::F64(sum)] => {
                (u, s, e, n, sum)
            }
            _ => panic!("unexpected row {:?}", r.row),
        })
        .collect();
    rows.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    rows
}

/// Users 1, 2 written at 0 ms, user 4 at 5 ms, user 1 again at 50 ms. At 110 ms user 4
/// (expired at 105 ms) is written again before any cleanup reached it, so it starts fresh,
/// user 3 is written, and the cleanup drops user 2 (expired at 100 ms); at 130 ms user 2
/// comes back with fresh windows.
fn scenario(op: &mut dyn Operator, clock: &TestClock) {
    write(op, clock, 0, &[(1, 10, 1.0), (2, 10, 2.0)]);
    write(op, clock, 5, &[(4, 15, 6.0)]);
    write(op, clock, 50, &[(1, 20, 3.0)]);
    write(op, clock, 110, &[(4, 50, 7.0), (3, 30, 4.0)]);
    assert_eq!(op.state_entries(), 3, "user 2's window was dropped");
    write(op, clock, 130, &[(2, 40, 5.0)]);
    assert_eq!(
        op.state_expired(),
        2,
        "users 4 (on its write) and 2 (by the cleanup)"
    );
}

#[test]
fn tumbling_windows_of_a_key_not_written_for_the_ttl_are_dropped_unfired() {
    let clock = Arc::new(TestClock::default());
    let mut op = windowed(tumbling(), &clock);
    scenario(op.as_mut(), &clock);
    assert_eq!(
        fire_all(op.as_mut()),
        vec![
            (1, 0, 1000, 2, 4.0),
            (2, 0, 1000, 1, 5.0),
            (3, 0, 1000, 1, 4.0),
            (4, 0, 1000, 1, 7.0),
        ],
        "users 2 and 4 lost the records of their expired windows"
    );
}

#[test]
fn sessions_of_a_key_not_written_for_the_ttl_are_dropped_unfired() {
    let clock = Arc::new(TestClock::default());
    let mut op = windowed(session(), &clock);
    scenario(op.as_mut(), &clock);
    assert_eq!(
        fire_all(op.as_mut()),
        vec![
            (1, 10, 1020, 2, 4.0),
            (2, 40, 1040, 1, 5.0),
            (3, 30, 1030, 1, 4.0),
            (4, 50, 1050, 1, 7.0),
        ]
    );
}

#[test]
fn an_expired_key_never_fires_even_before_the_cleanup_reaches_it() {
    for window in [tumbling(), session()] {
        let clock = Arc::new(TestClock::default());
        let mut op = windowed(window, &clock);
        write(op.as_mut(), &clock, 0, &[(1, 10, 1.0)]);
        write(op.as_mut(), &clock, 60, &[(2, 20, 2.0)]);
        // No batch after 100 ms: the cleanup never ran, user 1 is still held.
        clock.set(150);
        assert_eq!(op.state_entries(), 2);
        let users: Vec<i64> = fire_all(op.as_mut()).iter().map(|r| r.0).collect();
        assert_eq!(users, vec![2], "{window:?}");
    }
}

#[test]
fn a_restore_after_the_ttl_drops_expired_windows_and_keeps_live_ones() {
    for window in [tumbling(), session()] {
        let clock = Arc::new(TestClock::default());
        let mut op = windowed(window, &clock);
        write(op.as_mut(), &clock, 0, &[(1, 10, 1.0)]);
        write(op.as_mut(), &clock, 80, &[(2, 20, 2.0)]);
        // User 1 again in a later window (tumbling) / session: its last write is 90 ms.
        write(op.as_mut(), &clock, 90, &[(1, 5000, 3.0)]);
        let saved = op.snapshot().expect("snapshot");
        clock.set(185);
        let mut restored = windowed(window, &clock);
        restored.restore(saved.into()).expect("restore");
        let rows: Vec<(i64, i64, f64)> = fire_all(restored.as_mut())
            .into_iter()
            .map(|(u, _, _, n, sum)| (u, n, sum))
            .collect();
        assert_eq!(
            rows,
            vec![(1, 1, 1.0), (1, 1, 3.0)],
            "{window:?}: user 2 (written at 80 ms) expired; user 1 (90 ms) keeps both windows"
        );
    }
}

#[test]
fn window_state_stays_bounded_by_the_ttl_while_the_watermark_stalls() {
    for window in [tumbling(), session()] {
        let clock = Arc::new(TestClock::default());
        let mut op = windowed(window, &clock);
        let mut max_entries = 0;
        // 10 new keys per ms for 2 s: 1,000 keys are written within one TTL.
        for ms in 0..2000 {
            let events: Vec<(i64, i64, f64)> = (0..10).map(|k| (ms * 10 + k, 10, 1.0)).collect();
            write(op.as_mut(), &clock, ms, &events);
            max_entries = max_entries.max(op.state_entries());
        }
        // The cleanup's bound (module `ttl`): 4/3 of the keys per TTL, give or take a batch.
        assert!(
            (1000..=1400).contains(&max_entries),
            "{window:?}: {max_entries} entries (20,000 without a TTL)"
        );
    }
}

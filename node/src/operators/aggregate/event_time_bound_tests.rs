//! Windows at the ends of time: at the valid event-time bounds (±8.64e15 ms) and beyond them
//! windows are exact; where a window would reach past `i64` (records at `i64::MIN` or
//! `i64::MAX`, which sources never emit) the stage fails with a data error instead of
//! wrapping, looping or miscounting; a window that would let that happen is refused at build.

use super::test_support::*;
use crate::operator::{Operator, OperatorError, Output};
use crate::operators::build_stage;
use quiver_protocol::spec::WindowSpec;
use quiver_protocol::{Record, Value};
use std::time::Duration;

/// The valid event-time bounds, written out (±100,000,000 days in ms).
const LO: i64 = -8_640_000_000_000_000;
const HI: i64 = 8_640_000_000_000_000;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn record(t: i64, amount: f64) -> Record {
    Record {
        event_time: t,
        row: vec![
            Value::I64(1),
            Value::F64(amount),
            Value::I64(t),
            Value::from("x"),
        ],
    }
}

/// The output row of user 1's window `[start, end)` holding `amounts`.
fn window_row(start: i64, end: i64, amounts: &[f64]) -> Record {
    let mut row = vec![Value::I64(1), Value::I64(start), Value::I64(end)];
    row.extend(reference_aggregates(amounts));
    Record {
        event_time: end - 1,
        row,
    }
}

fn build(window: WindowSpec) -> Box<dyn Operator> {
    build_stage(&stage(&["user"], Some(window)), &schema(), &ctx(128)).expect("build")
}

const TUMBLING: WindowSpec = WindowSpec::Tumbling {
    size: Duration::from_millis(1000),
};
const SLIDING: WindowSpec = WindowSpec::Sliding {
    size: Duration::from_millis(3000),
    slide: Duration::from_millis(1000),
};
const SESSION: WindowSpec = WindowSpec::Session {
    gap: Duration::from_millis(1000),
};

#[test]
fn windows_at_and_just_beyond_the_valid_bounds_are_exact() {
    let input = [
        record(LO - 1, 1.0),
        record(LO, 2.0),
        record(HI, 3.0),
        record(HI + 1, 4.0),
    ];
    let cases = [
        (
            TUMBLING,
            vec![
                window_row(LO - 1000, LO, &[1.0]),
                window_row(LO, LO + 1000, &[2.0]),
                window_row(HI, HI + 1000, &[3.0, 4.0]),
            ],
        ),
        (
            SLIDING,
            vec![
                window_row(LO - 3000, LO, &[1.0]),
                window_row(LO - 2000, LO + 1000, &[1.0, 2.0]),
                window_row(LO - 1000, LO + 2000, &[1.0, 2.0]),
                window_row(LO, LO + 3000, &[2.0]),
                window_row(HI - 2000, HI + 1000, &[3.0, 4.0]),
                window_row(HI - 1000, HI + 2000, &[3.0, 4.0]),
                window_row(HI, HI + 3000, &[3.0, 4.0]),
            ],
        ),
        (
            SESSION,
            vec![
                window_row(LO - 1, LO + 1000, &[1.0, 2.0]),
                window_row(HI, HI + 1001, &[3.0, 4.0]),
            ],
        ),
    ];
    for (window, expected) in cases {
        let (out, late) = run(build(window).as_mut(), &input, 1, 0);
        assert!(late.is_empty(), "{window:?}");
        assert_eq!(sorted(&out), sorted(&expected), "{window:?}");
    }
}

/// One record at `t` into a fresh stage with `window`, then the end of input.
fn one_record(window: WindowSpec, t: i64) -> Result<Vec<Record>, OperatorError> {
    let mut op = build(window);
    let mut out = Output::default();
    op.process_batch(&batch(&[record(t, 1.0)]), &mut out)?;
    op.on_end(&mut out)?;
    assert!(out.late.is_empty(), "{window:?} at {t}: nothing is late");
    Ok(records(&out.records))
}

/// Asserts that a record at `t` fails `window`'s stage with a data error naming the time.
fn assert_overflow(window: WindowSpec, t: i64) {
    match one_record(window, t) {
        Err(OperatorError::Data(message)) => assert_eq!(
            message,
            format!(
                "stage \"agg\": event time {t} is too close to the end of the i64 range for this \
                 stage's windows (sources only emit event times from -8640000000000000 to \
                 8640000000000000 ms)"
            )
        ),
        other => panic!("{window:?} at {t}: expected a data error, got {other:?}"),
    }
}

#[test]
fn windows_reaching_past_i64_are_data_errors_not_wraps_or_double_counts() {
    for window in [TUMBLING, SLIDING, SESSION] {
        assert_overflow(window, i64::MAX);
    }
    // The window holding i64::MIN starts below it.
    assert_overflow(TUMBLING, i64::MIN);
    assert_overflow(SLIDING, i64::MIN);
    // Its latest window would end past i64::MAX: not counted twice in a window clamped there.
    assert_overflow(SLIDING, i64::MAX - 1000);
    // Near the ends but inside i64: exact windows.
    let t = i64::MAX - 1000; // 9223372036854774807
    assert_eq!(
        one_record(TUMBLING, t).expect("tumbling"),
        vec![window_row(
            9_223_372_036_854_774_000,
            9_223_372_036_854_775_000,
            &[1.0]
        )]
    );
    assert_eq!(
        one_record(SESSION, t).expect("session"),
        vec![window_row(t, i64::MAX, &[1.0])]
    );
    assert_eq!(
        one_record(SESSION, i64::MIN).expect("session"),
        vec![window_row(i64::MIN, i64::MIN + 1000, &[1.0])]
    );
    // -9223372036854775000 is a multiple of 1000 and a window start: 2 windows exist above
    // i64::MIN, the third would start below it.
    assert_overflow(SLIDING, -9_223_372_036_854_775_000);
    assert_eq!(
        one_record(TUMBLING, -9_223_372_036_854_775_000).expect("tumbling"),
        vec![window_row(
            -9_223_372_036_854_775_000,
            -9_223_372_036_854_774_000,
            &[1.0]
        )]
    );
}

#[test]
fn windows_longer_than_100000_days_or_over_10000_per_record_are_refused_at_build() {
    let refused = |window: WindowSpec| match build_stage(
        &stage(&["user"], Some(window)),
        &schema(),
        &ctx(128),
    ) {
        Err(OperatorError::Config(message)) => message,
        Err(other) => panic!("{window:?}: expected a config error, got {other:?}"),
        Ok(_) => panic!("{window:?} was built"),
    };
    let day = 86_400_000;
    let too_long = ms(100_000 * day + 1);
    assert_eq!(
        refused(WindowSpec::Tumbling { size: too_long }),
        "stage \"agg\": window size must be between 1 ms and 8640000000000 ms (100000 days), got \
         8640000000.001s"
    );
    assert_eq!(
        refused(WindowSpec::Session { gap: too_long }),
        "stage \"agg\": window gap must be between 1 ms and 8640000000000 ms (100000 days), got \
         8640000000.001s"
    );
    assert_eq!(
        refused(WindowSpec::Sliding {
            size: ms(day),
            slide: ms(8639)
        }),
        "stage \"agg\": a sliding window of size 86400000 ms and slide 8639 ms puts each record in \
         10002 windows; at most 10000 are allowed"
    );
    build(WindowSpec::Sliding {
        size: ms(day),
        slide: ms(8640),
    });
    build(WindowSpec::Tumbling {
        size: ms(100_000 * day),
    });
}

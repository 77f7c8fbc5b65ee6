//! State TTL of running aggregates, driven by a test clock: expired keys start afresh,
//! cleanup keeps state bounded under key churn, snapshots and restores leave expired keys out.
//! (Windowed aggregates: `window_ttl_tests.rs`; the TTL's range is checked when the spec is
//! parsed, `protocol/tests/spec_errors_job_sinks.rs`.)

use super::test_support::*;
use crate::operator::{Operator, Output};
use crate::operators::StageContext;
use crate::state::test_support::TestClock;
use crate::state::ttl::Clock;
use quiver_protocol::spec::StageKind;
use quiver_protocol::{Record, Value};
use std::sync::Arc;
use std::time::Duration;

/// A running aggregate keyed by `user` with `ttl` (ms; `None`: forever) on `clock`.
fn running(ttl: Option<u64>, clock: &Arc<TestClock>) -> Box<dyn Operator> {
    let spec = stage(&["user"], None);
    let StageKind::Aggregate(aggregate) = &spec.kind else {
        panic!("the test stage is an aggregate");
    };
    let ctx = StageContext {
        max_parallelism: 128,
        state_ttl: ttl.map(Duration::from_millis),
        checkpoints: true,
    };
    let clock: Arc<dyn Clock> = clock.clone();
    super::build_with_clock("agg", aggregate, &schema(), &spec.schema, &ctx, clock).expect("build")
}

fn event(user: i64, amount: f64) -> Record {
    Record {
        event_time: 0,
        row: vec![
            Value::I64(user),
            Value::F64(amount),
            Value::I64(0),
            Value::Str("x".into()),
        ],
    }
}

/// Runs one batch of `(user, amount)`; returns `(user, n, sum)` per output row.
fn batch(op: &mut dyn Operator, events: &[(i64, f64)]) -> Vec<(i64, i64, f64)> {
    let mut out = Output::default();
    let input: Vec<Record> = events.iter().map(|&(u, a)| event(u, a)).collect();
    op.process_batch(&super::test_support::batch(&input), &mut out)
        .expect("process");
    records(&out.records)
        .iter()
        .map(|r| match r.row[..3] {
            [Value::I64(u), Value::I64(n), Value::F64(s)] => (u, n, s),
            _ => panic!("unexpected row {:?}", r.row),
        })
        .collect()
}

fn snapshot_bytes(op: &mut dyn Operator) -> (Vec<crate::operator::KeyGroupState>, usize) {
    let state = op.snapshot().expect("snapshot");
    let bytes = state.iter().map(|s| s.bytes.len()).sum();
    (state, bytes)
}

#[test]
fn expired_keys_restart_from_fresh_accumulators() {
    let clock = Arc::new(TestClock::default());
    let mut op = running(Some(1000), &clock);
    assert_eq!(
        batch(op.as_mut(), &[(1, 5.0), (2, 1.0)]),
        [(1, 1, 5.0), (2, 1, 1.0)]
    );
    clock.set(500);
    assert_eq!(batch(op.as_mut(), &[(1, 3.0)]), [(1, 2, 8.0)]);
    clock.set(1499);
    // 999 ms after the last write: still alive.
    assert_eq!(batch(op.as_mut(), &[(1, 2.0)]), [(1, 3, 10.0)]);
    assert_eq!(
        op.state_entries(),
        1,
        "key 2 expired at 1000 and was cleaned"
    );
    clock.set(2499);
    // 1000 ms after the last write: expired, the record starts afresh.
    assert_eq!(
        batch(op.as_mut(), &[(1, 4.0), (1, 1.0), (2, 7.0)]),
        [(1, 1, 4.0), (1, 2, 5.0), (2, 1, 7.0)]
    );
    assert_eq!(op.state_entries(), 2);
}

#[test]
fn without_ttl_state_is_kept_forever() {
    let clock = Arc::new(TestClock::default());
    let mut op = running(None, &clock);
    batch(op.as_mut(), &[(1, 5.0)]);
    clock.set(1 << 40);
    assert_eq!(batch(op.as_mut(), &[(1, 1.0)]), [(1, 2, 6.0)]);
}

#[test]
fn cleanup_keeps_live_keys_with_their_own_state() {
    let clock = Arc::new(TestClock::default());
    let mut op = running(Some(1000), &clock);
    let old: Vec<(i64, f64)> = (0..200).map(|u| (u, u as f64)).collect();
    let young: Vec<(i64, f64)> = (200..400).map(|u| (u, u as f64)).collect();
    batch(op.as_mut(), &old);
    clock.set(600);
    batch(op.as_mut(), &young);
    clock.set(1100);
    // Single-record batches examine 64 slots each; wherever the cursor stands, 12 of them
    // (768 examinations) sweep all 401 slots, removing 200 keys on the way.
    for _ in 0..12 {
        batch(op.as_mut(), &[(1000, 1.0)]);
    }
    assert_eq!(op.state_entries(), 201, "the 200 old keys are gone");
    // Young keys moved around by removals still have their own accumulators.
    let again: Vec<(i64, f64)> = (200..400).map(|u| (u, 1.0)).collect();
    let expected: Vec<(i64, i64, f64)> = (200..400).map(|u| (u, 2, u as f64 + 1.0)).collect();
    assert_eq!(batch(op.as_mut(), &again), expected);
    let again: Vec<(i64, f64)> = (0..200).map(|u| (u, 1.0)).collect();
    let expected: Vec<(i64, i64, f64)> = (0..200).map(|u| (u, 1, 1.0)).collect();
    assert_eq!(batch(op.as_mut(), &again), expected);
}

#[test]
fn state_and_snapshots_stay_bounded_under_key_churn() {
    const KEYS: i64 = 1_000_000;
    const BATCH: i64 = 1000;
    const TTL_MS: i64 = 2000;
    // The clock moves 1 ms per 10 records: 20,000 keys are written within one TTL.
    const PER_MS: i64 = 10;
    let per_ttl = (TTL_MS * PER_MS) as u64;
    // The cleanup's bound (module `ttl`): 4/3 of the keys per TTL, give or take a batch.
    let bound = 4 * per_ttl / 3 + 2 * BATCH as u64;

    // Bytes per live key in a snapshot, measured on keys of the same size.
    let clock = Arc::new(TestClock::default());
    clock.set(KEYS / PER_MS);
    let mut probe = running(Some(TTL_MS as u64), &clock);
    let probe_keys: Vec<(i64, f64)> = (KEYS - 1000..KEYS).map(|u| (u, 1.0)).collect();
    batch(probe.as_mut(), &probe_keys);
    let per_key = snapshot_bytes(probe.as_mut()).1.div_ceil(1000);

    let mut op = running(Some(TTL_MS as u64), &clock);
    let (mut max_entries, mut max_bytes) = (0, 0);
    for start in (0..KEYS).step_by(BATCH as usize) {
        clock.set(start / PER_MS);
        let events: Vec<(i64, f64)> = (start..start + BATCH).map(|u| (u, 1.0)).collect();
        batch(op.as_mut(), &events);
        max_entries = max_entries.max(op.state_entries());
        if (start / BATCH) % 50 == 49 {
            let (state, bytes) = snapshot_bytes(op.as_mut());
            max_bytes = max_bytes.max(bytes);
            // The snapshot holds exactly the keys written within the last TTL.
            let mut restored = running(Some(TTL_MS as u64), &clock);
            restored.restore(state.into()).expect("restore");
            let now = start / PER_MS;
            // Keys of a batch are written at its time: the oldest live batch starts at the
            // first multiple of BATCH written less than TTL ago.
            let oldest = (now - TTL_MS + 1).max(0) * PER_MS;
            let live = start + BATCH - (oldest + BATCH - 1) / BATCH * BATCH;
            assert_eq!(restored.state_entries(), live as u64, "at {now} ms");
        }
    }
    assert!(
        max_entries <= bound,
        "{max_entries} entries, bound {bound} (4/3 × {per_ttl} keys per TTL + 2 batches)"
    );
    assert!(
        max_entries >= per_ttl,
        "{max_entries} entries: live keys were dropped"
    );
    assert!(
        max_bytes <= per_ttl as usize * per_key + 4096,
        "{max_bytes} snapshot bytes for {per_ttl} live keys of {per_key} bytes"
    );
}

#[test]
fn restore_after_the_ttl_drops_expired_keys() {
    let clock = Arc::new(TestClock::default());
    let mut op = running(Some(1000), &clock);
    batch(op.as_mut(), &[(1, 1.0), (2, 2.0)]);
    clock.set(600);
    batch(op.as_mut(), &[(3, 3.0)]);
    clock.set(700);
    let (state, _) = snapshot_bytes(op.as_mut());

    // Restored while the job was down for 500 ms: keys 1 and 2 expired meanwhile.
    clock.set(1200);
    let mut restored = running(Some(1000), &clock);
    restored.restore(state.clone().into()).expect("restore");
    assert_eq!(restored.state_entries(), 1);
    assert_eq!(
        batch(restored.as_mut(), &[(1, 5.0), (3, 5.0)]),
        [(1, 1, 5.0), (3, 2, 8.0)]
    );

    // A stage without TTL keeps everything it restores.
    let mut forever = running(None, &clock);
    forever.restore(state.into()).expect("restore");
    assert_eq!(batch(forever.as_mut(), &[(1, 5.0)]), [(1, 2, 6.0)]);

    // Snapshots leave expired keys out: at 1550 only key 3 (written at 600) is alive.
    clock.set(1550);
    let (state, _) = snapshot_bytes(op.as_mut());
    let mut forever = running(None, &clock);
    forever.restore(state.into()).expect("restore");
    assert_eq!(forever.state_entries(), 1);
}

//! A chain headed by a windowed aggregate whose consumers are other tasks (so what it emits
//! leaves through gates to probes): rows and watermarks go out the main output, late records
//! out the late output unchanged (or are counted without one), barriers and the end reach
//! every gate, and a stage with two consumers feeds both.

use super::*;
use crate::runtime::test_support::{
    batch_of, chain_of, deployment, probe_gate, record, records_of, Received,
};
use quiver_protocol::plan::Partitioning;
use quiver_protocol::{Barrier, Record, Value};
use std::sync::atomic::Ordering;

/// A tumbling 1 s count per user at parallelism 2 whose sinks run at parallelism 1 (so they
/// are reached through gates); `late` and `extra_sink` are added to the spec.
fn spec(late: &str, extra_sink: &str) -> String {
    format!(
        r#"
[job]
name = "chain"
parallelism = 2
max_parallelism = 8

[[source]]
name = "events"
kind = "generator"

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "tumbling", size = "1s" }}
aggregates = {{ n = "count()" }}
{late}

[[sink]]
name = "out"
kind = "discard"
input = "per_user"
parallelism = 1
{extra_sink}
"#
    )
}

const LATE: &str =
    "late = \"late\"\n\n[[sink]]\nname = \"late\"\nkind = \"discard\"\nparallelism = 1";
const SECOND_SINK: &str =
    "[[sink]]\nname = \"copy\"\nkind = \"discard\"\ninput = \"per_user\"\nparallelism = 1";

/// The per_user chain of `spec` with a probe behind each of its gates.
async fn probed(spec: &str) -> (Chain, Vec<Received>, Arc<TaskCounters>) {
    let deployment = deployment(spec);
    let counters = Arc::new(TaskCounters::new(2));
    let (mut chain, _) = chain_of(&deployment, "per_user", counters.clone());
    let mut gates = Vec::new();
    let mut received = Vec::new();
    for _ in chain.gate_specs() {
        let (gate, mut rx) = probe_gate(Partitioning::Rebalance, 1).await;
        gates.push(gate);
        received.push(rx.remove(0));
    }
    chain.connect(gates);
    (chain, received, counters)
}

/// A window row: user, window_start, window_end, n.
fn row(user: i64, start: i64, n: i64) -> Vec<Value> {
    vec![
        Value::I64(user),
        Value::I64(start),
        Value::I64(start + 1000),
        Value::I64(n),
    ]
}

fn rows(records: Vec<Record>) -> Vec<Vec<Value>> {
    records.into_iter().map(|r| r.row).collect()
}

/// Runs the same input through a chain: two records of window [0, 1000), the watermark to
/// 999 (fires it), a late record of that window, one of [1000, 2000), the end.
async fn run(chain: &mut Chain) {
    let entry = chain.entry.clone();
    chain
        .push(
            &entry,
            batch_of(vec![record(1, 1.0, 100), record(1, 2.0, 200)]),
        )
        .expect("push");
    chain.advance(&entry, 999).expect("advance");
    chain
        .push(
            &entry,
            batch_of(vec![record(1, 3.0, 500), record(2, 4.0, 1500)]),
        )
        .expect("push");
    chain.end(&entry).expect("end");
    chain.flush().await.expect("flush");
}

#[tokio::test]
async fn rows_go_out_the_main_output_and_late_records_out_the_late_one_unchanged() {
    let (mut chain, mut received, counters) = probed(&spec(LATE, "")).await;
    assert_eq!(chain.gate_specs().len(), 2, "main, then late");
    run(&mut chain).await;
    let main = received[0].until_end().await;
    let fired = main
        .iter()
        .position(|e| *e == StreamElement::Watermark(999))
        .expect("the watermark goes on");
    assert_eq!(rows(records_of(&main[..fired])), vec![row(1, 0, 2)]);
    assert_eq!(rows(records_of(&main[fired..])), vec![row(2, 1000, 1)]);
    let late = received[1].until_end().await;
    assert_eq!(
        records_of(&late),
        vec![record(1, 3.0, 500)],
        "as it came in"
    );
    assert_eq!(counters.late_dropped.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn late_records_without_a_late_output_are_counted() {
    let (mut chain, mut received, counters) = probed(&spec("", "")).await;
    assert_eq!(chain.gate_specs().len(), 1);
    run(&mut chain).await;
    let main = received[0].until_end().await;
    assert_eq!(rows(records_of(&main)), vec![row(1, 0, 2), row(2, 1000, 1)]);
    assert_eq!(counters.late_dropped.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_stage_with_two_consumers_sends_each_every_row() {
    let (mut chain, mut received, _) = probed(&spec("", SECOND_SINK)).await;
    run(&mut chain).await;
    let first = received[0].until_end().await;
    assert_eq!(first, received[1].until_end().await);
    assert_eq!(records_of(&first).len(), 2);
}

#[tokio::test]
async fn barriers_reach_every_gate_after_what_was_emitted_before_them() {
    let (mut chain, mut received, counters) = probed(&spec(LATE, "")).await;
    let entry = chain.entry.clone();
    chain
        .push(&entry, batch_of(vec![record(1, 1.0, 100)]))
        .expect("push");
    chain.advance(&entry, 999).expect("advance");
    chain
        .push(&entry, batch_of(vec![record(1, 1.0, 5)]))
        .expect("late");
    let barrier = StreamElement::Barrier(Barrier {
        checkpoint: CheckpointId(1),
        generation: Generation(1),
        serving: 0,
    });
    chain.broadcast(&barrier);
    chain.end(&entry).expect("end");
    chain.flush().await.expect("flush");
    let main = received[0].until_end().await;
    assert_eq!(main.len(), 4, "{main:?}");
    assert!(matches!(main[0], StreamElement::Records(_)));
    assert_eq!(
        main[1..],
        [
            StreamElement::Watermark(999),
            barrier.clone(),
            StreamElement::End
        ]
    );
    let late = received[1].until_end().await;
    assert_eq!(
        late,
        vec![
            StreamElement::Records(batch_of(vec![record(1, 1.0, 5)])),
            barrier,
            StreamElement::End
        ]
    );
    assert_eq!(
        counters.records_out.load(Ordering::Relaxed),
        2,
        "one row, one late record"
    );
}

#[test]
fn what_a_stage_emits_for_a_batch_is_as_old_as_that_batch() {
    let fresh = || batch_of(vec![record(1, 1.0, 10)]);
    let mut out = Output {
        records: vec![fresh(), fresh().with_read_at_us(Some(5))],
        late: vec![fresh()],
        params: vec![fresh()],
    };
    inherit_read_stamp(&mut out, Some(9));
    let stamps = |b: &[Batch]| b.iter().map(Batch::read_at_us).collect::<Vec<_>>();
    assert_eq!(
        stamps(&out.records),
        [Some(9), Some(5)],
        "its own stamp is kept"
    );
    assert_eq!(stamps(&out.late), [Some(9)]);
    assert_eq!(
        stamps(&out.params),
        [None],
        "parameter changes reach no sink"
    );
    let mut unstamped = Output {
        records: vec![fresh()],
        ..Output::default()
    };
    inherit_read_stamp(&mut unstamped, None);
    assert_eq!(stamps(&unstamped.records), [None]);
}

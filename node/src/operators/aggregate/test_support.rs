//! Helpers of the aggregate tests: specs, a seeded event stream, a driver that feeds it with
//! source-style watermarks, and a naive reference.

use crate::operator::{Operator, Output};
use crate::operators::StageContext;
use crate::watermark::WatermarkGenerator;
use quiver_protocol::batch::{self, Batch};
use quiver_protocol::spec::{
    AggregateCall, AggregateFunction, AggregateStage, StageKind, StageSpec, WindowSpec,
};
use quiver_protocol::{Record, Schema, Value, ValueType};

/// The job settings of a stage: `max_parallelism` key groups, no state TTL, checkpoints.
pub(super) fn ctx(max_parallelism: u32) -> StageContext {
    StageContext {
        max_parallelism,
        state_ttl: None,
        checkpoints: true,
    }
}

/// `user i64, amount f64, ts i64, name string`.
pub(super) fn schema() -> Schema {
    Schema::new([
        ("user", ValueType::I64),
        ("amount", ValueType::F64),
        ("ts", ValueType::I64),
        ("name", ValueType::Str),
    ])
}

/// An aggregate stage computing n = count(), s = sum(amount), lo = min(amount),
/// hi = max(amount), mean = avg(amount).
pub(super) fn stage(key: &[&str], window: Option<WindowSpec>) -> StageSpec {
    let call = |function, column: Option<&str>| AggregateCall {
        function,
        column: column.map(str::to_string),
    };
    StageSpec {
        name: "agg".to_string(),
        input: "events".to_string(),
        parallelism: 1,
        kind: StageKind::Aggregate(AggregateStage {
            key: key.iter().map(|k| k.to_string()).collect(),
            window,
            aggregates: vec![
                ("n".to_string(), call(AggregateFunction::Count, None)),
                (
                    "s".to_string(),
                    call(AggregateFunction::Sum, Some("amount")),
                ),
                (
                    "lo".to_string(),
                    call(AggregateFunction::Min, Some("amount")),
                ),
                (
                    "hi".to_string(),
                    call(AggregateFunction::Max, Some("amount")),
                ),
                (
                    "mean".to_string(),
                    call(AggregateFunction::Avg, Some("amount")),
                ),
            ],
        }),
        late: None,
        schema: output(key, window.is_some()),
        pool: None,
        quality: Default::default(),
    }
}

/// The rows the stage emits: keys, window bounds, n (i64) and four f64 aggregates.
pub(super) fn output(key: &[&str], windowed: bool) -> Schema {
    let input = schema();
    let mut columns: Vec<(&str, ValueType)> = key
        .iter()
        .map(|k| (*k, input.columns[input.index_of(k).unwrap_or(0)].ty))
        .collect();
    if windowed {
        columns.extend([
            ("window_start", ValueType::I64),
            ("window_end", ValueType::I64),
        ]);
    }
    columns.push(("n", ValueType::I64));
    columns.extend(["s", "lo", "hi", "mean"].map(|a| (a, ValueType::F64)));
    Schema::new(columns)
}

/// `n` events over `keys` users, event times even and increasing by 4 per event but up to
/// `disorder` ms earlier than that (out of order), amounts whole numbers (sums are exact).
pub(super) fn events(n: usize, keys: u64, disorder: i64, seed: u64) -> Vec<Record> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 11;
            let user = (r % keys) as i64;
            let amount = ((r >> 20) % 100) as f64;
            let jitter = if disorder > 0 {
                ((r >> 40) as i64 % (disorder / 2 + 1)) * 2
            } else {
                0
            };
            let ts = 1000 + 4 * i as i64 - jitter;
            Record {
                event_time: ts,
                row: vec![
                    Value::I64(user),
                    Value::F64(amount),
                    Value::I64(ts),
                    Value::from(format!("k{}", user % 3).as_str()),
                ],
            }
        })
        .collect()
}

/// Records of [`schema`] as a batch.
pub(super) fn batch(records: &[Record]) -> Batch {
    batch::from_records(&schema(), records).expect("records of the test schema")
}

/// The records of `batches`, in order.
pub(super) fn records(batches: &[Batch]) -> Vec<Record> {
    batches.iter().flat_map(batch::to_records).collect()
}

/// Feeds `input` in batches of `size`, each followed by the watermark a source with lag
/// `lag` would send. Returns (output, late).
pub(super) fn feed(
    op: &mut dyn Operator,
    input: &[Record],
    size: usize,
    wm: &mut WatermarkGenerator,
) -> (Vec<Record>, Vec<Record>) {
    let mut out = Output::default();
    for chunk in input.chunks(size) {
        chunk.iter().for_each(|r| wm.observe(r.event_time));
        op.process_batch(&batch(chunk), &mut out).expect("process");
        if let Some(w) = wm.watermark() {
            op.on_watermark(w, &mut out).expect("watermark");
        }
    }
    (records(&out.records), records(&out.late))
}

/// Feeds everything, then ends the input.
pub(super) fn run(
    op: &mut dyn Operator,
    input: &[Record],
    size: usize,
    lag: i64,
) -> (Vec<Record>, Vec<Record>) {
    let (mut out, late) = feed(op, input, size, &mut WatermarkGenerator::new(lag));
    let mut end = Output::default();
    op.on_end(&mut end).expect("end");
    out.extend(records(&end.records));
    (out, late)
}

/// Naive aggregates of a group of amounts: n, sum, min, max, avg.
pub(super) fn reference_aggregates(amounts: &[f64]) -> Vec<Value> {
    let n = amounts.len();
    let sum: f64 = amounts.iter().sum();
    let min = amounts.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = amounts.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    vec![
        Value::I64(n as i64),
        Value::F64(sum),
        Value::F64(min),
        Value::F64(max),
        Value::F64(sum / n as f64),
    ]
}

/// Records as sortable text: event time, then the row.
pub(super) fn sorted(records: &[Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| format!("{:>12} {:?}", r.event_time, r.row))
        .collect();
    v.sort();
    v
}

/// The amount and user of an event of [`events`].
pub(super) fn amount(r: &Record) -> f64 {
    r.row[1].as_f64().unwrap_or(f64::NAN)
}

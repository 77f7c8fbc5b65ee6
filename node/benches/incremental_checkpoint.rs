//! Issue 14, done-when 5: incremental checkpoints of a running count + sum over many keys.
//!
//! Loads `KEYS` keys into the W1 running aggregate (every key written once, then checkpoint 1
//! confirmed), then for each of `INTERVALS` intervals writes `PERCENT`% of the keys (distinct
//! keys, a different stride each interval) and takes a barrier as a task does: the pause is
//! `snapshot_changes` (the copy of the changed entries, on the task), the encoding is the
//! copy's `serialize` (off the task), and the bytes are what the task uploads — the delta
//! pieces and the header piece, each with its schema header — against the bytes of a full
//! snapshot of the same state (every key group's base piece with its schema header).
//!
//! Run: `cargo bench -p quiver-node --bench incremental_checkpoint` (args: KEYS PERCENT
//! INTERVALS; default 1000000 1 10).

use quiver_node::operator::Operator;
use quiver_node::operators::{build_stage, StageContext};
use quiver_protocol::batch;
use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::state_schema::StateSchema;
use quiver_protocol::{CheckpointId, Record, Schema, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const SPEC: &str = r#"
[job]
name = "incremental"
parallelism = 1
checkpoint_interval = "1s"

[[source]]
name = "events"
kind = "generator"
keys = 1000000

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", total = "sum(amount)" }

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#;

/// Bytes a schema-wrapped piece adds to the operator's bytes (`quiver_protocol::state_schema`).
fn wrapped(schema: usize, bytes: usize) -> usize {
    4 + 4 + schema + bytes
}

/// Feeds records for `users` (amount and time from their position) in batches of 4096.
fn write(op: &mut dyn Operator, schema: &Schema, users: impl Iterator<Item = i64>) {
    let records: Vec<Record> = users
        .enumerate()
        .map(|(i, user)| Record {
            event_time: i as i64,
            row: vec![
                Value::I64(user),
                Value::F64((i % 100) as f64),
                Value::I64(i as i64),
            ],
        })
        .collect();
    let mut out = quiver_node::operator::Output::default();
    for chunk in records.chunks(4096) {
        let batch = batch::from_records(schema, chunk).expect("batch");
        op.process_batch(&batch, &mut out).expect("process");
        out.records.clear();
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let keys = args.first().copied().unwrap_or(1_000_000);
    let percent = args.get(1).copied().unwrap_or(1);
    let intervals = args.get(2).copied().unwrap_or(10);
    let spec = JobSpec::parse(SPEC, Path::new(".")).expect("spec");
    let plan = JobPlan::from_spec(&spec);
    let running = plan
        .operators
        .iter()
        .find(|o| o.name == "running")
        .expect("the running stage");
    let schema_bytes = StateSchema::of(running).expect("stateful").encode().len();
    let input = running.input_schema.clone().expect("input schema");
    let ctx = StageContext {
        max_parallelism: spec.max_parallelism,
        state_ttl: None,
        checkpoints: true,
    };
    let mut op = build_stage(&spec.stages[0], &input, &ctx).expect("build");

    write(op.as_mut(), &input, 0..keys as i64);
    let first = op
        .snapshot_changes(CheckpointId(1))
        .expect("copy")
        .expect("layer");
    first.serialize().expect("encode");
    op.confirm(CheckpointId(1));
    let full: usize = op
        .snapshot()
        .expect("snapshot")
        .iter()
        .map(|p| wrapped(schema_bytes, p.bytes.len()))
        .sum();
    println!(
        "{keys} keys, {percent}% written per interval, {} key groups; full state {full} bytes \
         ({:.1} B/key)",
        spec.max_parallelism,
        full as f64 / keys as f64
    );
    println!("checkpoint  changed keys  pause (copy)  encode  uploaded bytes  of full");
    let changed = keys * percent / 100;
    let (mut pauses, mut encodes, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..intervals {
        // Distinct keys: a stride coprime with the key count, shifted each interval.
        let stride = (7_919 + 2 * i..).find(|&s| gcd(s, keys) == 1).unwrap_or(1);
        let users = (0..changed).map(|j| ((i * 104_729 + j * stride) % keys) as i64);
        write(op.as_mut(), &input, users);
        let n = CheckpointId(i + 2);
        let started = Instant::now();
        let copy = op.snapshot_changes(n).expect("copy").expect("layer");
        let pause = started.elapsed();
        let started = Instant::now();
        let changes = copy.serialize().expect("encode");
        let encode = started.elapsed();
        let uploaded = wrapped(schema_bytes, changes.meta.len())
            + changes
                .deltas
                .iter()
                .map(|d| wrapped(schema_bytes, d.bytes.len()))
                .sum::<usize>();
        op.confirm(n);
        let ratio = uploaded as f64 / full as f64;
        println!(
            "{:>10}  {changed:>12}  {:>9.3} ms  {:>3.1} ms  {uploaded:>14}  {:>6.2}%",
            n.0,
            pause.as_secs_f64() * 1e3,
            encode.as_secs_f64() * 1e3,
            ratio * 100.0
        );
        pauses.push(pause);
        encodes.push(encode);
        ratios.push(ratio);
    }
    let max_pause = pauses.iter().max().copied().unwrap_or_default();
    let max_ratio = ratios.iter().copied().fold(0.0, f64::max);
    println!(
        "pause median {:.3} ms, max {:.3} ms; encode median {:.1} ms; uploaded at most {:.2}% \
         of the full state",
        median(pauses).as_secs_f64() * 1e3,
        max_pause.as_secs_f64() * 1e3,
        median(encodes).as_secs_f64() * 1e3,
        max_ratio * 100.0
    );
}

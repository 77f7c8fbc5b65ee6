use super::*;
use quiver_protocol::batch::{to_records, ColumnType};
use quiver_protocol::spec::GeneratorSource as Spec;
use quiver_protocol::{Record, Value, ValueType};

fn schema() -> Schema {
    Schema::new([
        ("user", ValueType::I64),
        ("amount", ValueType::F64),
        ("ts", ValueType::I64),
    ])
}

fn spec(count: Option<u64>, keys: u64, seed: u64) -> Spec {
    Spec {
        count,
        rate: 0,
        keys,
        seed,
        workload: quiver_protocol::spec::Workload::W1,
        items: 0,
    }
}

fn drain(g: &mut Generator, batch: usize) -> Vec<Record> {
    let mut all = Vec::new();
    while let Some(b) = g.poll_batch(batch).expect("poll") {
        all.extend(to_records(&b));
    }
    all
}

/// The W1 reference loop (the peers' hand-written `w1-limit` loop), written out again.
fn w1_reference(seq: u64, keys: u64) -> (i64, f64, i64) {
    let mut z = seq.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    let r = z ^ (z >> 31);
    (
        (r % keys) as i64,
        ((r >> 32) % 10_000) as f64 / 100.0,
        seq as i64,
    )
}

#[test]
fn seed_zero_equals_the_w1_reference_loop() {
    let mut g = Generator::new(&spec(Some(5000), 100_000, 0), &schema(), 0, 1).expect("build");
    let all = drain(&mut g, 333);
    assert_eq!(all.len(), 5000);
    for (seq, r) in all.iter().enumerate() {
        let (user, amount, ts) = w1_reference(seq as u64, 100_000);
        assert_eq!(
            r.row,
            vec![Value::I64(user), Value::F64(amount), Value::I64(ts)]
        );
        assert_eq!(r.event_time, ts);
        assert!((0.0..100.0).contains(&amount));
    }
}

#[test]
fn partitions_union_to_the_single_partition_sequence() {
    let single = drain(
        &mut Generator::new(&spec(Some(1001), 17, 9), &schema(), 0, 1).expect("build"),
        100,
    );
    let mut union: Vec<Record> = (0..3)
        .flat_map(|p| {
            let mut g = Generator::new(&spec(Some(1001), 17, 9), &schema(), p, 3).expect("build");
            let part = drain(&mut g, 64);
            assert!(part.iter().all(|r| r.event_time % 3 == i64::from(p)));
            part
        })
        .collect();
    union.sort_by_key(|r| r.event_time);
    assert_eq!(union, single);
}

#[test]
fn seeds_change_the_data_and_runs_repeat() {
    let take = |seed| {
        let mut g = Generator::new(&spec(Some(200), 1000, seed), &schema(), 0, 1).expect("build");
        drain(&mut g, 50)
    };
    assert_eq!(take(5), take(5));
    assert_ne!(take(5), take(6));
    assert_ne!(take(0), take(1));
}

#[test]
fn columns_follow_the_schema_order() {
    let schema = Schema::new([
        ("ts", ValueType::I64),
        ("user", ValueType::I64),
        ("amount", ValueType::F64),
    ]);
    let mut g = Generator::new(&spec(Some(3), 10, 0), &schema, 0, 1).expect("build");
    let batch = g.clone().poll_batch(10).expect("poll").expect("records");
    let types: Vec<ColumnType> = batch.columns().iter().map(|c| c.ty()).collect();
    assert_eq!(types, [ColumnType::I64, ColumnType::I64, ColumnType::F64]);
    assert!(batch.columns().iter().all(|c| c.nulls.is_none()));
    let rows = drain(&mut g, 10);
    let (user, amount, ts) = w1_reference(2, 10);
    assert_eq!(
        rows[2].row,
        vec![Value::I64(ts), Value::I64(user), Value::F64(amount)]
    );
}

#[test]
fn position_and_seek_replay_the_same_records() {
    let mut g = Generator::new(&spec(Some(100), 10, 1), &schema(), 1, 4).expect("build");
    g.poll_batch(5).expect("poll");
    let pos = g.position();
    assert_eq!(pos, SourcePosition::Sequence(21), "1 + 5 * 4");
    let rest = drain(&mut g, 7);
    assert_eq!(rest.len(), 20, "21, 25, ..., 97");
    g.seek(pos).expect("seek");
    assert_eq!(drain(&mut g, 3), rest);
    let e = g
        .seek(SourcePosition::Sequence(22))
        .expect_err("not this partition's");
    assert_eq!(
        e.to_string(),
        "state: generator partition 1 of 4: cannot seek to Sequence(22) (it emits sequence numbers 1 + k*4)"
    );
}

#[test]
fn unbounded_generator_keeps_going() {
    let mut g = Generator::new(&spec(None, 10, 0), &schema(), 0, 2).expect("build");
    for _ in 0..3 {
        assert_eq!(
            g.poll_batch(1000).expect("poll").map(|b| b.len()),
            Some(1000)
        );
    }
    assert_eq!(g.position(), SourcePosition::Sequence(6000));
}

#[test]
fn bad_settings_are_errors() {
    let e = Generator::new(&spec(None, 0, 0), &schema(), 0, 1).expect_err("keys 0");
    assert_eq!(e.to_string(), "generator: keys must be at least 1");
    let e = Generator::new(&spec(None, 5, 0), &schema(), 2, 2).expect_err("partition");
    assert_eq!(
        e.to_string(),
        "generator: partition 2 does not exist in parallelism 2"
    );
    let schema = Schema::new([("user", ValueType::I64), ("ts", ValueType::I64)]);
    let e = Generator::new(&spec(None, 5, 0), &schema, 0, 1).expect_err("schema");
    assert_eq!(
        e.to_string(),
        "generator: the schema needs column \"amount\" of type f64 (schema: user, ts)"
    );
}

//! The `recommend` stage against hand-computed expectations: co-occurrence candidates, the
//! factorisation's scores (the library trained by hand on the same rows), hits, the A/B
//! split, restore and the state TTL.

use super::{in_cooccurrence_arm, VARIANT_COOCCURRENCE, VARIANT_MF};
use crate::ml_stages::build_with_clock;
use crate::operator::{Operator, Output, SavedState};
use crate::operators::StageContext;
use crate::state::test_support::TestClock;
use crate::state::ttl::Clock;
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_protocol::batch;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{PartitionId, Record, Schema, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `(user, item, strength)`.
type Event = (i64, i64, Option<f64>);

/// One output row: items, scores, variant, model_version, hit.
#[derive(Debug, PartialEq)]
struct Row {
    items: Vec<i64>,
    scores: Vec<f64>,
    variant: Option<String>,
    hit: Option<f64>,
}

/// The stage with `ab_split` and its input schema.
fn stage(ab_split: f64) -> (quiver_protocol::spec::StageSpec, Schema) {
    let text = format!(
        "[job]\nname = \"t\"\n\n[[source]]\nname = \"events\"\nkind = \"file\"\npath = \"e.csv\"\n\
         format = \"csv\"\nschema = {{ u = \"i64\", i = \"i64\", s = \"f64\" }}\n\n[[stage]]\n\
         name = \"r\"\ninput = \"events\"\nkind = \"recommend\"\nuser = \"u\"\nitem = \"i\"\n\
         strength = \"s\"\nk = 3\nab_split = {ab_split:?}\n\n[[sink]]\nname = \"out\"\n\
         kind = \"discard\"\ninput = \"r\"\n"
    );
    let spec = JobSpec::parse(&text, Path::new("/jobs")).expect("spec");
    (spec.stages[0].clone(), spec.sources[0].schema.clone())
}

fn build(ab_split: f64, ttl: Option<Duration>, clock: &Arc<TestClock>) -> Box<dyn Operator> {
    let (stage, input) = stage(ab_split);
    let ctx = StageContext {
        max_parallelism: 128,
        state_ttl: ttl,
        checkpoints: true,
    };
    let clock: Arc<dyn Clock> = clock.clone();
    build_with_clock(&stage, &input, &ctx, PartitionId(0), clock).expect("build")
}

fn run(op: &mut dyn Operator, events: &[Event]) -> Vec<Row> {
    let (_, input) = stage(0.0);
    let records: Vec<Record> = events
        .iter()
        .map(|&(u, i, s)| Record {
            event_time: 0,
            row: vec![
                Value::I64(u),
                Value::I64(i),
                s.map_or(Value::Null, Value::F64),
            ],
        })
        .collect();
    let mut out = Output::default();
    op.process_batch(
        &batch::from_records(&input, &records).expect("batch"),
        &mut out,
    )
    .expect("process");
    out.records
        .iter()
        .flat_map(batch::to_records)
        .map(|r| {
            let vector = |v: &Value| match v {
                Value::Dense(x) => x.to_vec(),
                other => panic!("not a vector: {other:?}"),
            };
            Row {
                items: vector(&r.row[3]).into_iter().map(|x| x as i64).collect(),
                scores: vector(&r.row[4]),
                variant: match &r.row[5] {
                    Value::Str(s) => Some(s.to_string()),
                    _ => None,
                },
                hit: match r.row[7] {
                    Value::F64(x) => Some(x),
                    _ => None,
                },
            }
        })
        .collect()
}

#[test]
fn cooccurring_items_are_recommended_and_seen_ones_are_not() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(1.0, None, &clock);
    // Users 1 and 2 both took item 10 then 20; user 3 took 10 then 30, then user 4 takes 10.
    let rows = run(
        op.as_mut(),
        &[
            (1, 10, Some(1.0)),
            (1, 20, Some(1.0)),
            (2, 10, Some(1.0)),
            (2, 20, Some(1.0)),
            (3, 10, Some(1.0)),
            (3, 30, Some(1.0)),
            (4, 10, Some(1.0)),
        ],
    );
    let last = rows.last().expect("rows");
    assert_eq!(last.variant.as_deref(), Some(VARIANT_COOCCURRENCE));
    // 10→20 has weight 1/2 + 1/2, 10→30 has 1/2; item 10 itself is the user's.
    assert_eq!(last.items, vec![20, 30]);
    assert_eq!(last.scores, vec![1.0, 0.5]);
    assert_eq!(
        last.hit, None,
        "no list was served before the user's first row"
    );
    // User 4 then takes 20, which was first on its list.
    let next = run(op.as_mut(), &[(4, 20, Some(1.0)), (4, 99, Some(1.0))]);
    assert_eq!(next[0].hit, Some(1.0));
    assert_eq!(
        next[1].hit,
        Some(0.0),
        "99 was not on the list served after 20"
    );
    assert!(!next[1].items.contains(&20) && !next[1].items.contains(&99));
}

#[test]
fn the_mf_variant_ranks_by_the_factorisation_trained_on_the_same_rows() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(0.0, None, &clock);
    let events: Vec<Event> = (0..200)
        .map(|n| {
            (
                (n % 7) as i64,
                ((n * 13) % 97) as i64,
                Some(((n % 5) + 1) as f64),
            )
        })
        .collect();
    let rows = run(op.as_mut(), &events);
    let mut reference = MatrixFactorization::new(MfParams::biased_mf_stream()).expect("model");
    for &(u, i, s) in &events {
        reference
            .learn_one(u as u64, i as u64, s.expect("strength"))
            .expect("learn");
    }
    let last = rows.last().expect("rows");
    let user = events.last().expect("events").0;
    assert_eq!(last.variant.as_deref(), Some(VARIANT_MF));
    assert!(!last.items.is_empty());
    for (item, score) in last.items.iter().zip(&last.scores) {
        let expected = reference.predict_one(user as u64, *item as u64);
        assert!(
            (score - expected).abs() < 1e-12,
            "{item}: {score} vs {expected}"
        );
    }
    assert!(last.scores.windows(2).all(|w| w[0] >= w[1]), "best first");
}

#[test]
fn null_ids_give_null_outputs_and_a_null_strength_learns_nothing() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(1.0, None, &clock);
    let (_, input) = stage(0.0);
    let records = vec![Record {
        event_time: 0,
        row: vec![Value::Null, Value::I64(1), Value::F64(1.0)],
    }];
    let mut out = Output::default();
    op.process_batch(
        &batch::from_records(&input, &records).expect("batch"),
        &mut out,
    )
    .expect("process");
    let row = &batch::to_records(&out.records[0])[0];
    assert!(row.row[3..].iter().all(|v| *v == Value::Null));
    let rows = run(op.as_mut(), &[(1, 5, None), (2, 6, None)]);
    assert!(
        rows.iter().all(|r| r.items.is_empty()),
        "nothing was learnt"
    );
}

#[test]
fn a_restored_partition_continues_as_the_uninterrupted_one() {
    let clock = Arc::new(TestClock::default());
    let first: Vec<Event> = (0..300)
        .map(|n| {
            (
                (n % 9) as i64,
                ((n * 7) % 23) as i64,
                Some(1.0 + (n % 3) as f64),
            )
        })
        .collect();
    let then: Vec<Event> = (0..50)
        .map(|n| ((n % 9) as i64, (n % 5) as i64, Some(2.0)))
        .collect();
    for split in [0.0, 0.5, 1.0] {
        let mut whole = build(split, None, &clock);
        run(whole.as_mut(), &first);
        let pieces = whole.snapshot().expect("snapshot");
        let expected = run(whole.as_mut(), &then);
        let mut restored = build(split, None, &clock);
        restored.restore(SavedState::from(pieces)).expect("restore");
        assert_eq!(run(restored.as_mut(), &then), expected, "ab_split {split}");
    }
}

#[test]
fn users_idle_for_the_ttl_are_forgotten() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(1.0, Some(Duration::from_millis(100)), &clock);
    clock.set(1_000);
    run(
        op.as_mut(),
        &[(1, 10, Some(1.0)), (1, 20, Some(1.0)), (2, 10, Some(1.0))],
    );
    assert_eq!(op.state_entries(), 2);
    clock.set(1_150);
    let rows = run(op.as_mut(), &[(2, 20, Some(1.0))]);
    assert_eq!(op.state_expired(), 2, "both users were idle past the TTL");
    assert_eq!(rows[0].hit, None, "user 2's served list was forgotten");
    assert_eq!(op.state_entries(), 1);
}

#[test]
fn the_ab_split_assigns_about_its_share_of_users() {
    let n = 100_000u64;
    for split in [0.0, 0.1, 0.5, 1.0] {
        let share = (0..n).filter(|&u| in_cooccurrence_arm(u, split)).count() as f64 / n as f64;
        assert!((share - split).abs() < 0.01, "split {split}: {share}");
    }
}

//! Matrix factorisation's users under `job.state_ttl` on a test clock, and its incremental
//! checkpoints, against the library run by hand: a reference model learns the same ratings and
//! forgets a user (sets it to no state) once the user was not learnt from for the TTL.

use crate::ml_stages::build_with_clock;
use crate::operator::{Operator, Output};
use crate::operators::StageContext;
use crate::state::test_support::{Chains, TestClock};
use crate::state::ttl::Clock;
use quiver_ml::recommendation::{MatrixFactorization, MfParams, UserState};
use quiver_ml::OnlineModel;
use quiver_protocol::batch;
use quiver_protocol::keygroup::{key_group, key_groups_of, key_hash_code};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::state_piece::Piece;
use quiver_protocol::{CheckpointId, KeyGroup, PartitionId, Record, Schema, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const TTL: i64 = 100;
const USERS: u64 = 20;

/// `(user, item, rating)`; a `None` rating only predicts.
type Rating = (i64, i64, Option<f64>);

/// Batches of four ratings, one every 30 ms: each user comes back after a random gap, often
/// longer than the TTL; every fifth rating is null.
fn schedule(batches: usize) -> Vec<(i64, Vec<Rating>)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) % n
    };
    (0..batches)
        .map(|b| {
            let rows = (0..4)
                .map(|r| {
                    let rating = ((b * 4 + r) % 5 != 0).then(|| (next(5) + 1) as f64);
                    (next(USERS) as i64, next(6) as i64, rating)
                })
                .collect();
            (b as i64 * 30, rows)
        })
        .collect()
}

/// The stage and its input schema.
fn stage() -> (quiver_protocol::spec::StageSpec, Schema) {
    let text = "[job]\nname = \"t\"\nmax_parallelism = 128\n\n[[source]]\nname = \"events\"\n\
        kind = \"file\"\npath = \"e.csv\"\nformat = \"csv\"\nschema = { u = \"i64\", i = \"i64\", r = \"f64\" }\n\n\
        [[stage]]\nname = \"s\"\ninput = \"events\"\nkind = \"matrix_factorization\"\nuser = \"u\"\nitem = \"i\"\n\
        rating = \"r\"\n\n[[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"s\"\n";
    let spec = JobSpec::parse(text, Path::new("/jobs")).expect("spec");
    (spec.stages[0].clone(), spec.sources[0].schema.clone())
}

/// Partition `p` of `parallelism` with `ttl` (ms; `None`: forever) on `clock`.
fn build(ttl: Option<i64>, clock: &Arc<TestClock>, parallelism: u32, p: u32) -> Box<dyn Operator> {
    let (mut stage, input) = stage();
    stage.parallelism = parallelism;
    let ctx = StageContext {
        max_parallelism: 128,
        state_ttl: ttl.map(|t| Duration::from_millis(t as u64)),
        checkpoints: true,
    };
    let clock: Arc<dyn Clock> = clock.clone();
    build_with_clock(&stage, &input, &ctx, PartitionId(p), clock).expect("build")
}

/// Runs one batch at time `t`; returns `(prediction, model_version)` per row.
fn run(op: &mut dyn Operator, clock: &TestClock, t: i64, rows: &[Rating]) -> Vec<(Value, Value)> {
    clock.set(t);
    let records: Vec<Record> = rows
        .iter()
        .map(|&(u, i, r)| Record {
            event_time: t,
            row: vec![
                Value::I64(u),
                Value::I64(i),
                r.map_or(Value::Null, Value::F64),
            ],
        })
        .collect();
    let (_, input) = stage();
    let mut out = Output::default();
    op.process_batch(
        &batch::from_records(&input, &records).expect("batch"),
        &mut out,
    )
    .expect("process");
    out.records
        .iter()
        .flat_map(batch::to_records)
        .map(|r| (r.row[3].clone(), r.row[4].clone()))
        .collect()
}

/// The library learning the same ratings, forgetting users as the TTL says.
struct Reference {
    /// The TTL in ms (`i64::MAX`: none).
    ttl: i64,
    model: MatrixFactorization,
    /// Each user's last write.
    last: HashMap<u64, i64>,
    expired: u64,
}

impl Reference {
    fn new() -> Self {
        Reference::with_ttl(TTL)
    }

    fn with_ttl(ttl: i64) -> Self {
        Reference {
            ttl,
            model: MatrixFactorization::new(MfParams::biased_mf_stream()).expect("model"),
            last: HashMap::new(),
            expired: 0,
        }
    }

    /// Forgets (and counts) the users not learnt from for the TTL at `t`.
    fn expire(&mut self, t: i64) {
        let gone: Vec<u64> = self
            .last
            .iter()
            .filter(|&(_, &l)| t - l >= self.ttl)
            .map(|(&u, _)| u)
            .collect();
        for user in gone {
            let none = UserState {
                bias: None,
                factors: None,
            };
            self.model.insert_user(user, none).expect("no state");
            self.last.remove(&user);
            self.expired += 1;
        }
    }

    fn run(&mut self, t: i64, rows: &[Rating]) -> Vec<(Value, Value)> {
        self.expire(t);
        rows.iter()
            .map(|&(u, i, r)| {
                let (u, i) = (u as u64, i as u64);
                let out = (
                    Value::F64(self.model.predict_one(u, i)),
                    Value::I64(self.model.version().0 as i64),
                );
                if let Some(r) = r {
                    self.model.learn_one(u, i, r).expect("learn");
                    self.last.insert(u, t);
                }
                out
            })
            .collect()
    }
}

fn group_of(user: u64) -> KeyGroup {
    key_group(key_hash_code([Value::I64(user as i64)].iter()), 128)
}

#[test]
fn a_user_not_learnt_from_for_the_ttl_starts_again_as_a_new_user() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(Some(TTL), &clock, 1, 0);
    let mut reference = Reference::new();
    for (t, rows) in schedule(60) {
        assert_eq!(
            run(&mut *op, &clock, t, &rows),
            reference.run(t, &rows),
            "at {t}"
        );
        // The cleanup examines the whole (small) table after every batch.
        assert_eq!(op.state_entries(), reference.last.len() as u64, "at {t}");
        assert_eq!(op.state_expired(), reference.expired, "at {t}");
    }
    assert!(
        reference.expired > 20,
        "users expire: {}",
        reference.expired
    );
}

#[test]
fn without_a_ttl_no_user_is_forgotten() {
    let clock = Arc::new(TestClock::default());
    let mut op = build(None, &clock, 1, 0);
    let mut reference = Reference::with_ttl(i64::MAX);
    for (t, rows) in schedule(60) {
        assert_eq!(
            run(&mut *op, &clock, t, &rows),
            reference.run(t, &rows),
            "at {t}"
        );
    }
    assert_eq!(op.state_entries(), reference.last.len() as u64);
    assert_eq!((op.state_expired(), reference.expired), (0, 0));
}

#[test]
fn a_snapshot_leaves_expired_users_out_and_a_restore_drops_those_expired_meanwhile() {
    let batches = schedule(50);
    let clock = Arc::new(TestClock::default());
    let mut first = build(Some(TTL), &clock, 1, 0);
    let mut reference = Reference::new();
    let mut outputs = Vec::new();
    for (t, rows) in &batches[..25] {
        run(&mut *first, &clock, *t, rows);
        outputs.extend(reference.run(*t, rows));
    }
    // Every user expires before any is cleaned: the snapshot holds the rest of the model only.
    let t = batches[24].0;
    clock.set(t + TTL);
    let held = first.state_entries();
    assert!(held > 0);
    let empty = first.snapshot().expect("snapshot");
    let entries: usize = empty
        .iter()
        .map(|s| Piece::decode(&s.bytes).expect("piece").entries.len())
        .sum();
    assert_eq!(entries, 1, "only the rest of the model");
    // A snapshot now, restored 50 ms later: users written in the 50 ms before the snapshot
    // are restored, older ones dropped (and not counted).
    clock.set(t);
    let saved = first.snapshot().expect("snapshot");
    let resumed_at = batches[25].0 + 20;
    clock.set(resumed_at);
    let mut second = build(Some(TTL), &clock, 1, 0);
    second.restore(saved.into()).expect("restore");
    reference.expire(resumed_at);
    assert_eq!(second.state_entries(), reference.last.len() as u64);
    assert_eq!(second.state_expired(), 0);
    let mut resumed = Vec::new();
    for (t, rows) in &batches[25..] {
        let t = t + 20;
        resumed.extend(run(&mut *second, &clock, t, rows));
        outputs.extend(reference.run(t, rows));
    }
    assert_eq!(resumed, outputs[outputs.len() - resumed.len()..]);
}

#[test]
fn checkpoints_copy_the_users_changed_since_the_last_confirmed_one_and_restore_from_chains() {
    let batches = schedule(60);
    let clock = Arc::new(TestClock::default());
    let mut op = build(Some(TTL), &clock, 1, 0);
    let mut reference = Reference::new();
    let mut chains = Chains::default();
    let (mut base, mut changed) = (None, BTreeSet::new());
    let mut last_complete = (0, 0);
    for (b, (t, rows)) in batches.iter().enumerate() {
        run(&mut *op, &clock, *t, rows);
        let before = reference.last.clone();
        reference.run(*t, rows);
        // Users learnt from, and users gone, since the last confirmed checkpoint.
        changed.extend(rows.iter().filter(|r| r.2.is_some()).map(|r| r.0 as u64));
        changed.extend(before.keys().filter(|u| !reference.last.contains_key(u)));
        if b % 6 != 5 {
            continue;
        }
        let n = b as u64;
        let copy = op.snapshot_changes(CheckpointId(n)).expect("copy");
        let changes = copy.expect("a tracked stage").serialize().expect("encode");
        let groups: BTreeSet<KeyGroup> = changes.deltas.iter().map(|d| d.group).collect();
        let mut expected: BTreeSet<KeyGroup> = changed.iter().map(|&u| group_of(u)).collect();
        expected.insert(KeyGroup(0));
        assert_eq!(
            groups, expected,
            "checkpoint {n}: the rest's group and changed users'"
        );
        // Every third checkpoint is aborted: the next one carries its changes too.
        if b % 18 != 11 {
            chains.complete(n, base, changes);
            op.confirm(CheckpointId(n));
            base = Some(n);
            changed.clear();
            last_complete = (n, b);
        }
    }
    // Restore the last complete checkpoint and replay the batches after its barrier.
    let (n, b) = last_complete;
    let mut expected = Reference::new();
    let mut restored = build(Some(TTL), &clock, 1, 0);
    for (t, rows) in &batches[..=b] {
        expected.run(*t, rows);
    }
    clock.set(batches[b].0);
    restored
        .restore(chains.restore(n, 0..128))
        .expect("restore");
    assert_eq!(restored.state_entries(), expected.last.len() as u64);
    for (t, rows) in &batches[b + 1..] {
        assert_eq!(
            run(&mut *restored, &clock, *t, rows),
            expected.run(*t, rows)
        );
    }
    // At parallelism 2, partition 1 restores the users of its key groups.
    let range = key_groups_of(PartitionId(1), 128, 2);
    let mut half = build(Some(TTL), &clock, 2, 1);
    half.restore(chains.restore(n, range.clone()))
        .expect("restore");
    let mut reference = Reference::new();
    for (t, rows) in &batches[..=b] {
        reference.run(*t, rows);
    }
    let mine = reference
        .last
        .keys()
        .filter(|&&u| range.contains(&group_of(u).0))
        .count();
    assert_eq!(half.state_entries(), mine as u64);
}

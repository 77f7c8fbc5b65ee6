//! Matrix factorisation keeps each user's state in the user's key group: the plan partitions
//! its input by the user column, and restored at another parallelism from the pieces of the
//! key groups a partition owns, every user continues with the bias and factors it had, the
//! rest of the model coming from the lowest old partition in the new range (or fresh). The
//! expectations are the library's models trained on the same rows, split and put together.

#[allow(dead_code)]
#[path = "ml_stages/support.rs"]
mod support;

use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::OnlineModel;
use quiver_node::ml_stages;
use quiver_node::operator::{KeyGroupState, Operator};
use quiver_protocol::batch::Column;
use quiver_protocol::keygroup::{key_group, key_groups_of, key_hash_codes, partition_of};
use quiver_protocol::plan::{JobPlan, Partitioning};
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{KeyGroup, PartitionId, Row, Value};
use std::path::Path;
use support::{run, stage_spec};

const SCHEMA: &str = r#"{ u = "i64", i = "i64", r = "f64" }"#;
const MF: &str = "kind = \"matrix_factorization\"\nuser = \"u\"\nitem = \"i\"\nrating = \"r\"";
const USERS: i64 = 40;
const ITEMS: i64 = 15;

/// The key group of user `u` (the runtime's key hash of the i64 column value).
fn group_of(u: i64) -> KeyGroup {
    key_group(key_hash_codes(&[&Column::i64(vec![u])], 1)[0], 128)
}

/// 600 ratings `(user, item, rating)`.
fn ratings() -> Vec<(i64, i64, f64)> {
    (0..600i64)
        .map(|n| (n * 7 % USERS, n * 11 % ITEMS, (n * 13 % 5) as f64 + 1.0))
        .collect()
}

fn rows(ratings: &[(i64, i64, f64)]) -> Vec<Row> {
    ratings
        .iter()
        .map(|&(u, i, r)| vec![Value::I64(u), Value::I64(i), Value::F64(r)])
        .collect()
}

/// The library's model trained on `ratings` in order.
fn library(ratings: &[(i64, i64, f64)]) -> MatrixFactorization {
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    for &(u, i, r) in ratings {
        model.learn_one(u as u64, i as u64, r).unwrap();
    }
    model
}

/// Partition `p` of the stage at `parallelism`.
fn partition(parallelism: u32, p: u32) -> Box<dyn Operator> {
    let (stage, input) = stage_spec(SCHEMA, MF, parallelism);
    ml_stages::build(&stage, &input, &support::CONTEXT, PartitionId(p)).unwrap()
}

/// What the stage predicts for every user of `users` and every item (ratings null: nothing
/// is learnt), and the model version it reports.
fn probe(op: &mut dyn Operator, users: &[i64]) -> Vec<Row> {
    let rows: Vec<Row> = users
        .iter()
        .flat_map(|&u| (0..ITEMS).map(move |i| vec![Value::I64(u), Value::I64(i), Value::Null]))
        .collect();
    run(op, &rows, 64)
        .into_iter()
        .map(|r| r[3..].to_vec())
        .collect()
}

/// The same probe answered by a library model.
fn expected(model: &MatrixFactorization, users: &[i64]) -> Vec<Row> {
    let version = model.version().0 as i64;
    users
        .iter()
        .flat_map(|&u| {
            (0..ITEMS).map(move |i| {
                vec![
                    Value::F64(model.predict_one(u as u64, i as u64)),
                    Value::I64(version),
                ]
            })
        })
        .collect()
}

/// The pieces of `states` that partition `p` of `parallelism` owns.
fn owned(states: &[KeyGroupState], parallelism: u32, p: u32) -> Vec<KeyGroupState> {
    let range = key_groups_of(PartitionId(p), 128, parallelism);
    states
        .iter()
        .filter(|s| range.contains(&s.group.0))
        .cloned()
        .collect()
}

#[test]
fn the_plan_partitions_matrix_factorization_by_the_user_column() {
    let text = format!(
        "[job]\nname = \"t\"\n\n[[source]]\nname = \"events\"\nkind = \"file\"\npath = \"e.csv\"\n\
         format = \"csv\"\nschema = {SCHEMA}\n\n[[stage]]\nname = \"s\"\ninput = \"events\"\n{MF}\n\n\
         [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"s\"\n"
    );
    let plan = JobPlan::from_spec(&JobSpec::parse(&text, Path::new("/jobs")).unwrap());
    let stage = plan.operators.iter().find(|o| o.name == "s").unwrap();
    assert_eq!(
        stage.input.as_ref().map(|e| &e.partitioning),
        Some(&Partitioning::Hash {
            key_columns: vec![0]
        })
    );
}

#[test]
fn restored_at_another_parallelism_every_user_continues_with_its_own_state() {
    // Two partitions, each fed the ratings of the users in its key groups (as the plan's
    // hash exchange does).
    let all = ratings();
    let of_partition = |p: u32| -> Vec<(i64, i64, f64)> {
        all.iter()
            .copied()
            .filter(|&(u, _, _)| partition_of(group_of(u), 128, 2).0 == p)
            .collect()
    };
    let (first, second) = (of_partition(0), of_partition(1));
    assert!(
        first.len() > 100 && second.len() > 100,
        "both partitions learn"
    );
    let mut old: Vec<Box<dyn Operator>> = vec![partition(2, 0), partition(2, 1)];
    run(&mut *old[0], &rows(&first), 32);
    run(&mut *old[1], &rows(&second), 32);
    // The state-size counter counts users.
    let users_of = |rows: &[(i64, i64, f64)]| {
        let mut users: Vec<i64> = rows.iter().map(|r| r.0).collect();
        users.sort_unstable();
        users.dedup();
        users.len() as u64
    };
    assert_eq!(old[0].state_entries(), users_of(&first));
    assert_eq!(old[1].state_entries(), users_of(&second));
    let mut states = old[0].snapshot().unwrap();
    states.extend(old[1].snapshot().unwrap());
    let (a, b) = (library(&first), library(&second));

    // Parallelism 1: partition 0 owns every key group; its rest of the model is the old
    // partition 0's (its own first key group), and every user's state comes along.
    let mut whole = a.without_users();
    for (user, state) in a.users().into_iter().chain(b.users()) {
        whole.insert_user(user, state).unwrap();
    }
    let users: Vec<i64> = (0..USERS).collect();
    let mut one = partition(1, 0);
    one.restore(owned(&states, 1, 0).into()).unwrap();
    assert_eq!(probe(&mut *one, &users), expected(&whole, &users));

    // Parallelism 4: partition 3 owns key groups 96..128, which hold users of the old
    // partition 1 but not its rest (under key group 64): a fresh model with those users.
    let mine: Vec<i64> = users
        .iter()
        .copied()
        .filter(|&u| (96..128).contains(&group_of(u).0))
        .collect();
    assert!(!mine.is_empty());
    let mut fresh = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    for (user, state) in b.users() {
        if mine.contains(&(user as i64)) {
            fresh.insert_user(user, state).unwrap();
        }
    }
    let mut fourth = partition(4, 3);
    fourth.restore(owned(&states, 4, 3).into()).unwrap();
    assert_eq!(probe(&mut *fourth, &mine), expected(&fresh, &mine));
}

#[test]
fn a_snapshot_restored_at_the_same_parallelism_continues_the_stream_exactly() {
    let all = rows(&ratings());
    let uninterrupted = run(&mut *partition(1, 0), &all, 50);
    let mut first = partition(1, 0);
    let head = run(&mut *first, &all[..250], 50);
    let mut second = partition(1, 0);
    second.restore(first.snapshot().unwrap().into()).unwrap();
    let tail = run(&mut *second, &all[250..], 50);
    let resumed: Vec<Row> = head.into_iter().chain(tail).collect();
    assert_eq!(resumed, uninterrupted);
}

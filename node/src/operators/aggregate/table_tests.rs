//! Property tests of [`AccTable`] against a `std` `HashMap` model: any sequence of writes,
//! restores, removals, clears, checkpoints and TTL cleanups leaves the table holding exactly
//! the model's keys and accumulators (every function: count, both sums, avg, max), each key
//! in one slot of `0..len`, and reporting exactly the keys changed since the last checkpoint.

use super::acc_columns::Update;
use super::accumulator::Acc;
use super::key::{GroupKey, I64Key, StrKey};
use super::table::{hash, AccTable};
use crate::state::test_support::TestClock;
use crate::state::ttl::{Clock, Expiry};
use proptest::prelude::*;
use quiver_protocol::batch::ValueRef;
use quiver_protocol::Value;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The accumulators a new key starts from: one of every function.
fn initial() -> Vec<Acc> {
    vec![
        Acc::Count(0),
        Acc::SumI64(0, false),
        Acc::SumF64(0.0, false),
        Acc::Avg(0.0, 0),
        Acc::Extreme(Value::Null),
    ]
}

/// `max` for the extreme, anything for the others.
const KEEP: Ordering = Ordering::Greater;

#[derive(Debug, Clone)]
enum Op {
    /// A record of key `.0` with value `.1` (null: `None`).
    Write(u8, Option<i64>),
    /// A restore of key `.0` with the accumulators of `.1` values.
    Insert(u8, Vec<Option<i64>>),
    Remove(u8),
    /// Removes whatever key holds slot `.0 % len`.
    SwapRemove(usize),
    Clear,
    /// A barrier: the changed keys are taken.
    Checkpoint,
    /// The clock moves on by `.0` ms, then a cleanup of budget `.1` records runs.
    Clean(i64, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..24;
    let value = prop::option::weighted(0.8, -5i64..5);
    prop_oneof![
        10 => (key.clone(), value.clone()).prop_map(|(k, v)| Op::Write(k, v)),
        2 => (key.clone(), prop::collection::vec(value, 0..4)).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => key.prop_map(Op::Remove),
        1 => any::<usize>().prop_map(Op::SwapRemove),
        1 => Just(Op::Clear),
        2 => Just(Op::Checkpoint),
        2 => (0i64..40, 0usize..20).prop_map(|(t, b)| Op::Clean(t, b)),
    ]
}

/// Key `k` of the test's key type: a null, small numbers, and (for i64) keys whose hashes
/// are far apart.
trait TestKey: GroupKey + std::fmt::Debug {
    fn key(k: u8) -> Self;
    fn by_ref(&self) -> Self::Ref<'_>;
}

impl TestKey for I64Key {
    fn key(k: u8) -> I64Key {
        // Key 1 is the number 0, which the table stores as it stores the null key.
        I64Key((k != 0).then(|| (i64::from(k) << (k % 40)) & !2))
    }
    fn by_ref(&self) -> I64Key {
        *self
    }
}

impl TestKey for StrKey {
    fn key(k: u8) -> StrKey {
        StrKey((k != 0).then(|| "k".repeat(usize::from(k)).into()))
    }
    fn by_ref(&self) -> super::key::StrRef<'_> {
        super::key::StrRef(self.0.as_deref())
    }
}

/// What the model holds of a key: accumulators and last write.
type Model<K> = HashMap<K, (Vec<Acc>, i64)>;

/// Runs `ops` on a tracked table with a 10 ms TTL and on the model, comparing after each.
fn check<K: TestKey>(ops: &[Op]) {
    let clock = Arc::new(TestClock::default());
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let mut expiry = Expiry::new(Duration::from_millis(10), dyn_clock.clone());
    let mut table: AccTable<K> = AccTable::new(&initial()).tracked(true);
    let mut model: Model<K> = HashMap::new();
    let mut changed: HashSet<K> = HashSet::new();
    let mut now = 0;
    for op in ops {
        expiry.tick();
        match op {
            Op::Write(k, v) => {
                let key = K::key(*k);
                let value = v.map(ValueRef::I64);
                let (mut accs, slot, new) = table
                    .find_or_insert(key.by_ref(), hash(&key.by_ref()))
                    .expect("room");
                if expiry.write(slot, new) {
                    accs.reset();
                }
                (0..initial().len()).for_each(|i| accs.update(i, value, KEEP));
                let held = model.entry(key.clone()).or_insert((initial(), now));
                if now - held.1 >= 10 {
                    held.0 = initial();
                }
                held.0.iter_mut().for_each(|a| a.update(value, KEEP));
                held.1 = now;
                changed.insert(key);
            }
            Op::Insert(k, values) => {
                let key = K::key(*k);
                let mut accs = initial();
                for v in values {
                    accs.iter_mut()
                        .for_each(|a| a.update(v.map(ValueRef::I64), KEEP));
                }
                let (slot, new) = table.insert(key.clone(), &accs).expect("stage's accs");
                expiry.set(slot, new, now);
                model.insert(key, (accs, now));
            }
            Op::Remove(k) => {
                let key = K::key(*k);
                if let Some((slot, _)) = table.get(&key) {
                    table.swap_remove(slot);
                    expiry.swap_remove(slot);
                    changed.insert(key.clone());
                }
                model.remove(&key);
            }
            Op::SwapRemove(i) => {
                if table.len() > 0 {
                    let slot = i % table.len();
                    let key = table.swap_remove(slot).expect("a slot");
                    expiry.swap_remove(slot);
                    assert!(model.remove(&key).is_some(), "{key:?} was not held");
                    changed.insert(key);
                }
                assert!(table.swap_remove(table.len()).is_none());
            }
            Op::Clear => {
                table.clear();
                expiry = Expiry::new(Duration::from_millis(10), dyn_clock.clone());
                model.clear();
                changed.clear();
            }
            Op::Checkpoint => {
                let taken: HashSet<K> = table.take_changed().into_iter().collect();
                assert_eq!(taken, std::mem::take(&mut changed));
            }
            Op::Clean(dt, batch) => {
                now += dt;
                clock.set(now);
                expiry.tick();
                let mut removed = Vec::new();
                expiry.clean(*batch, |slot| {
                    removed.push(table.swap_remove(slot).expect("an expired slot"));
                });
                for key in removed {
                    let (_, written) = model.remove(&key).expect("a held key");
                    assert!(now - written >= 10, "{key:?} removed before it expired");
                    changed.insert(key);
                }
            }
        }
        compare(&table, &model);
    }
}

fn compare<K: TestKey>(table: &AccTable<K>, model: &Model<K>) {
    assert_eq!(table.len(), model.len());
    let mut slots = HashSet::new();
    for (key, slot, accs) in table.iter() {
        assert!(
            slot < table.len() && slots.insert(slot),
            "slot {slot} twice"
        );
        let (accs_held, _) = model.get(&key).expect("a key of the model");
        assert_eq!(&accs.to_vec(), accs_held, "{key:?}");
        assert_eq!(table.get(&key).map(|(s, _)| s), Some(slot));
        assert_eq!(table.find(key.by_ref(), hash(&key.by_ref())), Some(slot));
    }
    for key in (0..24).map(K::key).filter(|k| !model.contains_key(k)) {
        assert!(table.get(&key).is_none(), "{key:?} is not held");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_i64_keyed_table_holds_what_a_hash_map_holds(ops in prop::collection::vec(op(), 0..200)) {
        check::<I64Key>(&ops);
    }

    #[test]
    fn a_string_keyed_table_holds_what_a_hash_map_holds(ops in prop::collection::vec(op(), 0..200)) {
        check::<StrKey>(&ops);
    }
}

#[test]
fn a_restored_accumulator_of_another_function_is_an_error() {
    let mut table: AccTable<I64Key> = AccTable::new(&initial());
    let mut wrong = initial();
    wrong[1] = Acc::Count(3);
    assert!(table.insert(I64Key(Some(1)), &wrong).is_err());
    assert!(table.insert(I64Key(Some(1)), &initial()[..2]).is_err());
    assert_eq!(table.len(), 0);
}

#[test]
fn a_table_grows_through_many_keys_and_keeps_them_all() {
    let mut table: AccTable<I64Key> = AccTable::new(&initial()[..2]);
    for round in 0..2 {
        for k in 0..50_000i64 {
            let key = I64Key(Some(k * 7919));
            let (mut accs, slot, new) = table.find_or_insert(key, hash(&key)).expect("room");
            assert_eq!(new, round == 0);
            assert_eq!(slot, k as usize);
            accs.update(0, None, KEEP);
            accs.update(1, Some(ValueRef::I64(k)), KEEP);
        }
    }
    for (key, slot, accs) in table.iter() {
        let k = slot as i64;
        assert_eq!(key.0, Some(k * 7919));
        assert_eq!(accs.to_vec(), vec![Acc::Count(2), Acc::SumI64(2 * k, true)]);
    }
}

/// `warm_insert` only reads: on an empty table, and on a table it is called for before every
/// insert (across its growth), it finds nothing wrong and changes nothing.
#[test]
fn warm_insert_reads_any_table_and_changes_nothing() {
    let mut table: AccTable<I64Key> = AccTable::new(&initial());
    assert_eq!(table.warm_insert(hash(&I64Key(Some(7)))), 0);
    for k in 0..10_000_i64 {
        let key = I64Key(Some(k));
        let h = hash(&key);
        table.warm_insert(h);
        let (_, slot, new) = table.find_or_insert(key, h).unwrap();
        assert_eq!((slot, new), (k as usize, true));
    }
    for k in 0..10_000_i64 {
        let key = I64Key(Some(k));
        table.warm_insert(hash(&key));
        assert_eq!(table.get(&key).map(|(slot, _)| slot), Some(k as usize));
    }
}

//! Property tests of the column-at-a-time updates ([`AccColumns::add_rows`],
//! [`AccColumns::write_all`]) against [`Acc::update`] and [`Acc::write`] applied a record at a
//! time: any batch of records over any slots, with or without nulls, leaves the same
//! accumulators and emits the same values after each record.

use super::acc_columns::{AccColumns, Hit};
use super::accumulator::Acc;
use proptest::prelude::*;
use quiver_protocol::batch::{Column, ColumnBuilder, ColumnType};
use quiver_protocol::Value;
use std::cmp::Ordering;

/// One aggregate of every function, with its argument's column type (`None`: `count()`)
/// and output column type.
fn aggregates() -> Vec<(Acc, Option<ColumnType>, ColumnType, Ordering)> {
    vec![
        (Acc::Count(0), None, ColumnType::I64, Ordering::Greater),
        (
            Acc::SumI64(0, false),
            Some(ColumnType::I64),
            ColumnType::I64,
            Ordering::Greater,
        ),
        (
            Acc::SumF64(0.0, false),
            Some(ColumnType::F64),
            ColumnType::F64,
            Ordering::Greater,
        ),
        (
            Acc::Avg(0.0, 0),
            Some(ColumnType::F64),
            ColumnType::F64,
            Ordering::Greater,
        ),
        (
            Acc::Extreme(Value::Null),
            Some(ColumnType::I64),
            ColumnType::I64,
            Ordering::Less,
        ),
        (
            Acc::Extreme(Value::Null),
            Some(ColumnType::F64),
            ColumnType::F64,
            Ordering::Greater,
        ),
    ]
}

/// A column of `ty` holding `values` (`None`: null; a column without a null has no bitmap).
fn column(ty: ColumnType, values: &[Option<i64>]) -> Column {
    let mut b = ColumnBuilder::new(ty, values.len());
    for v in values {
        match (v, ty) {
            (None, _) => b.push_null(),
            (Some(x), ColumnType::I64) => b.push_i64(*x).expect("i64"),
            // Halves: sums stay exact, so any order of addition gives the same bits.
            (Some(x), _) => b.push_f64(*x as f64 / 2.0).expect("f64"),
        }
    }
    b.build()
}

/// Checks a batch of `rows` (each: its slot among `slots`, its argument) added to `slots`
/// slots that already hold `before` values each.
fn check(slots: usize, before: &[Option<i64>], rows: &[(usize, Option<i64>)]) {
    let plans = aggregates();
    let initial: Vec<Acc> = plans.iter().map(|p| p.0.clone()).collect();
    let mut table = AccColumns::new(&initial);
    let mut model: Vec<Vec<Acc>> = Vec::new();
    for _ in 0..slots {
        table.push();
        let mut accs = initial.clone();
        for (i, acc) in accs.iter_mut().enumerate() {
            let arg = column(plans[i].1.unwrap_or(ColumnType::I64), before);
            (0..before.len()).for_each(|r| acc.update(Some(arg.get(r)), plans[i].3));
        }
        table.slot_mut(model.len()).set(&accs);
        model.push(accs);
    }
    let values: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
    let hits: Vec<Hit> = rows
        .iter()
        .enumerate()
        .map(|(row, &(slot, _))| Hit {
            slot: (slot % slots) as u32,
            row: row as u32,
        })
        .collect();
    for (i, (_, arg_type, out_type, keep)) in plans.iter().enumerate() {
        let arg = arg_type.map(|ty| column(ty, &values));
        let mut out = ColumnBuilder::new(*out_type, 0);
        table
            .add_rows(i, &hits, (arg.as_ref(), *keep), Some(&mut out))
            .expect("output type");
        let mut expected = ColumnBuilder::new(*out_type, 0);
        for hit in &hits {
            let acc = &mut model[hit.slot as usize][i];
            acc.update(arg.as_ref().map(|c| c.get(hit.row as usize)), *keep);
            acc.write(&mut expected).expect("output type");
        }
        assert_eq!(
            out.build(),
            expected.build(),
            "aggregate {i}'s values after each record"
        );
    }
    for (slot, accs) in model.iter().enumerate() {
        assert_eq!(&table.slot(slot).to_vec(), accs, "slot {slot}");
    }
    let mut all: Vec<ColumnBuilder> = plans.iter().map(|p| ColumnBuilder::new(p.2, 0)).collect();
    table.write_all(&mut all).expect("output types");
    for (i, built) in all.into_iter().enumerate() {
        let mut expected = ColumnBuilder::new(plans[i].2, 0);
        model
            .iter()
            .for_each(|accs| accs[i].write(&mut expected).expect("type"));
        assert_eq!(built.build(), expected.build(), "aggregate {i}, every slot");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_batch_added_a_column_at_a_time_equals_its_records_added_one_by_one(
        slots in 1usize..6,
        before in prop::collection::vec(prop::option::weighted(0.7, -9i64..9), 0..3),
        rows in prop::collection::vec((0usize..6, prop::option::weighted(0.9, -99i64..99)), 0..40),
    ) {
        check(slots, &before, &rows);
    }
}

#[test]
fn a_batch_without_nulls_emits_each_records_count_and_sum() {
    let mut table = AccColumns::new(&[Acc::Count(0), Acc::SumI64(0, false)]);
    table.push();
    table.push();
    // Rows 0 and 2 go to slot 0, row 1 to slot 1.
    let hits = [(0, 0), (1, 1), (0, 2)].map(|(slot, row)| Hit { slot, row });
    let arg = column(ColumnType::I64, &[Some(4), Some(6), Some(-2)]);
    let mut n = ColumnBuilder::new(ColumnType::I64, 0);
    let mut s = ColumnBuilder::new(ColumnType::I64, 0);
    let keep = Ordering::Greater;
    table
        .add_rows(0, &hits, (None, keep), Some(&mut n))
        .expect("i64");
    table
        .add_rows(1, &hits, (Some(&arg), keep), Some(&mut s))
        .expect("i64");
    assert_eq!(n.build().as_i64(), Some(&[1, 1, 2][..]));
    assert_eq!(s.build().as_i64(), Some(&[4, 6, 2][..]));
    assert_eq!(
        table.slot(0).to_vec(),
        vec![Acc::Count(2), Acc::SumI64(2, true)]
    );
    assert_eq!(
        table.slot(1).to_vec(),
        vec![Acc::Count(1), Acc::SumI64(6, true)]
    );
}

use super::*;
use crate::{ColumnBuilder, ColumnType};

fn numbers(event_time: &[i64], with_null_at: Option<usize>) -> Batch {
    let mut b = ColumnBuilder::new(ColumnType::I64, event_time.len());
    for (i, &t) in event_time.iter().enumerate() {
        if Some(i) == with_null_at {
            b.push_null();
        } else {
            b.push_i64(t * 10).unwrap();
        }
    }
    Batch::try_new(event_time.to_vec(), vec![b.finish()]).unwrap()
}

#[test]
fn scatter_keeps_row_order_within_each_partition() {
    let b = numbers(&[1, 2, 3, 4, 5], None);
    let parts = b.scatter(&[1, 0, 1, 1, 0], 3);
    assert_eq!(parts[0].event_time(), &[2, 5]);
    assert_eq!(parts[1].event_time(), &[1, 3, 4]);
    assert_eq!(parts[1].column(0).as_i64(), Some(&[10, 30, 40][..]));
    assert!(parts[2].is_empty());
}

#[test]
fn slice_and_concat_are_inverse_and_keep_nulls() {
    let b = numbers(&[1, 2, 3, 4, 5], Some(3));
    let (left, right) = (b.slice(0..2), b.slice(2..5));
    assert_eq!(left.len() + right.len(), 5);
    assert_eq!(Batch::concat(&[left, right]).unwrap(), b);
    assert!(!Batch::concat(&[b.slice(2..5)])
        .unwrap()
        .column(0)
        .is_valid(1));
    assert_eq!(Batch::concat(&[]).unwrap().len(), 0);
}

#[test]
fn concat_refuses_batches_of_other_columns() {
    let ints = numbers(&[1], None);
    let floats = Batch::try_new(vec![2], vec![Column::f64(vec![0.5])]).unwrap();
    assert!(Batch::concat(&[ints, floats]).is_err());
}

#[test]
fn a_column_of_another_length_is_refused() {
    assert!(Batch::try_new(vec![1, 2], vec![Column::i64(vec![1])]).is_err());
    let b = numbers(&[1, 2], None);
    assert!(b.derive(vec![Column::i64(vec![1, 2, 3])]).is_err());
}

#[test]
fn the_read_stamp_survives_splits_and_a_concatenation_keeps_the_oldest() {
    let b = numbers(&[1, 2, 3, 4], None).with_read_at_us(Some(700));
    for part in b.scatter(&[0, 1, 0, 1], 2) {
        assert_eq!(part.read_at_us(), Some(700));
    }
    assert_eq!(b.slice(1..3).read_at_us(), Some(700));
    assert_eq!(b.take(&[3]).read_at_us(), Some(700));
    let derived = b.derive(vec![b.column(0).clone()]).unwrap();
    assert_eq!(derived.read_at_us(), Some(700));
    let newer = numbers(&[5], None).with_read_at_us(Some(900));
    let unstamped = numbers(&[6], None);
    let whole = Batch::concat(&[newer, unstamped.clone(), b.clone()]).unwrap();
    assert_eq!(whole.read_at_us(), Some(700));
    assert_eq!(
        Batch::concat(&[unstamped.clone(), unstamped])
            .unwrap()
            .read_at_us(),
        None
    );
    // Equality is about the records, not the stamp.
    assert_eq!(b.clone().with_read_at_us(None), b);
}

//! Output gates over probe receivers: partitioning (by key group as the key-group ranges of
//! `quiver_protocol::keygroup` assign them, round robin, forward), batches cut at
//! [`MAX_BATCH`], and control elements kept in order after the records before them.

use super::*;
use crate::runtime::test_support::{batch_of, probe_gate, record, records_of, Received};
use quiver_protocol::keygroup::{java_hash_code, key_group, key_groups_of};
use quiver_protocol::Record;

/// The key group of a key hash code with max parallelism 128.
fn group_of(code: i32) -> u32 {
    key_group(code, 128).0
}
use quiver_protocol::{Barrier, CheckpointId, PartitionId, Value};

/// Ends the gate, flushes it and returns what each destination received, in order.
async fn flush_all(gate: &mut OutputGate, received: &mut [Received]) -> Vec<Vec<StreamElement>> {
    gate.push_control(StreamElement::End);
    gate.flush().await.expect("flush");
    let mut all = Vec::new();
    for rx in received {
        all.push(rx.until_end().await);
    }
    all
}

fn batch_sizes(elements: &[StreamElement]) -> Vec<usize> {
    elements
        .iter()
        .filter_map(|e| match e {
            StreamElement::Records(b) => Some(b.len()),
            _ => None,
        })
        .collect()
}

fn hash_on(key_columns: Vec<usize>) -> Partitioning {
    Partitioning::Hash { key_columns }
}

#[tokio::test]
async fn hash_sends_each_record_to_the_partition_owning_its_key_group() {
    let (mut gate, mut received) = probe_gate(hash_on(vec![0]), 3).await;
    let input: Vec<Record> = (0..3000).map(|i| record(i % 701, 1.0, i)).collect();
    gate.push_records(batch_of(input.clone()), &mut Scatters::default());
    let out = flush_all(&mut gate, &mut received).await;
    let mut total = 0;
    for (p, elements) in out.iter().enumerate() {
        let owned = key_groups_of(PartitionId(p as u32), 128, 3);
        let records = records_of(elements);
        assert!(!records.is_empty(), "partition {p} received nothing");
        for r in &records {
            let group = group_of(java_hash_code(&r.row[0]));
            assert!(owned.contains(&group), "{r:?} (group {group}) at {p}");
        }
        // Records of one partition keep their input order.
        let order: Vec<i64> = records.iter().map(|r| r.event_time).collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "partition {p} reordered"
        );
        total += records.len();
    }
    assert_eq!(total, input.len(), "every record sent exactly once");
}

#[tokio::test]
async fn hash_agrees_with_flink_for_integer_key_42() {
    // Flink: key 42, max parallelism 128 -> key group 29 -> operator index 0 of 4.
    let (mut gate, mut received) = probe_gate(hash_on(vec![0]), 4).await;
    gate.push_records(batch_of(vec![record(42, 1.0, 7)]), &mut Scatters::default());
    let out = flush_all(&mut gate, &mut received).await;
    assert_eq!(records_of(&out[0]), vec![record(42, 1.0, 7)]);
    assert!(out[1..].iter().all(|e| records_of(e).is_empty()));
}

#[tokio::test]
async fn hash_on_several_columns_combines_them_as_java_arrays_hash_code() {
    let (mut gate, mut received) = probe_gate(hash_on(vec![0, 2]), 3).await;
    let input: Vec<Record> = (0..500).map(|i| record(i % 7, 0.5, i)).collect();
    gate.push_records(batch_of(input), &mut Scatters::default());
    let out = flush_all(&mut gate, &mut received).await;
    for (p, elements) in out.iter().enumerate() {
        let owned = key_groups_of(PartitionId(p as u32), 128, 3);
        for r in records_of(elements) {
            // Arrays.hashCode([user, ts]) = 31 * (31 + hash(user)) + hash(ts).
            let code = 31i32
                .wrapping_add(java_hash_code(&r.row[0]))
                .wrapping_mul(31)
                .wrapping_add(java_hash_code(&r.row[2]));
            assert!(owned.contains(&group_of(code)), "{r:?} at {p}");
        }
    }
}

#[tokio::test]
async fn hash_with_one_destination_sends_everything_there() {
    let (mut gate, mut received) = probe_gate(hash_on(vec![0]), 1).await;
    let input: Vec<Record> = (0..10).map(|i| record(i, 1.0, i)).collect();
    gate.push_records(batch_of(input.clone()), &mut Scatters::default());
    let out = flush_all(&mut gate, &mut received).await;
    assert_eq!(records_of(&out[0]), input);
}

#[tokio::test]
async fn rebalance_sends_whole_batches_round_robin() {
    let (mut gate, mut received) = probe_gate(Partitioning::Rebalance, 3).await;
    for b in 0..5i64 {
        gate.push_records(
            batch_of((0..=b).map(|i| record(b, 1.0, i)).collect()),
            &mut Scatters::default(),
        );
    }
    let out = flush_all(&mut gate, &mut received).await;
    let users = |p: usize| -> Vec<i64> {
        records_of(&out[p])
            .iter()
            .map(|r| match r.row[0] {
                Value::I64(u) => u,
                _ => unreachable!(),
            })
            .collect()
    };
    // Batch b has b + 1 records of user b: batches 0 and 3 to partition 0, 1 and 4 to 1, ...
    assert_eq!(users(0), vec![0, 3, 3, 3, 3]);
    assert_eq!(users(1), vec![1, 1, 4, 4, 4, 4, 4]);
    assert_eq!(users(2), vec![2, 2, 2]);
    assert_eq!(batch_sizes(&out[0]), vec![1, 4], "batches stay whole");
}

#[tokio::test]
async fn forward_keeps_records_and_their_order() {
    let (mut gate, mut received) = probe_gate(Partitioning::Forward, 1).await;
    let first: Vec<Record> = (0..5).map(|i| record(i, 1.0, i)).collect();
    let second: Vec<Record> = (5..8).map(|i| record(i, 1.0, i)).collect();
    gate.push_records(batch_of(first.clone()), &mut Scatters::default());
    gate.push_records(batch_of(second.clone()), &mut Scatters::default());
    let out = flush_all(&mut gate, &mut received).await;
    assert_eq!(records_of(&out[0]), [first, second].concat());
}

#[tokio::test]
async fn batches_are_cut_at_max_batch() {
    let n = 2 * MAX_BATCH + 5;
    let input: Vec<Record> = (0..n as i64).map(|i| record(1, 1.0, i)).collect();
    for partitioning in [Partitioning::Forward, hash_on(vec![0])] {
        let (mut gate, mut received) = probe_gate(partitioning.clone(), 2).await;
        gate.push_records(batch_of(input.clone()), &mut Scatters::default());
        let out = flush_all(&mut gate, &mut received).await;
        let (full, _) = out
            .iter()
            .partition::<Vec<_>, _>(|e| !records_of(e).is_empty());
        assert_eq!(full.len(), 1, "{partitioning:?}: one key, one destination");
        assert_eq!(
            batch_sizes(full[0]),
            vec![MAX_BATCH, MAX_BATCH, 5],
            "{partitioning:?}"
        );
        assert_eq!(records_of(full[0]), input, "{partitioning:?}");
    }
}

#[tokio::test]
async fn small_pushes_by_key_collect_into_batches_of_at_most_max_batch() {
    let (mut gate, mut received) = probe_gate(hash_on(vec![0]), 2).await;
    for i in 0..(MAX_BATCH as i64 + 10) {
        gate.push_records(batch_of(vec![record(1, 1.0, i)]), &mut Scatters::default());
    }
    let out = flush_all(&mut gate, &mut received).await;
    let sizes: Vec<Vec<usize>> = out.iter().map(|e| batch_sizes(e)).collect();
    assert!(
        sizes.contains(&vec![MAX_BATCH, 10]),
        "one key's records in full batches: {sizes:?}"
    );
}

#[tokio::test]
async fn control_elements_follow_the_records_pushed_before_them_on_every_partition() {
    let barrier = StreamElement::Barrier(Barrier {
        checkpoint: CheckpointId(4),
        generation: quiver_protocol::Generation(1),
        serving: 0,
    });
    for partitioning in [hash_on(vec![0]), Partitioning::Rebalance] {
        let (mut gate, mut received) = probe_gate(partitioning.clone(), 2).await;
        gate.push_records(
            batch_of((0..40).map(|i| record(i, 1.0, i)).collect()),
            &mut Scatters::default(),
        );
        gate.push_control(StreamElement::Watermark(39));
        gate.push_records(
            batch_of((40..80).map(|i| record(i, 1.0, i)).collect()),
            &mut Scatters::default(),
        );
        gate.push_control(barrier.clone());
        let out = flush_all(&mut gate, &mut received).await;
        let mut total = 0;
        for elements in &out {
            let wm = elements
                .iter()
                .position(|e| *e == StreamElement::Watermark(39))
                .expect("every partition gets the watermark");
            let b = elements
                .iter()
                .position(|e| *e == barrier)
                .expect("every partition gets the barrier");
            assert!(
                wm < b && b == elements.len() - 2,
                "{partitioning:?}: {elements:?}"
            );
            let before: Vec<i64> = records_of(&elements[..wm])
                .iter()
                .map(|r| r.event_time)
                .collect();
            let between = records_of(&elements[wm..b]);
            assert!(before.iter().all(|&t| t < 40), "{partitioning:?}");
            assert!(
                between.iter().all(|r| r.event_time >= 40),
                "{partitioning:?}"
            );
            total += before.len() + between.len();
        }
        assert_eq!(total, 80, "{partitioning:?}");
    }
}

#[tokio::test]
async fn flush_reports_the_records_sent() {
    let (mut gate, mut received) = probe_gate(hash_on(vec![0]), 3).await;
    gate.push_records(
        batch_of((0..100).map(|i| record(i, 1.0, i)).collect()),
        &mut Scatters::default(),
    );
    gate.push_control(StreamElement::Watermark(1));
    assert_eq!(gate.flush().await.expect("flush"), 100);
    assert_eq!(gate.flush().await.expect("flush"), 0, "nothing left");
    flush_all(&mut gate, &mut received).await;
}

#[test]
fn a_batch_split_the_same_way_is_scattered_once() {
    let batch = batch_of((0..6).map(|i| record(i, 1.0, i)).collect());
    let mut scatters = Scatters::default();
    let splits = std::cell::Cell::new(0);
    let mut split = |key: &[usize], parts: usize| {
        scatters.of(key, parts, 128, || {
            splits.set(splits.get() + 1);
            batch.scatter(&[0, 1, 0, 1, 0, 1], 2)
        })
    };
    let first = split(&[0], 2);
    assert_eq!(split(&[0], 2), first, "the same split: kept");
    split(&[0, 2], 2);
    split(&[0, 2], 3);
    assert_eq!(
        splits.get(),
        3,
        "other key columns or partitions split again"
    );
}

#[tokio::test]
async fn gates_sharing_a_scatter_send_what_each_would_alone() {
    let (mut alone, mut alone_received) = probe_gate(hash_on(vec![0]), 3).await;
    let (mut first, mut first_received) = probe_gate(hash_on(vec![0]), 3).await;
    let (mut second, mut second_received) = probe_gate(hash_on(vec![0]), 3).await;
    let input: Vec<Record> = (0..2000).map(|i| record(i % 301, 1.0, i)).collect();
    alone.push_records(batch_of(input.clone()), &mut Scatters::default());
    let mut scatters = Scatters::default();
    first.push_records(batch_of(input.clone()), &mut scatters);
    second.push_records(batch_of(input), &mut scatters);
    let expected = flush_all(&mut alone, &mut alone_received).await;
    assert_eq!(flush_all(&mut first, &mut first_received).await, expected);
    assert_eq!(flush_all(&mut second, &mut second_received).await, expected);
}

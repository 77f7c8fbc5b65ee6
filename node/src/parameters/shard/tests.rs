//! A shard's first version after a restore is numbered with the restored checkpoint, also
//! when its key groups held no parameter.

use super::ParameterShard;
use crate::operator::{Operator, Output, SavedState};
use quiver_protocol::{CheckpointId, PartitionId};

/// The (version, parameter) columns of what `on_start` published.
fn first_version(shard: &mut ParameterShard) -> Vec<(i64, i64)> {
    let mut out = Output::default();
    shard.on_start(&mut out).unwrap();
    let batch = &out.records[0];
    let columns = batch.columns();
    let versions = columns[1].as_i64().unwrap();
    let parameters = columns[2].as_i64().unwrap();
    versions
        .iter()
        .copied()
        .zip(parameters.iter().copied())
        .collect()
}

#[test]
fn a_shard_restored_without_parameters_publishes_the_restored_version() {
    let mut shard = ParameterShard::new("reg/params", PartitionId(0), 128);
    shard.restore(SavedState::from(Vec::new())).unwrap();
    shard.restored_from(CheckpointId(7));
    // Only the record that ends the version: no parameter, version 7.
    assert_eq!(first_version(&mut shard), vec![(7, -1)]);
}

#[test]
fn a_fresh_shard_publishes_version_zero() {
    let mut shard = ParameterShard::new("reg/params", PartitionId(1), 128);
    assert_eq!(first_version(&mut shard), vec![(0, -1)]);
}

/// Workers' pushes: (parameter, change, averaged).
fn pushes(rows: &[(i64, f64, i64)]) -> quiver_protocol::batch::Batch {
    use quiver_protocol::batch::{Batch, Column};
    Batch::try_new(
        vec![0; rows.len()],
        vec![
            Column::i64(rows.iter().map(|r| r.0).collect()),
            Column::f64(rows.iter().map(|r| r.1).collect()),
            Column::i64(rows.iter().map(|r| r.2).collect()),
        ],
    )
    .unwrap()
}

#[test]
fn an_epoch_merges_averaged_changes_by_their_mean_and_the_others_by_their_sum() {
    let mut shard = ParameterShard::new("reg/params", PartitionId(0), 128);
    let mut out = Output::default();
    // Two workers moved weight 0 by 2 and 4 (averaged), counted 3 and 5 labels (summed);
    // only one moved weight 1.
    shard
        .process_batch(&pushes(&[(0, 2.0, 1), (2, 3.0, 0), (1, 1.5, 1)]), &mut out)
        .unwrap();
    shard
        .process_batch(&pushes(&[(0, 4.0, 1), (2, 5.0, 0)]), &mut out)
        .unwrap();
    let barrier = quiver_protocol::Barrier {
        checkpoint: CheckpointId(1),
        generation: quiver_protocol::Generation(1),
        serving: 0,
    };
    shard.on_barrier(&barrier, &mut out).unwrap();
    let published = &out.records[0];
    let columns = published.columns();
    let values: Vec<(i64, f64)> = columns[2]
        .as_i64()
        .unwrap()
        .iter()
        .copied()
        .zip(columns[3].as_f64().unwrap().iter().copied())
        .collect();
    assert_eq!(values, vec![(0, 3.0), (1, 1.5), (2, 8.0), (-1, 0.0)]);
}

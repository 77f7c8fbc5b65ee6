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

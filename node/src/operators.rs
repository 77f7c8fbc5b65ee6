//! Stage implementations: [`build_stage`] turns a validated `[[stage]]` into an [`Operator`].
//!
//! Kinds: `aggregate`: keyed count/sum/min/max/avg, running or over tumbling,
//! sliding or session event-time windows; the ML kinds are built by [`crate::ml_stages`].

mod aggregate;

use crate::operator::{Operator, OperatorError};
use quiver_protocol::spec::{StageKind, StageSpec};
use quiver_protocol::{PartitionId, Schema};
use std::time::Duration;

/// The job-wide settings every stage partition is built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageContext {
    /// The job's number of key groups (state is snapshotted per key group).
    pub max_parallelism: u32,
    /// `job.state_ttl`: keyed state expires this long after its last write (processing
    /// time); `None` keeps it forever.
    pub state_ttl: Option<Duration>,
    /// Whether the job takes checkpoints: keyed stages then track the keys they change, so
    /// a checkpoint copies only those (`crate::state`).
    pub checkpoints: bool,
}

/// Builds one parallel instance of `stage`, reading rows of `input`, with the job's settings
/// `ctx`. ML stages are built as partition 0 (see [`build_partition_stage`]).
pub fn build_stage(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
) -> Result<Box<dyn Operator>, OperatorError> {
    build_partition_stage(stage, input, ctx, PartitionId(0))
}

/// Builds partition `partition` of `stage`: ML stages keep one model per partition and
/// snapshot it under the first key group of the partition's range (`crate::ml_stages`).
pub fn build_partition_stage(
    stage: &StageSpec,
    input: &Schema,
    ctx: &StageContext,
    partition: PartitionId,
) -> Result<Box<dyn Operator>, OperatorError> {
    match &stage.kind {
        StageKind::Aggregate(spec) => {
            aggregate::build(&stage.name, spec, input, &stage.schema, ctx)
        }
        _ => crate::ml_stages::build(stage, input, ctx, partition),
    }
}

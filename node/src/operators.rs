//! Stage implementations: [`build_stage`] turns a validated `[[stage]]` into an [`Operator`].
//!
//! Kinds: `aggregate`: keyed count/sum/min/max/avg, running or over tumbling,
//! sliding or session event-time windows.

mod aggregate;

use crate::operator::{Operator, OperatorError};
use quiver_protocol::spec::{StageKind, StageSpec};
use quiver_protocol::Schema;

/// Builds one parallel instance of `stage`, reading rows of `input`. `max_parallelism` is the
/// job's number of key groups (state is snapshotted per key group).
pub fn build_stage(
    stage: &StageSpec,
    input: &Schema,
    max_parallelism: u32,
) -> Result<Box<dyn Operator>, OperatorError> {
    match &stage.kind {
        StageKind::Aggregate(spec) => {
            aggregate::build(&stage.name, spec, input, &stage.schema, max_parallelism)
        }
    }
}

//! A learner's feed (`NAME/versions`): partition `p` reads every shard's versions and writes
//! them on the board of learner partition `p`, which runs on the same node.

use super::Board;
use crate::operator::{Operator, OperatorError, Output};
use quiver_protocol::batch::Batch;
use std::sync::Arc;

/// One partition of a learner's feed.
pub(crate) struct ParameterFeed {
    board: Arc<Board>,
}

impl ParameterFeed {
    /// The feed writing `board`.
    pub(crate) fn new(board: Arc<Board>) -> Self {
        ParameterFeed { board }
    }
}

impl Operator for ParameterFeed {
    fn process_batch(&mut self, batch: &Batch, _out: &mut Output) -> Result<(), OperatorError> {
        self.board.apply(batch)
    }
}

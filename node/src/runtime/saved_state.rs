//! Snapshot pieces carry their operator's state schema (`quiver_protocol::state_schema`):
//! wrapped when a checkpoint is serialised, checked when a task restores. A restore into a
//! spec the state does not fit fails for good with a message saying what changed.

use crate::operator::{KeyGroupState, OperatorError};
use quiver_protocol::state_schema::{self, StateSchema};
use std::sync::Arc;

/// An operator's state schema, with its encoding to put in front of every piece.
#[derive(Debug, Clone)]
pub(crate) struct SavedAs {
    schema: StateSchema,
    encoded: Arc<[u8]>,
}

impl SavedAs {
    /// Pieces of the operator's state will carry `schema`.
    pub(crate) fn new(schema: StateSchema) -> SavedAs {
        SavedAs {
            encoded: Arc::from(schema.encode()),
            schema,
        }
    }

    /// `bytes` with the schema in front.
    pub(crate) fn wrap_one(&self, bytes: &[u8]) -> Vec<u8> {
        state_schema::wrap(&self.encoded, bytes)
    }

    /// Puts the schema in front of each piece's bytes.
    pub(crate) fn wrap(&self, states: Vec<KeyGroupState>) -> Vec<KeyGroupState> {
        states
            .into_iter()
            .map(|s| KeyGroupState {
                group: s.group,
                bytes: self.wrap_one(&s.bytes),
            })
            .collect()
    }

    /// The operator's bytes of each piece, after checking that the saved schema restores
    /// into this one; with `Some(order)` when the values are not stored as saved — this
    /// schema's value `i` is the saved value `order[i]` (the spec reordered or dropped values).
    pub(crate) fn unwrap(
        &self,
        operator: &str,
        states: Vec<KeyGroupState>,
    ) -> Result<(Vec<KeyGroupState>, Option<Vec<usize>>), OperatorError> {
        let mut layout: Option<(Vec<usize>, usize)> = None;
        let mut pieces = Vec::with_capacity(states.len());
        for state in states {
            let (saved, bytes) = state_schema::unwrap(state.bytes)
                .map_err(|e| OperatorError::State(format!("{operator:?}: {e}")))?;
            let order = self
                .schema
                .restore_from(&saved, operator)
                .map_err(OperatorError::Config)?;
            let this = (order, saved.values.len());
            if layout.as_ref().is_some_and(|l| *l != this) {
                return Err(OperatorError::State(format!(
                    "{operator:?}: the pieces of its saved state disagree on their schema"
                )));
            }
            layout = Some(this);
            pieces.push(KeyGroupState {
                group: state.group,
                bytes,
            });
        }
        let reordered = layout.and_then(|(order, saved_len)| {
            let as_saved =
                order.len() == saved_len && order.iter().enumerate().all(|(i, &p)| i == p);
            (!as_saved).then_some(order)
        });
        Ok((pieces, reordered))
    }
}

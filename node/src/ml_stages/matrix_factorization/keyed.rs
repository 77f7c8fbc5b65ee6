//! Matrix factorisation's state by key group. The stage's input is partitioned by the user
//! column's key group, so each user's bias and factors live in one partition: a snapshot
//! stores them in the piece of the user's key group, and the rest of the partition's model
//! (global mean, items, random state, version) in the piece of the partition's first key
//! group. Restored at another parallelism, every user moves with its key group; the rest is
//! the partition's own if it received it, else the lowest key group's that holds one, else a
//! fresh model's (until item state is shared across partitions by parameter servers).

use super::super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use quiver_ml::recommendation::{MatrixFactorization, UserState};
use quiver_ml::{OnlineModel, Persist};
use quiver_protocol::keygroup::key_group;
use quiver_protocol::KeyGroup;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest snapshot piece read back (256 MiB).
const MAX_PIECE_BYTES: usize = 256 << 20;

/// One key group's snapshot piece.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Piece {
    /// The partition's model without its users ([`Persist`] bytes): only in the piece of the
    /// partition's first key group.
    rest: Option<Vec<u8>>,
    /// The key group's users and their state, by increasing id.
    users: Vec<(u64, UserState)>,
}

/// The key group of every user the model holds state for.
#[derive(Debug)]
pub(super) struct UserGroups {
    max_parallelism: u32,
    groups: FxHashMap<u64, KeyGroup>,
}

impl UserGroups {
    /// No user yet, in a job of `max_parallelism` key groups.
    pub(super) fn new(max_parallelism: u32) -> Self {
        UserGroups {
            max_parallelism,
            groups: FxHashMap::default(),
        }
    }

    /// Users noted.
    pub(super) fn len(&self) -> usize {
        self.groups.len()
    }

    /// Notes the key group of `user`, whose key column's hash code is `code`.
    #[inline]
    pub(super) fn note(&mut self, user: u64, code: i32) {
        let max_parallelism = self.max_parallelism;
        self.groups
            .entry(user)
            .or_insert_with(|| key_group(code, max_parallelism));
    }

    /// `model` as one piece per key group holding users, plus the rest of the model under the
    /// partition's first key group.
    pub(super) fn snapshot(
        &self,
        model: &MatrixFactorization,
        partition: &PartitionState,
    ) -> Result<Vec<KeyGroupState>, OperatorError> {
        let rest = model
            .without_users()
            .snapshot()
            .map_err(|e| partition.error(e))?;
        let mut pieces: BTreeMap<KeyGroup, Piece> = BTreeMap::new();
        pieces.entry(partition.group).or_default().rest = Some(rest);
        for (user, state) in model.users() {
            // Every user the model learnt was noted; one that was not stays with the partition.
            let group = self.groups.get(&user).copied().unwrap_or(partition.group);
            pieces.entry(group).or_default().users.push((user, state));
        }
        pieces
            .into_iter()
            .map(|(group, piece)| {
                let bytes = bincode::serde::encode_to_vec(&piece, bincode::config::standard())
                    .map_err(|e| partition.error(e))?;
                Ok(KeyGroupState { group, bytes })
            })
            .collect()
    }

    /// The model the pieces `states` hold (users of every piece, the rest as the module says),
    /// starting from `fresh` when none holds a rest; `None` when nothing was passed.
    pub(super) fn restore(
        &mut self,
        states: SavedState,
        partition: &PartitionState,
        fresh: MatrixFactorization,
    ) -> Result<Option<MatrixFactorization>, OperatorError> {
        if states.pieces.is_empty() {
            return Ok(None);
        }
        let config = bincode::config::standard().with_limit::<MAX_PIECE_BYTES>();
        let mut pieces = Vec::with_capacity(states.pieces.len());
        for state in states.pieces {
            let (piece, _): (Piece, usize) =
                bincode::serde::decode_from_slice(&state.bytes, config)
                    .map_err(|e| partition.error(e))?;
            pieces.push((state.group, piece));
        }
        let rest = pieces
            .iter()
            .filter_map(|(group, piece)| piece.rest.as_ref().map(|rest| (*group, rest)))
            .min_by_key(|&(group, _)| (group != partition.group, group));
        let mut model = match rest {
            Some((_, bytes)) => {
                MatrixFactorization::from_snapshot(bytes).map_err(|e| partition.error(e))?
            }
            None => fresh,
        };
        self.groups.clear();
        for (group, piece) in pieces {
            for (user, state) in piece.users {
                model
                    .insert_user(user, state)
                    .map_err(|e| partition.error(e))?;
                self.groups.insert(user, group);
            }
        }
        Ok(Some(model))
    }
}

//! Matrix factorisation's state on the keyed-state layer (`crate::state`). The stage's input
//! is partitioned by the user column's key group, so each user's bias and factors live in one
//! partition: they are one entry of the user's key group, with the user's last write when the
//! job has a state TTL. The rest of the partition's model (global mean, items, random state,
//! version) is one entry of the partition's first key group, copied at every barrier.
//!
//! A checkpoint copies the rest and the users written, expired or removed since the last
//! confirmed checkpoint (O(changed)), encoded off the task as delta pieces; a snapshot without
//! checkpoints copies every live user. Restored at another parallelism, every user moves with
//! its key group; the rest is the partition's own if it received it, else the lowest key
//! group's that holds one, else a fresh model's (until item state is shared across partitions
//! by parameter servers). Rests of other partitions' first key groups are removed from the
//! chains at the next checkpoint, and users that expired meanwhile are dropped.
//!
//! On parameter servers (`sharing`) the mean and the items are the shards' state: the
//! partition saves its users only, and a rest it restores was saved before the stage had
//! parameter servers (the caller then pushes it whole).

use super::users::{Changed, Users};
use super::PartitionState;
use crate::operator::{ChangesCopy, KeyGroupState, OperatorError, SavedState};
use crate::state::pieces::{decode, encode, LayerEntry};
use crate::state::{ChangeLog, DeltaCopy, Restored};
use quiver_ml::recommendation::{MatrixFactorization, UserState};
use quiver_ml::{OnlineModel, Persist};
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::{CheckpointId, KeyGroup};
use serde::{Deserialize, Serialize};

/// The key of an entry of the stage's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum MfKey {
    /// The partition's model without its users.
    Rest,
    /// One user's state.
    User(u64),
}

impl MfKey {
    /// The key's bytes: `[0]` for the rest, `[1]` and the big-endian id for a user.
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            MfKey::Rest => out.push(0),
            MfKey::User(user) => {
                out.push(1);
                out.extend_from_slice(&user.to_be_bytes());
            }
        }
    }

    /// The key [`MfKey::encode`] wrote.
    fn decode(bytes: &[u8]) -> Result<MfKey, String> {
        match bytes {
            [0] => Ok(MfKey::Rest),
            [1, id @ ..] => id
                .try_into()
                .map(|id| MfKey::User(u64::from_be_bytes(id)))
                .map_err(|_| format!("a user key of {} bytes", bytes.len())),
            _ => Err(format!("an entry key of {} bytes", bytes.len())),
        }
    }
}

/// A user's saved value: its state and last write (`None` without a state TTL).
#[derive(Debug, Serialize, Deserialize)]
struct SavedUser {
    state: UserState,
    written: Option<i64>,
}

/// A value copied at a barrier.
enum Copied {
    Rest(MatrixFactorization),
    User(SavedUser),
}

/// An entry copied at a barrier (`None`: gone), encoded off the task.
pub(super) struct MfEntry {
    key: MfKey,
    value: Option<Copied>,
}

impl LayerEntry for MfEntry {
    fn key(&self, out: &mut Vec<u8>) -> Result<(), String> {
        self.key.encode(out);
        Ok(())
    }

    fn value(&self) -> Result<Option<Vec<u8>>, String> {
        match &self.value {
            None => Ok(None),
            Some(Copied::Rest(rest)) => rest.snapshot().map(Some).map_err(|e| e.to_string()),
            Some(Copied::User(user)) => {
                let mut out = Vec::new();
                encode(user, &mut out).map(|()| Some(out))
            }
        }
    }
}

/// A partition's model with its users on the layer.
pub(super) struct UserModel {
    /// The model, users included.
    pub(super) model: MatrixFactorization,
    /// The users with state.
    pub(super) users: Users,
    /// Changed entries of unconfirmed checkpoints (a job with checkpoints).
    log: Option<ChangeLog<Changed>>,
    partition: PartitionState,
    /// The mean and items live on parameter servers: no rest is saved.
    shared: bool,
}

impl UserModel {
    /// `model` with `users`, snapshotted for `partition`; `tracked`: the job takes
    /// checkpoints; `shared`: the mean and items live on parameter servers.
    pub(super) fn new(
        model: MatrixFactorization,
        users: Users,
        partition: PartitionState,
        tracked: bool,
        shared: bool,
    ) -> Self {
        UserModel {
            model,
            users,
            log: tracked.then(ChangeLog::default),
            partition,
            shared,
        }
    }

    /// The rest of the model, copied (none on parameter servers).
    fn rest(&self) -> Option<(KeyGroup, MfEntry)> {
        let value = Some(Copied::Rest(self.model.without_users()));
        let entry = MfEntry {
            key: MfKey::Rest,
            value,
        };
        (!self.shared).then_some((self.partition.group, entry))
    }

    /// The live state of `user`, copied (`None`: gone or expired, at the last tick).
    fn user(&self, user: u64) -> Option<Copied> {
        let (_, written) = self.users.live(user)?;
        let state = self.model.user(user)?;
        Some(Copied::User(SavedUser { state, written }))
    }

    /// A copy of `entries` (`kind`: the changes, or every entry).
    fn copy(&self, kind: PieceKind, entries: Vec<(KeyGroup, MfEntry)>) -> DeltaCopy<MfEntry> {
        DeltaCopy {
            operator: self.partition.stage.clone(),
            kind,
            meta: Vec::new(),
            drop_below: None,
            entries,
            // Every user held (expired ones too: never fewer than the live entries) and the
            // rest, if saved.
            live: self.users.len() + usize::from(!self.shared),
        }
    }

    /// As `Operator::snapshot_changes`: the rest and the entries changed since the last
    /// confirmed checkpoint; `None` for a job without checkpoints.
    pub(super) fn snapshot_changes(
        &mut self,
        checkpoint: CheckpointId,
    ) -> Result<Option<Box<dyn ChangesCopy>>, OperatorError> {
        self.users.tick();
        let (Some(fresh), Some(mut log)) = (self.users.take_changed(), self.log.take()) else {
            return Ok(None);
        };
        let mut entries: Vec<_> = self.rest().into_iter().collect();
        for &(key, group) in log.capture(checkpoint, fresh) {
            let value = match key {
                MfKey::User(user) => self.user(user),
                // A rest of another partition's first key group, restored here: gone.
                MfKey::Rest => None,
            };
            entries.push((group, MfEntry { key, value }));
        }
        self.log = Some(log);
        Ok(Some(Box::new(self.copy(PieceKind::Delta, entries))))
    }

    /// As `Operator::confirm`.
    pub(super) fn confirm(&mut self, checkpoint: CheckpointId) {
        if let Some(log) = &mut self.log {
            log.confirm(checkpoint);
        }
    }

    /// As `Operator::snapshot`: the rest and every live user, as base pieces.
    pub(super) fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        self.users.tick();
        let mut entries: Vec<_> = self.rest().into_iter().collect();
        for user in self.users.ids() {
            if let (Some(value), Some((group, _))) = (self.user(user), self.users.live(user)) {
                let key = MfKey::User(user);
                entries.push((
                    group,
                    MfEntry {
                        key,
                        value: Some(value),
                    },
                ));
            }
        }
        self.copy(PieceKind::Base, entries).encode_full()
    }

    /// As `Operator::restore`: the model the chains of `states` hold (users of every key
    /// group, the rest as the module says), starting from `fresh` when none holds a rest.
    /// `true`: a rest was restored (on parameter servers, one saved before them).
    pub(super) fn restore(
        &mut self,
        states: SavedState,
        fresh: MatrixFactorization,
    ) -> Result<bool, OperatorError> {
        if states.pieces.is_empty() {
            return Ok(false);
        }
        let partition = &self.partition;
        let mut rest: Option<(KeyGroup, Vec<u8>)> = None;
        let mut users = Vec::new();
        self.users.clear();
        for group in Restored::merge(&partition.stage, states.pieces)? {
            let error = |e: String| partition.error(format!("{}: {e}", group.group));
            for (key, value) in group.entries {
                match MfKey::decode(&key).map_err(error)? {
                    MfKey::User(user) => {
                        let saved: SavedUser = decode(&value).map_err(error)?;
                        users.push((user, group.group, saved));
                    }
                    MfKey::Rest => {
                        let rank = |g: KeyGroup| (g != partition.group, g);
                        if rest
                            .as_ref()
                            .is_none_or(|(g, _)| rank(group.group) < rank(*g))
                        {
                            rest = Some((group.group, value));
                        }
                        if group.group != partition.group || self.shared {
                            self.users.note((MfKey::Rest, group.group));
                        }
                    }
                }
            }
        }
        let had_rest = rest.is_some();
        let mut model = match rest {
            Some((_, bytes)) => {
                MatrixFactorization::from_snapshot(&bytes).map_err(|e| partition.error(e))?
            }
            None => fresh,
        };
        let now = self.users.tick();
        for (user, group, saved) in users {
            if self.users.restore(user, group, saved.written, now) {
                model
                    .insert_user(user, saved.state)
                    .map_err(|e| partition.error(e))?;
            }
        }
        self.model = model;
        Ok(had_rest)
    }
}

//! The users a matrix factorisation partition holds state for, as a table of the keyed-state
//! layer: each user's key group (the hash of its key column value, which the 64-bit id does
//! not keep), its last write with a state TTL (`crate::state::ttl`), and the users changed
//! since the last barrier (a job with checkpoints).

use super::keyed::MfKey;
use crate::state::ttl::Expiry;
use crate::state::ChangedSlots;
use quiver_ml::recommendation::MatrixFactorization;
use quiver_protocol::keygroup::key_group;
use quiver_protocol::KeyGroup;
use rustc_hash::FxHashMap;

/// A changed entry of the stage: its key and key group.
pub(super) type Changed = (MfKey, KeyGroup);

/// The users with state, by slot.
pub(super) struct Users {
    max_parallelism: u32,
    /// Each user's slot.
    index: FxHashMap<u64, usize>,
    /// Each slot's user and key group.
    slots: Vec<(u64, KeyGroup)>,
    /// Users written or removed since the last barrier (a job with checkpoints).
    changed: Option<ChangedSlots<Changed>>,
    /// Last writes and cleanup, with a state TTL.
    expiry: Option<Expiry>,
}

impl Users {
    /// No user yet, in a job of `max_parallelism` key groups; `tracked`: the job takes
    /// checkpoints.
    pub(super) fn new(max_parallelism: u32, tracked: bool, expiry: Option<Expiry>) -> Self {
        Users {
            max_parallelism,
            index: FxHashMap::default(),
            slots: Vec::new(),
            changed: tracked.then(ChangedSlots::default),
            expiry,
        }
    }

    /// Users held, including expired ones the cleanup has not reached yet.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Users found expired so far.
    pub(super) fn expired_count(&self) -> u64 {
        self.expiry.as_ref().map_or(0, Expiry::expired_count)
    }

    /// Reads the clock (once per batch): the time of the next writes and expiry checks.
    pub(super) fn tick(&mut self) -> i64 {
        self.expiry.as_mut().map_or(0, Expiry::tick)
    }

    /// Before `user` is read: if its state expired, `model` forgets it.
    #[inline]
    pub(super) fn read(&mut self, user: u64, model: &mut MatrixFactorization) {
        let (Some(expiry), Some(&slot)) = (&mut self.expiry, self.index.get(&user)) else {
            return;
        };
        if expiry.take_expired(slot) {
            self.remove(slot, model);
        }
    }

    /// `model` learnt from `user`, whose key column's hash code is `code`, now.
    #[inline]
    pub(super) fn write(&mut self, user: u64, code: i32) {
        let (slot, new) = match self.index.get(&user) {
            Some(&slot) => (slot, false),
            None => (self.push(user, key_group(code, self.max_parallelism)), true),
        };
        if let Some(expiry) = &mut self.expiry {
            // `read` already removed an expired user: this write never finds one.
            expiry.write(slot, new);
        }
        if let Some(changed) = &mut self.changed {
            let group = self.slots[slot].1;
            changed.mark(slot, || (MfKey::User(user), group));
        }
    }

    /// Removes up to a budget's worth of expired users (`Expiry::clean`) from `model`.
    pub(super) fn clean(&mut self, batch: usize, model: &mut MatrixFactorization) {
        if let Some(mut expiry) = self.expiry.take() {
            expiry.clean(batch, |slot| self.remove(slot, model));
            self.expiry = Some(expiry);
        }
    }

    /// Restore at `now` (the last [`Users::tick`]): `user` of key group `group` was last
    /// written at `written` (`None`: saved without a TTL, it starts its life now). Returns whether it is live: an expired one is
    /// not added (and is noted as changed, so the next checkpoint removes it from the chain).
    pub(super) fn restore(
        &mut self,
        user: u64,
        group: KeyGroup,
        written: Option<i64>,
        now: i64,
    ) -> bool {
        let written = match &self.expiry {
            Some(expiry) => {
                let written = written.unwrap_or(now);
                if expiry.expired(written) {
                    self.note((MfKey::User(user), group));
                    return false;
                }
                Some(written)
            }
            None => None,
        };
        let (slot, new) = match self.index.get(&user) {
            Some(&slot) => (slot, false),
            None => (self.push(user, group), true),
        };
        if let (Some(expiry), Some(written)) = (&mut self.expiry, written) {
            expiry.set(slot, new, written);
        }
        true
    }

    /// Notes a change of an entry that has no slot (a restored entry that is gone).
    pub(super) fn note(&mut self, key: Changed) {
        if let Some(changed) = &mut self.changed {
            changed.note(key);
        }
    }

    /// The entries changed since the last call (`None`: the job takes no checkpoints).
    pub(super) fn take_changed(&mut self) -> Option<Vec<Changed>> {
        self.changed.as_mut().map(ChangedSlots::take)
    }

    /// The key group of `user` and its last write (`None` without a TTL), if it has live state.
    pub(super) fn live(&self, user: u64) -> Option<(KeyGroup, Option<i64>)> {
        let slot = *self.index.get(&user)?;
        let group = self.slots[slot].1;
        match &self.expiry {
            None => Some((group, None)),
            Some(e) => {
                let written = e.written(slot);
                (!e.expired(written)).then_some((group, Some(written)))
            }
        }
    }

    /// Every user held (live or not yet cleaned).
    pub(super) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().map(|&(user, _)| user)
    }

    /// Forgets every user (before a restore).
    pub(super) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        if let Some(changed) = &mut self.changed {
            changed.clear();
        }
        if let Some(expiry) = &mut self.expiry {
            expiry.clear();
        }
    }

    /// Adds `user` of `group` in a new slot.
    fn push(&mut self, user: u64, group: KeyGroup) -> usize {
        let slot = self.slots.len();
        self.slots.push((user, group));
        self.index.insert(user, slot);
        slot
    }

    /// Removes slot `slot` (the last slot taking its place) and its user's state in `model`.
    fn remove(&mut self, slot: usize, model: &mut MatrixFactorization) {
        let last = self.slots.len() - 1;
        let (user, group) = self.slots.swap_remove(slot);
        self.index.remove(&user);
        if let Some(&(moved, _)) = self.slots.get(slot) {
            self.index.insert(moved, slot);
        }
        if let Some(changed) = &mut self.changed {
            changed.removed(slot, (MfKey::User(user), group), last);
        }
        model.remove_user(user);
    }
}

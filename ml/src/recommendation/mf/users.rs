//! A model's per-user state taken out and put back: how a streaming job stores each user's
//! bias and factors with the user's key group (so the users move with their key groups when
//! the job is rescaled) and the rest of the model (global mean, items, version)
//! once per partition.

use super::{MatrixFactorization, STAGE};
use crate::api::MlError;
use crate::finite::check_parameter;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// What a model holds for one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserState {
    /// The user's bias (`None` before it is learnt, or for a model without biases).
    pub bias: Option<f64>,
    /// The user's latent factors (`None` before they are drawn, or for a model without any).
    pub factors: Option<Vec<f64>>,
}

impl MatrixFactorization {
    /// Every user the model holds state for, with that state, in increasing id order.
    pub fn users(&self) -> Vec<(u64, UserState)> {
        let mut ids: Vec<u64> = self
            .user_bias
            .keys()
            .chain(self.user_factors.keys())
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| {
                let state = UserState {
                    bias: self.user_bias.get(&id).copied(),
                    factors: self.user_factors.get(&id).cloned(),
                };
                (id, state)
            })
            .collect()
    }

    /// What the model holds for `user`; `None` when nothing (a user it never learnt from).
    pub fn user(&self, user: u64) -> Option<UserState> {
        let state = UserState {
            bias: self.user_bias.get(&user).copied(),
            factors: self.user_factors.get(&user).cloned(),
        };
        (state.bias.is_some() || state.factors.is_some()).then_some(state)
    }

    /// Forgets `user`: the next rating of that user starts from a fresh user, as a user the
    /// model never saw would.
    pub fn remove_user(&mut self, user: u64) {
        self.user_bias.remove(&user);
        self.user_factors.remove(&user);
    }

    /// The model without any user's state: with [`Self::insert_user`] of each of
    /// [`Self::users`], the same model again. Copies only the rest of the model (not its
    /// users).
    pub fn without_users(&self) -> Self {
        MatrixFactorization {
            params: self.params.clone(),
            mean_n: self.mean_n,
            mean: self.mean,
            user_bias: FxHashMap::default(),
            item_bias: self.item_bias.clone(),
            user_factors: FxHashMap::default(),
            item_factors: self.item_factors.clone(),
            version: self.version,
            refused: self.refused,
        }
    }

    /// Sets the state of `user` (replacing what the model held for it). A bias must be a
    /// usable parameter (finite, within ±[`crate::MAX_PARAMETER`]) and factors finite and
    /// `n_factors` long; otherwise the model is left as it was.
    pub fn insert_user(&mut self, user: u64, state: UserState) -> Result<(), MlError> {
        if let Some(bias) = state.bias {
            check_parameter(STAGE, bias, || format!("the bias of user {user}"))?;
        }
        if let Some(factors) = &state.factors {
            self.check_factors(factors)?;
        }
        match state.bias {
            Some(bias) => self.user_bias.insert(user, bias),
            None => self.user_bias.remove(&user),
        };
        match state.factors {
            Some(factors) => self.user_factors.insert(user, factors),
            None => self.user_factors.remove(&user),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommendation::MfParams;

    /// A model that learnt 40 ratings of 6 users and 5 items.
    fn learnt() -> MatrixFactorization {
        let mut model = MatrixFactorization::new(MfParams::biased_mf()).unwrap();
        for i in 0..40u64 {
            model.learn_one(i % 6, i % 5, (i % 4) as f64 + 1.0).unwrap();
        }
        model
    }

    #[test]
    fn a_model_split_into_users_and_the_rest_puts_back_together_equal() {
        let model = learnt();
        let users = model.users();
        assert_eq!(
            users.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        let mut rest = model.without_users();
        assert!(rest.users().is_empty());
        assert_ne!(rest, model);
        for (id, state) in users {
            rest.insert_user(id, state).unwrap();
        }
        assert_eq!(rest, model);
    }

    #[test]
    fn a_removed_user_is_learnt_again_as_a_user_never_seen() {
        // Users 0..6 learnt, then user 3 forgotten and rated again: as a model that first
        // saw user 3 at that rating (its start is derived from its id).
        let mut model = learnt();
        let state = model.user(3).unwrap();
        assert_eq!(model.users()[3], (3, state));
        model.remove_user(3);
        assert_eq!(model.user(3), None);
        let mut expected = learnt();
        expected
            .insert_user(
                3,
                UserState {
                    bias: None,
                    factors: None,
                },
            )
            .unwrap();
        assert_eq!(model, expected);
        model.learn_one(3, 1, 5.0).unwrap();
        expected.learn_one(3, 1, 5.0).unwrap();
        assert_eq!(model, expected);
        assert!(model.user(3).is_some());
    }

    #[test]
    fn an_unusable_user_state_is_refused_and_changes_nothing() {
        let mut model = learnt();
        let before = model.clone();
        let n_factors = model.params().n_factors;
        let bad = [
            UserState {
                bias: Some(f64::NAN),
                factors: None,
            },
            UserState {
                bias: Some(0.1),
                factors: Some(vec![0.0; n_factors + 1]),
            },
            UserState {
                bias: None,
                factors: Some(vec![f64::INFINITY; n_factors]),
            },
        ];
        for state in bad {
            assert!(model.insert_user(3, state.clone()).is_err(), "{state:?}");
            assert_eq!(model, before);
        }
    }
}

//! A model's shared part — the global mean and each item's bias and factors — as entries of
//! one flat index space, the way parameter servers hold it (design §6, "matrix factorisation
//! on parameter servers"): index 0 is the count of ratings learnt and 1 their sum (both add
//! up exactly over workers, the mean is sum / count); item `i` owns the `stride` indices
//! from `2 + i · stride`: its bias, then its `n_factors` factors. The item id is its own
//! index (no hashing, so no collisions): ids from 0 up to [`MfLayout::max_item`] are
//! shared; a larger id (a string's 64-bit hash, say) has no index.

use super::{MatrixFactorization, STAGE};
use crate::api::MlError;
use crate::finite::{check_parameter, check_statistic};
use std::borrow::Cow;

/// The largest index space a shared model may span: 2^24 parameters (128 MiB of `f64`).
pub const MAX_SHARED_PARAMETERS: i64 = 1 << 24;

/// Where each shared parameter of a model lives in the index space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfLayout {
    /// Parameters per item: its bias and its factors.
    stride: usize,
}

impl MfLayout {
    /// The index of the count of ratings learnt.
    pub const COUNT: i64 = 0;
    /// The index of the sum of the ratings learnt.
    pub const SUM: i64 = 1;
    /// The first item's first index.
    const FIRST_ITEM: i64 = 2;

    /// Parameters per item.
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The largest item id with an index.
    pub fn max_item(&self) -> u64 {
        ((MAX_SHARED_PARAMETERS - Self::FIRST_ITEM) / self.stride as i64 - 1) as u64
    }

    /// The first index of `item` (its bias; its factors follow), `None` beyond
    /// [`MfLayout::max_item`].
    pub fn item_index(&self, item: u64) -> Option<i64> {
        (item <= self.max_item()).then(|| Self::FIRST_ITEM + item as i64 * self.stride as i64)
    }

    /// Whether the entry at `index` is a value workers move (a bias or a factor: their
    /// changes are averaged), rather than a count or sum (summed).
    pub fn averaged(&self, index: i64) -> bool {
        index >= Self::FIRST_ITEM
    }
}

impl MatrixFactorization {
    /// The layout of the model's shared parameters.
    pub fn layout(&self) -> MfLayout {
        MfLayout {
            stride: 1 + self.params.n_factors,
        }
    }

    /// The count and sum of the ratings learnt (the global mean is their quotient).
    pub fn rating_stats(&self) -> [f64; 2] {
        [self.mean_n, self.mean_n * self.mean]
    }

    /// Sets the count and sum of the ratings learnt: the mean becomes `sum / count` (0 for a
    /// count not above 0). A non-finite count or mean is refused and leaves the model as it
    /// was.
    pub fn set_rating_stats(&mut self, [count, sum]: [f64; 2]) -> Result<(), MlError> {
        check_statistic(STAGE, count, || "the count of ratings".to_string())?;
        let mean = if count > 0.0 { sum / count } else { 0.0 };
        check_statistic(STAGE, mean, || "the mean rating".to_string())?;
        (self.mean_n, self.mean) = (count, mean);
        Ok(())
    }

    /// The item's shared parameters (its bias, then its factors: [`MfLayout::stride`]
    /// values, 0 for what it has not learnt), `None` for an item the model never learnt.
    pub fn item_parameters(&self, item: u64) -> Option<Vec<f64>> {
        let (bias, factors) = (self.item_bias.get(&item), self.item_factors.get(&item));
        if bias.is_none() && factors.is_none() {
            return None;
        }
        let mut values = vec![bias.copied().unwrap_or(0.0)];
        match factors {
            Some(f) => values.extend_from_slice(f),
            None => values.resize(self.layout().stride, 0.0),
        }
        Some(values)
    }

    /// Sets the item's shared parameters as [`Self::item_parameters`] lays them out. Values
    /// of another length, or out of the parameters' range, are refused and leave the model
    /// as it was.
    pub fn set_item_parameters(&mut self, item: u64, values: &[f64]) -> Result<(), MlError> {
        let stride = self.layout().stride;
        if values.len() != stride {
            return Err(MlError::Dimension {
                expected: stride,
                found: values.len(),
            });
        }
        for (k, &v) in values.iter().enumerate() {
            check_parameter(STAGE, v, || format!("parameter {k} of item {item}"))?;
        }
        if self.params.has_biases() {
            self.item_bias.insert(item, values[0]);
        }
        if self.params.has_latents() {
            self.item_factors.insert(item, values[1..].to_vec());
        }
        Ok(())
    }

    /// The predicted rating of `item` by `user` with another version of the shared part:
    /// the global mean and the item's bias and factors read from `shared` (a vector in the
    /// model's [`MfLayout`]; an entry beyond its end is 0), the user's bias and factors
    /// this model's. An item whose entries are all 0 is one that version never learnt. It
    /// equals [`Self::predict_one`] of a model holding the user and, set from `shared`, the
    /// rating stats ([`Self::set_rating_stats`]) and the item when it was learnt
    /// ([`Self::set_item_parameters`]), bit for bit.
    pub fn predict_with_shared(&self, user: u64, item: u64, shared: &[f64]) -> f64 {
        let at = |i: usize| shared.get(i).copied().unwrap_or(0.0);
        let (count, sum) = (at(0), at(1));
        let mean = if count > 0.0 { sum / count } else { 0.0 };
        let stride = self.layout().stride;
        // The item's entries, padded with the zeros a vector's end leaves out.
        let values: Option<Cow<'_, [f64]>> = self.layout().item_index(item).and_then(|first| {
            let first = usize::try_from(first).ok()?;
            match shared.get(first..first + stride) {
                Some(whole) => Some(Cow::Borrowed(whole)),
                None => {
                    let mut padded = shared.get(first..)?.to_vec();
                    padded.resize(stride, 0.0);
                    Some(Cow::Owned(padded))
                }
            }
        });
        let values = values.filter(|values| values.iter().any(|&v| v != 0.0));
        let values = values.as_deref();
        let user_bias = self.user_bias.get(&user).copied().unwrap_or(0.0);
        let item_bias = match values {
            Some(values) if self.params.has_biases() => values[0],
            _ => 0.0,
        };
        let item_factors = values
            .filter(|_| self.params.has_latents())
            .map(|v| &v[1..]);
        let pu = self.user_factors.get(&user).map(Vec::as_slice);
        self.predict_with(mean, (user_bias, item_bias), pu.zip(item_factors))
    }

    /// Forgets `item`: until it is set or learnt again, it is an item the model never saw.
    pub fn remove_item(&mut self, item: u64) {
        self.item_bias.remove(&item);
        self.item_factors.remove(&item);
    }

    /// Every item the model holds parameters for, in increasing id order.
    pub fn items(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .item_bias
            .keys()
            .chain(self.item_factors.keys())
            .copied()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommendation::MfParams;

    #[test]
    fn items_lie_side_by_side_after_the_count_and_sum() {
        let model = MatrixFactorization::new(MfParams::biased_mf()).unwrap();
        let layout = model.layout();
        assert_eq!(layout.stride(), 11);
        assert_eq!(layout.item_index(0), Some(2));
        assert_eq!(layout.item_index(3), Some(2 + 33));
        let last = layout.max_item();
        assert_eq!(last, (((1 << 24) - 2) / 11 - 1) as u64);
        // The last item's last factor is the last index of the space.
        assert!(layout.item_index(last).unwrap() + 10 < MAX_SHARED_PARAMETERS);
        assert_eq!(layout.item_index(last + 1), None);
        assert!(!layout.averaged(MfLayout::COUNT) && !layout.averaged(MfLayout::SUM));
        assert!(layout.averaged(2) && layout.averaged(40));
    }

    #[test]
    fn an_item_and_the_mean_read_back_as_set_and_bad_values_change_nothing() {
        let mut model = MatrixFactorization::new(MfParams::biased_mf()).unwrap();
        assert_eq!(model.item_parameters(4), None);
        let values: Vec<f64> = (0..11).map(|k| k as f64 / 10.0).collect();
        model.set_item_parameters(4, &values).unwrap();
        assert_eq!(model.item_parameters(4), Some(values.clone()));
        assert_eq!(model.items(), [4]);
        model.set_rating_stats([4.0, 14.0]).unwrap();
        // mean 3.5, user unknown: 3.5 + item bias 0.
        assert_eq!(model.predict_one(1, 4), 3.5);
        let before = model.clone();
        assert!(model.set_item_parameters(4, &values[1..]).is_err());
        assert!(model.set_item_parameters(5, &[f64::NAN; 11]).is_err());
        assert!(model.set_rating_stats([f64::INFINITY, 1.0]).is_err());
        assert!(model.set_rating_stats([1.0, f64::NAN]).is_err());
        assert_eq!(model, before);
        model.remove_item(4);
        assert_eq!(model.item_parameters(4), None);
    }
    #[test]
    fn a_prediction_with_a_shared_vector_is_a_model_holding_that_vector_and_the_user() {
        let mut working = MatrixFactorization::new(MfParams::biased_mf()).unwrap();
        for (u, i, r) in [(1, 0, 4.0), (1, 2, 2.0), (3, 0, 5.0), (1, 1, 3.0)] {
            working.learn_one(u, i, r).unwrap();
        }
        // Another version: 10 ratings summing to 31, item 1 learnt, item 0 not, item 2's
        // last factor 0 and cut off the vector's end.
        let layout = working.layout();
        let mut shared = vec![10.0, 31.0];
        shared.resize(2 + 3 * 11, 0.0);
        let one: Vec<f64> = (0..11).map(|k| 0.05 * k as f64 - 0.2).collect();
        let mut two: Vec<f64> = (0..11).map(|k| 0.3 - 0.02 * k as f64).collect();
        two[10] = 0.0;
        shared[layout.item_index(1).unwrap() as usize..][..11].copy_from_slice(&one);
        shared[layout.item_index(2).unwrap() as usize..][..11].copy_from_slice(&two);
        shared.pop();
        // The library model a reader builds: the user's state, the version's mean and items.
        let mut expected = working.clone();
        for item in expected.items() {
            expected.remove_item(item);
        }
        expected.set_rating_stats([10.0, 31.0]).unwrap();
        expected.set_item_parameters(1, &one).unwrap();
        expected.set_item_parameters(2, &two).unwrap();
        for (user, item) in [(1, 0), (1, 1), (1, 2), (3, 1), (9, 1), (9, 7)] {
            let served = working.predict_with_shared(user, item, &shared);
            let library = expected.predict_one(user, item);
            assert_eq!(
                served.to_bits(),
                library.to_bits(),
                "user {user}, item {item}"
            );
        }
        // No ratings: the mean is 0.
        assert_eq!(working.predict_with_shared(9, 9, &[]), 0.0);
    }
}

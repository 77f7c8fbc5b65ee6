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
}

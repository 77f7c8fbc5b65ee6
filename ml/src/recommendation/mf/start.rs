//! Where a user's or item's latent factors start: `n_factors` draws of `N(0, init_std²)`
//! from a generator seeded by a hash of the model's seed, the side (user or item) and the
//! id. A start depends on nothing else, so every worker of one model on parameter servers
//! (and every replay after a recovery) starts an item at the same factors, whichever rows
//! it met first.

use super::MfParams;
use crate::clustering::rng::SplitMix64;

/// Which side of a rating an id is on (users and items draw from different streams, so a
/// user and an item with one id start apart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A user id.
    User,
    /// An item id.
    Item,
}

impl Side {
    /// Mixed into the seed: distinct per side (the first hexadecimal digits of π and e).
    fn salt(self) -> u64 {
        match self {
            Side::User => 0x243f_6a88_85a3_08d3,
            Side::Item => 0xb7e1_5162_8aed_2a6a,
        }
    }
}

/// The latent factors `id` on `side` starts with under `params` (`n_factors` values):
/// SplitMix64 seeded with `h(h(seed ⊕ salt(side)) ⊕ id)`, where `h` is one SplitMix64 output
/// from a state, then a Box-Muller normal per factor, scaled by `init_std`.
pub fn initial_factors(params: &MfParams, side: Side, id: u64) -> Vec<f64> {
    let hash = |state: u64| SplitMix64::new(state).next_u64();
    let mut rng = SplitMix64::new(hash(hash(params.seed ^ side.salt()) ^ id));
    (0..params.n_factors)
        .map(|_| rng.normal(0.0, params.init_std))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommendation::MatrixFactorization;

    /// SplitMix64 and Box-Muller written out from their definitions (Steele et al. 2014;
    /// Box & Muller 1958), as the reference the derivation is checked against.
    fn reference(seed: u64, salt: u64, id: u64, n: usize, std: f64) -> Vec<f64> {
        const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
        fn mix(mut z: u64) -> u64 {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        // One output of a generator in `state`.
        let output = |state: u64| mix(state.wrapping_add(GOLDEN));
        let mut state = output(output(seed ^ salt) ^ id);
        let mut uniform = || {
            state = state.wrapping_add(GOLDEN);
            (mix(state) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u, v) = (1.0 - uniform(), uniform());
                std * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
            })
            .collect()
    }

    #[test]
    fn a_start_is_splitmix_and_box_muller_from_the_hashed_seed_side_and_id() {
        let params = MfParams {
            seed: 42,
            ..MfParams::biased_mf()
        };
        for id in [0, 1, 7, u64::MAX] {
            assert_eq!(
                initial_factors(&params, Side::Item, id),
                reference(42, 0xb7e1_5162_8aed_2a6a, id, 10, 0.1),
                "item {id}"
            );
            assert_eq!(
                initial_factors(&params, Side::User, id),
                reference(42, 0x243f_6a88_85a3_08d3, id, 10, 0.1),
                "user {id}"
            );
        }
    }

    #[test]
    fn starts_are_spread_as_n_0_init_std_and_differ_by_id_side_and_seed() {
        let params = MfParams::biased_mf();
        let draws: Vec<f64> = (0..5000)
            .flat_map(|id| initial_factors(&params, Side::Item, id))
            .collect();
        let n = draws.len() as f64;
        let mean = draws.iter().sum::<f64>() / n;
        let std = (draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        // 50,000 draws: the mean's standard error is 0.1 / √50,000 ≈ 0.00045.
        assert!(mean.abs() < 0.002, "mean {mean}");
        assert!((std - 0.1).abs() < 0.002, "std {std}");
        let item = initial_factors(&params, Side::Item, 3);
        assert_ne!(item, initial_factors(&params, Side::Item, 4));
        assert_ne!(item, initial_factors(&params, Side::User, 3));
        let reseeded = MfParams { seed: 1, ..params };
        assert_ne!(item, initial_factors(&reseeded, Side::Item, 3));
    }

    /// The item's factors after one SGD step from its start, by the update's formula.
    fn one_step(params: &MfParams, user: u64, item: u64, rating: f64, mean: f64) -> Vec<f64> {
        let (p, q) = (
            initial_factors(params, Side::User, user),
            initial_factors(params, Side::Item, item),
        );
        let dot: f64 = p.iter().zip(&q).map(|(a, b)| a * b).sum();
        // A new user and item have biases 0.
        let g = 2.0 * (mean + dot - rating);
        q.iter()
            .zip(&p)
            .map(|(qi, pi)| qi - params.latent_learning_rate * g * pi)
            .collect()
    }

    #[test]
    fn two_models_meeting_an_item_after_different_rows_start_it_alike() {
        let params = MfParams::biased_mf();
        let mut a = MatrixFactorization::new(params.clone()).unwrap();
        let mut b = MatrixFactorization::new(params.clone()).unwrap();
        // `a` meets items 1..=5 and users 1..=5 first; `b` meets item 9 first.
        for k in 1..=5 {
            a.learn_one(k, k, 3.0).unwrap();
        }
        a.learn_one(20, 9, 4.0).unwrap();
        b.learn_one(20, 9, 4.0).unwrap();
        // a's mean is (5 · 3 + 4) / 6 when it learns (20, 9); b's is 4.
        let expected_a = one_step(&params, 20, 9, 4.0, 19.0 / 6.0);
        let expected_b = one_step(&params, 20, 9, 4.0, 4.0);
        let close = |x: &[f64], y: &[f64]| x.iter().zip(y).all(|(u, v)| (u - v).abs() < 1e-15);
        // The item's parameters are its bias, then its factors.
        assert!(close(&a.item_parameters(9).unwrap()[1..], &expected_a));
        assert!(close(&b.item_parameters(9).unwrap()[1..], &expected_b));
    }
}

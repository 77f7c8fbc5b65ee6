//! Swing item-to-item similarity, as Flink ML's `Swing` with one subtask:
//!
//! `w(i, j) = sum over user pairs {u, v} who both bought i and j of
//!            1 / (alpha1 + |I_u|)^beta * 1 / (alpha1 + |I_v|)^beta * 1 / (alpha2 + |I_u ∩ I_v|)`
//!
//! Users with fewer than `min_user_behavior` or more than `max_user_behavior`
//! distinct items are left out. An item with more than `max_user_num_per_item`
//! purchasers keeps a reservoir sample of them drawn with Java's `Random(seed)`, as
//! Flink ML does (users visited in ascending id order). Each item gets its `k` most
//! similar items, best first (ties by ascending item id).

use crate::api::MlError;
use crate::params::{at_least, non_negative, ParamError};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Parameters of [`Swing`] (Flink ML's names and defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwingParams {
    /// Most similar items kept per item (>= 1). Default 100.
    pub k: usize,
    /// Purchasers sampled per item (>= 1). Default 1000.
    pub max_user_num_per_item: usize,
    /// Fewest distinct items a counted user has (>= 1). Default 10.
    pub min_user_behavior: usize,
    /// Most distinct items a counted user has (>= `min_user_behavior`). Default 1000.
    pub max_user_behavior: usize,
    /// Smoothing of the user weights (>= 0). Default 15.
    pub alpha1: u32,
    /// Smoothing of the common-item count (>= 0). Default 0.
    pub alpha2: u32,
    /// Decay of the user weights (>= 0). Default 0.3.
    pub beta: f64,
    /// Seed of the purchaser sampling (Flink's default is the hash code of its class name).
    pub seed: i64,
}

impl Default for SwingParams {
    fn default() -> Self {
        Self {
            k: 100,
            max_user_num_per_item: 1000,
            min_user_behavior: 10,
            max_user_behavior: 1000,
            alpha1: 15,
            alpha2: 0,
            beta: 0.3,
            seed: java_string_hash("org.apache.flink.ml.recommendation.swing.Swing").into(),
        }
    }
}

/// The items most similar to one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimilarItems {
    /// The item.
    pub item: u64,
    /// Similar items and their Swing scores, best first.
    pub similar: Vec<(u64, f64)>,
}

/// Computes Swing similarities from `(user, item)` purchases.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Swing {
    /// Parameters.
    pub params: SwingParams,
}

/// Java's `String.hashCode`.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Java's `java.util.Random` (48-bit LCG), enough for `nextInt(bound)`.
struct JavaRandom(u64);

impl JavaRandom {
    const MULT: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        Self((seed as u64 ^ Self::MULT) & Self::MASK)
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.0 = (self.0.wrapping_mul(Self::MULT).wrapping_add(0xB)) & Self::MASK;
        (self.0 >> (48 - bits)) as i32
    }

    /// `nextInt(bound)` for `bound > 0`.
    fn next_int(&mut self, bound: i32) -> i32 {
        if bound & (bound - 1) == 0 {
            return ((i64::from(bound) * i64::from(self.next(31))) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let val = bits % bound;
            if bits.wrapping_sub(val).wrapping_add(bound - 1) >= 0 {
                return val;
            }
        }
    }
}

impl Swing {
    fn validate(&self) -> Result<(), ParamError> {
        let p = &self.params;
        at_least("k", p.k, 1)?;
        at_least("max_user_num_per_item", p.max_user_num_per_item, 1)?;
        at_least("min_user_behavior", p.min_user_behavior, 1)?;
        at_least(
            "max_user_behavior",
            p.max_user_behavior,
            p.min_user_behavior,
        )?;
        non_negative("beta", p.beta)?;
        if p.max_user_num_per_item >= i32::MAX as usize {
            return Err(ParamError::new(
                "max_user_num_per_item",
                p.max_user_num_per_item,
                "below 2^31 - 1",
            ));
        }
        Ok(())
    }

    /// For every item with at least one similar item, its most similar items and
    /// scores, best first; items in ascending id order.
    pub fn similarities(&self, purchases: &[(u64, u64)]) -> Result<Vec<SimilarItems>, MlError> {
        self.validate()?;
        let p = &self.params;
        // Each user's distinct items in first-seen order (collection stops one past the max).
        let mut user_items: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for &(user, item) in purchases {
            let items = user_items.entry(user).or_default();
            if items.len() <= p.max_user_behavior && !items.contains(&item) {
                items.push(item);
            }
        }
        user_items
            .retain(|_, items| (p.min_user_behavior..=p.max_user_behavior).contains(&items.len()));

        // Purchasers per item, reservoir-sampled; `seen` counts all of them.
        let mut rng = JavaRandom::new(p.seed);
        let mut purchasers: BTreeMap<u64, (i64, Vec<u64>)> = BTreeMap::new();
        for (&user, items) in &user_items {
            for &item in items {
                let (seen, list) = purchasers.entry(item).or_default();
                if list.len() < p.max_user_num_per_item {
                    list.push(user);
                } else {
                    // `seen` < 2^31: max_user_num_per_item is below i32::MAX and each
                    // (user, item) pair is visited once.
                    let index = rng.next_int(i32::try_from(*seen).unwrap_or(i32::MAX)) as usize;
                    if index < p.max_user_num_per_item {
                        list[index] = user;
                    }
                }
                *seen += 1;
            }
        }

        let weight = |n: usize| 1.0 / (f64::from(p.alpha1) + n as f64).powf(p.beta);
        let sorted: FxHashMap<u64, (Vec<u64>, f64)> = user_items
            .iter()
            .map(|(&u, items)| {
                let mut s = items.clone();
                s.sort_unstable();
                (u, (s, weight(items.len())))
            })
            .collect();

        let mut out = Vec::new();
        let mut common = Vec::new();
        for (&main_item, (_, users)) in &purchasers {
            let mut scores: FxHashMap<u64, f64> = FxHashMap::default();
            for (a, u) in users.iter().enumerate() {
                for v in &users[a + 1..] {
                    let (Some((iu, wu)), Some((iv, wv))) = (sorted.get(u), sorted.get(v)) else {
                        continue;
                    };
                    intersect(iu, iv, &mut common);
                    if common.is_empty() {
                        continue;
                    }
                    let s = wu * wv / (f64::from(p.alpha2) + common.len() as f64);
                    for &other in common.iter().filter(|&&i| i != main_item) {
                        *scores.entry(other).or_insert(0.0) += s;
                    }
                }
            }
            if scores.is_empty() {
                continue;
            }
            let mut ranked: Vec<(u64, f64)> = scores.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(p.k);
            out.push(SimilarItems {
                item: main_item,
                similar: ranked,
            });
        }
        Ok(out)
    }
}

/// The common elements of two ascending lists, into `out`.
fn intersect(a: &[u64], b: &[u64], out: &mut Vec<u64>) {
    out.clear();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
}

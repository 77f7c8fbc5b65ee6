//! A small seeded generator (SplitMix64) for initialisations: k-means++ seeding and
//! random latent factors. Deterministic for a seed on every platform.

use serde::{Deserialize, Serialize};

/// SplitMix64 (Steele, Lea & Flood 2014).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.next_f64() * n as f64) as usize).min(n - 1)
    }

    /// Normal with mean `mu` and standard deviation `sigma` (Box-Muller).
    pub(crate) fn normal(&mut self, mu: f64, sigma: f64) -> f64 {
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        mu + sigma * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

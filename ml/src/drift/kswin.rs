//! KSWIN (Kolmogorov-Smirnov windowing, Raab et al. 2020) as River's `KSWIN`: a
//! sliding window of `window_size` values; once full, `stat_size` values drawn from
//! its older part (with CPython's `random.sample`, seeded as River seeds it) are
//! compared with its newest `stat_size` values by a two-sample KS test (exact
//! p-value, as SciPy's `ks_2samp`); a drift when `p <= alpha` and the statistic
//! exceeds 0.1, after which only the newest values are kept.

use super::py_random::PyRandom;
use super::{finite_value, require, DriftDetector, DriftError};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// KSWIN parameters (River's defaults, with a fixed seed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KswinConfig {
    /// Significance of the KS test, in `(0, 1)`. Default 0.005.
    pub alpha: f64,
    /// Sliding window length. Default 100.
    pub window_size: usize,
    /// Length of each compared sample; the window's older part must hold as many,
    /// so `window_size >= 2 * stat_size`. Default 30.
    pub stat_size: usize,
    /// Seed of the sampler (River's `seed`). Default 42.
    pub seed: u64,
}

impl Default for KswinConfig {
    fn default() -> Self {
        Self {
            alpha: 0.005,
            window_size: 100,
            stat_size: 30,
            seed: 42,
        }
    }
}

/// The KSWIN detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kswin {
    config: KswinConfig,
    window: VecDeque<f64>,
    rng: PyRandom,
    p_value: f64,
    detected: bool,
}

impl Kswin {
    /// A detector with `config`, checked.
    pub fn new(config: KswinConfig) -> Result<Self, DriftError> {
        require(
            config.alpha > 0.0 && config.alpha < 1.0,
            "alpha",
            config.alpha,
            "a value in (0, 1)",
        )?;
        require(
            config.stat_size >= 1,
            "stat_size",
            config.stat_size,
            "at least 1",
        )?;
        require(
            config.window_size >= 2 * config.stat_size,
            "window_size",
            config.window_size,
            "at least 2 * stat_size (the older part must hold stat_size values)",
        )?;
        require(
            config.window_size < u32::MAX as usize,
            "window_size",
            config.window_size,
            "below 2^32",
        )?;
        Ok(Self {
            config,
            window: VecDeque::with_capacity(config.window_size),
            rng: PyRandom::new(config.seed),
            p_value: 0.0,
            detected: false,
        })
    }

    /// The p-value of the last test (0 before the window first fills).
    pub fn p_value(&self) -> f64 {
        self.p_value
    }
}

impl DriftDetector for Kswin {
    fn update(&mut self, x: f64) -> Result<bool, DriftError> {
        let x = finite_value(x)?;
        let KswinConfig {
            alpha,
            window_size,
            stat_size,
            seed,
        } = self.config;
        if self.detected {
            // As River: the update after a detection starts from an empty window.
            self.rng = PyRandom::new(seed);
            self.p_value = 0.0;
            self.detected = false;
            self.window.clear();
        }
        if self.window.len() == window_size {
            self.window.pop_front();
        }
        self.window.push_back(x);
        if self.window.len() < window_size {
            return Ok(false);
        }
        let older = window_size - stat_size;
        let sampled: Vec<f64> = self
            .rng
            .sample(older, stat_size)
            .into_iter()
            .map(|i| self.window[i])
            .collect();
        let recent: Vec<f64> = self.window.range(older..).copied().collect();
        let (statistic, p_value) = ks_two_sample_equal_sizes(sampled, recent);
        self.p_value = p_value;
        self.detected = p_value <= alpha && statistic > 0.1;
        Ok(self.detected)
    }

    fn drift_detected(&self) -> bool {
        self.detected
    }
}

/// Two-sided two-sample KS statistic and exact p-value for samples of equal size
/// `n`, as SciPy's `ks_2samp(method="exact")`.
fn ks_two_sample_equal_sizes(mut a: Vec<f64>, mut b: Vec<f64>) -> (f64, f64) {
    let n = a.len();
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    // max |F_a(v) - F_b(v)| over all sample values, counting values <= v.
    let (mut i, mut j, mut d) = (0usize, 0usize, 0usize);
    while i < n || j < n {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < n && a[i] <= v {
            i += 1;
        }
        while j < n && b[j] <= v {
            j += 1;
        }
        d = d.max(i.abs_diff(j));
    }
    if d == 0 {
        return (0.0, 1.0);
    }
    (d as f64 / n as f64, prob_outside_square(n, d))
}

/// Probability that a random lattice path leaves the band `|x - y| < h`
/// (SciPy's `_compute_prob_outside_square`).
fn prob_outside_square(n: usize, h: usize) -> f64 {
    let mut p = 0.0;
    let mut k = (n / h) as i64;
    let (n, h) = (n as f64, h as f64);
    while k >= 0 {
        let kh = k as f64 * h;
        let mut p1 = 1.0;
        let mut j = 0.0;
        while j < h {
            p1 = (n - kh - j) * p1 / (n + kh + j + 1.0);
            j += 1.0;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    (2.0 * p).clamp(0.0, 1.0)
}

//! ADWIN (ADaptive WINdowing, Bifet & Gavaldà 2007) with River's defaults and
//! arithmetic: the window is kept as an exponential histogram (level `i` holds up to
//! `max_buckets` summaries of `2^i` values each); every `clock` values, every split
//! of the window into an older and a newer part is tested, and while some split's
//! means differ by more than the Hoeffding-style bound, the oldest summary is dropped.

use super::{finite_value, require, DriftDetector, DriftError};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// ADWIN parameters (River's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdwinConfig {
    /// Confidence: the bound on a false cut, in `(0, 1)`. Default 0.002.
    pub delta: f64,
    /// Test for a change every `clock` values (>= 1). Default 32.
    pub clock: u32,
    /// Summaries kept per level before two merge (>= 2). Default 5.
    pub max_buckets: usize,
    /// Minimum length of each side of a cut (>= 1). Default 5.
    pub min_window_length: u32,
    /// No test before the window is longer than this. Default 10.
    pub grace_period: u32,
}

impl Default for AdwinConfig {
    fn default() -> Self {
        Self {
            delta: 0.002,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

/// The ADWIN detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adwin {
    config: AdwinConfig,
    /// `levels[i]`: (sum, variance sum) of summaries of `2^i` values, oldest first.
    levels: Vec<VecDeque<(f64, f64)>>,
    total: f64,
    variance: f64,
    width: f64,
    tick: u64,
    detected: bool,
}

impl Adwin {
    /// A detector with `config`, checked.
    pub fn new(config: AdwinConfig) -> Result<Self, DriftError> {
        require(
            config.delta > 0.0 && config.delta < 1.0,
            "delta",
            config.delta,
            "a value in (0, 1)",
        )?;
        require(config.clock >= 1, "clock", config.clock, "at least 1")?;
        require(
            config.max_buckets >= 2,
            "max_buckets",
            config.max_buckets,
            "at least 2",
        )?;
        require(
            config.min_window_length >= 1,
            "min_window_length",
            config.min_window_length,
            "at least 1",
        )?;
        Ok(Self::fresh(config))
    }

    fn fresh(config: AdwinConfig) -> Self {
        Self {
            config,
            levels: vec![VecDeque::new()],
            total: 0.0,
            variance: 0.0,
            width: 0.0,
            tick: 0,
            detected: false,
        }
    }

    /// Number of values in the current window.
    pub fn width(&self) -> f64 {
        self.width
    }

    /// Mean of the current window (0 when empty).
    pub fn estimation(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.total / self.width
        }
    }

    /// Sample variance of the current window.
    pub fn variance(&self) -> f64 {
        if self.width == 0.0 {
            0.0
        } else {
            self.variance / self.width
        }
    }

    fn insert(&mut self, value: f64) {
        self.width += 1.0;
        if self.width > 1.0 {
            let d = value - self.total / (self.width - 1.0);
            self.variance += (self.width - 1.0) * d * d / self.width;
        }
        self.total += value;
        if self.levels.is_empty() {
            self.levels.push(VecDeque::new());
        }
        self.levels[0].push_back((value, 0.0));
        self.merge_full_levels();
    }

    fn merge_full_levels(&mut self) {
        let full = self.config.max_buckets + 1;
        let mut level = 0;
        while self.levels[level].len() == full {
            let size = (1u64 << level) as f64;
            let (Some((t0, v0)), Some((t1, v1))) = (
                self.levels[level].pop_front(),
                self.levels[level].pop_front(),
            ) else {
                break;
            };
            let (mu0, mu1) = (t0 / size, t1 / size);
            let merged = (t0 + t1, v0 + v1 + size * 0.5 * (mu0 - mu1) * (mu0 - mu1));
            if level + 1 == self.levels.len() {
                self.levels.push(VecDeque::new());
            }
            self.levels[level + 1].push_back(merged);
            level += 1;
        }
    }

    /// Drops the oldest summary.
    fn drop_oldest(&mut self) {
        let last = self.levels.len() - 1;
        let Some((sum, var)) = self.levels[last].pop_front() else {
            return;
        };
        let size = (1u64 << last) as f64;
        self.width -= size;
        self.total -= sum;
        let mu = sum / size;
        let mu_window = self.total / self.width;
        self.variance -=
            var + size * self.width * (mu - mu_window) * (mu - mu_window) / (size + self.width);
        if self.levels[last].is_empty() {
            self.levels.pop();
        }
    }

    fn cut_is_significant(&self, n0: f64, n1: f64, delta_mean: f64) -> bool {
        let min = f64::from(self.config.min_window_length);
        let delta_prime = (2.0 * self.width.ln() / self.config.delta).ln();
        let m_recip = 1.0 / (n0 - min + 1.0) + 1.0 / (n1 - min + 1.0);
        let epsilon = (2.0 * m_recip * (self.variance / self.width) * delta_prime).sqrt()
            + 2.0 / 3.0 * delta_prime * m_recip;
        delta_mean.abs() > epsilon
    }

    /// Scans the cuts from the oldest summary on; returns whether one was significant
    /// (after dropping the oldest summary).
    fn shrink_once(&mut self) -> bool {
        let min = f64::from(self.config.min_window_length);
        let (mut n0, mut n1, mut u0, mut u1) = (0.0, self.width, 0.0, self.total);
        for level in (0..self.levels.len()).rev() {
            let size = (1u64 << level) as f64;
            let len = self.levels[level].len();
            for k in 0..len {
                let sum = self.levels[level][k].0;
                n0 += size;
                n1 -= size;
                u0 += sum;
                u1 -= sum;
                if level == 0 && k == len - 1 {
                    return false;
                }
                if n1 >= min && n0 >= min && self.cut_is_significant(n0, n1, u0 / n0 - u1 / n1) {
                    self.drop_oldest();
                    return true;
                }
            }
        }
        false
    }
}

impl DriftDetector for Adwin {
    fn update(&mut self, x: f64) -> Result<bool, DriftError> {
        let x = finite_value(x)?;
        if self.detected {
            *self = Self::fresh(self.config);
        }
        self.insert(x);
        self.tick += 1;
        let mut detected = false;
        if self.tick.is_multiple_of(u64::from(self.config.clock))
            && self.width > f64::from(self.config.grace_period)
        {
            while self.width > 0.0 && self.shrink_once() {
                detected = true;
            }
        }
        self.detected = detected;
        Ok(detected)
    }

    fn drift_detected(&self) -> bool {
        self.detected
    }
}

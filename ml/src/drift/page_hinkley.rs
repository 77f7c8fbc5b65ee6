//! Page-Hinkley test as River's `PageHinkley`: cumulative deviations from the
//! running mean, faded by `alpha`; a drift when the cumulative sum has risen (or
//! fallen) more than `threshold` above its minimum (below its maximum).

use super::{finite_value, require, DriftDetector, DriftError};
use serde::{Deserialize, Serialize};

/// Which direction of change to detect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PageHinkleyMode {
    /// Increases of the mean only.
    Up,
    /// Decreases of the mean only.
    Down,
    /// Both directions (default).
    Both,
}

/// Page-Hinkley parameters (River's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PageHinkleyConfig {
    /// Values seen before any detection. Default 30.
    pub min_instances: u64,
    /// Tolerated deviation per value (>= 0). Default 0.005.
    pub delta: f64,
    /// Detection threshold, lambda (> 0). Default 50.
    pub threshold: f64,
    /// Fading factor of the cumulative sums, in `(0, 1]`. Default 0.9999.
    pub alpha: f64,
    /// Which changes to detect. Default both.
    pub mode: PageHinkleyMode,
}

impl Default for PageHinkleyConfig {
    fn default() -> Self {
        Self {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: PageHinkleyMode::Both,
        }
    }
}

/// The Page-Hinkley detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageHinkley {
    config: PageHinkleyConfig,
    n: u64,
    mean: f64,
    sum_increase: f64,
    sum_decrease: f64,
    min_increase: f64,
    max_decrease: f64,
    detected: bool,
}

impl PageHinkley {
    /// A detector with `config`, checked.
    pub fn new(config: PageHinkleyConfig) -> Result<Self, DriftError> {
        require(config.delta >= 0.0, "delta", config.delta, "a value >= 0")?;
        require(
            config.threshold > 0.0,
            "threshold",
            config.threshold,
            "a value > 0",
        )?;
        require(
            config.alpha > 0.0 && config.alpha <= 1.0,
            "alpha",
            config.alpha,
            "a value in (0, 1]",
        )?;
        Ok(Self::fresh(config))
    }

    fn fresh(config: PageHinkleyConfig) -> Self {
        Self {
            config,
            n: 0,
            mean: 0.0,
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: f64::INFINITY,
            max_decrease: -1.0,
            detected: false,
        }
    }

    /// The running mean since the last reset.
    pub fn mean(&self) -> f64 {
        self.mean
    }
}

impl DriftDetector for PageHinkley {
    fn update(&mut self, x: f64) -> Result<bool, DriftError> {
        let x = finite_value(x)?;
        if self.detected {
            *self = Self::fresh(self.config);
        }
        self.n += 1;
        self.mean += (1.0 / self.n as f64) * (x - self.mean);
        let dev = x - self.mean;
        let c = &self.config;
        self.sum_increase = c.alpha * self.sum_increase + dev - c.delta;
        self.sum_decrease = c.alpha * self.sum_decrease + dev + c.delta;
        self.min_increase = self.min_increase.min(self.sum_increase);
        self.max_decrease = self.max_decrease.max(self.sum_decrease);
        if self.n >= c.min_instances {
            let up = self.sum_increase - self.min_increase > c.threshold;
            let down = self.max_decrease - self.sum_decrease > c.threshold;
            self.detected = match c.mode {
                PageHinkleyMode::Up => up,
                PageHinkleyMode::Down => down,
                PageHinkleyMode::Both => up || down,
            };
        }
        Ok(self.detected)
    }

    fn drift_detected(&self) -> bool {
        self.detected
    }
}

//! Drift statistics of one numeric column over windows of `window` finite values: each
//! window's mean, standard deviation, minimum and maximum, and its population stability
//! index (PSI, `quiver_ml::drift::psi`) against the first window, the reference, binned at
//! the reference's deciles. Per value: a shifted sum, sum of squares, min, max and a binary
//! search over nine edges — no allocation after the reference.

use quiver_ml::drift::{histogram, population_stability_index, quantile_edges};
use quiver_protocol::quality::DriftWindow;

/// Bins of the PSI histograms: the reference's deciles.
pub(crate) const BINS: usize = 10;

/// Running moments of the current window, shifted by its first value for precision.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    count: u64,
    shift: f64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Moments {
    #[inline]
    fn push(&mut self, x: f64) {
        if self.count == 0 {
            *self = Moments {
                shift: x,
                min: x,
                max: x,
                ..Moments::default()
            };
        }
        let d = x - self.shift;
        self.count += 1;
        self.sum += d;
        self.sum_sq += d * d;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// The window's statistics with `psi`.
    fn window(&self, windows: u64, psi: f64) -> DriftWindow {
        let n = self.count.max(1) as f64;
        let mean = self.sum / n;
        DriftWindow {
            windows,
            count: self.count,
            mean: self.shift + mean,
            std: (self.sum_sq / n - mean * mean).max(0.0).sqrt(),
            min: self.min,
            max: self.max,
            psi,
        }
    }
}

/// The reference window: its values while it fills, then its deciles and histogram.
#[derive(Debug)]
enum Reference {
    Filling(Vec<f64>),
    Ready {
        edges: [f64; BINS - 1],
        counts: Vec<f64>,
    },
}

/// The bin of `x` among `edges` (a value equal to an edge falls in the lower bin, as
/// `quiver_ml::drift::histogram` bins): counted without branches, since a binary search's
/// mispredicted branches cost more than nine comparisons.
#[inline]
fn bin(edges: &[f64; BINS - 1], x: f64) -> usize {
    edges.iter().map(|&e| usize::from(e < x)).sum()
}

/// Drift of one column.
#[derive(Debug)]
pub(crate) struct Drift {
    window: u64,
    reference: Reference,
    moments: Moments,
    bins: [u64; BINS],
    windows: u64,
    last: Option<DriftWindow>,
}

impl Drift {
    /// Drift over windows of `window` values (at least 1).
    pub(crate) fn new(window: u64) -> Drift {
        Drift {
            window: window.max(1),
            reference: Reference::Filling(Vec::new()),
            moments: Moments::default(),
            bins: [0; BINS],
            windows: 0,
            last: None,
        }
    }

    /// Adds finite values, a window's worth at a time.
    pub(crate) fn extend(&mut self, mut values: &[f64]) {
        while !values.is_empty() {
            let room = (self.window - self.moments.count).min(values.len() as u64) as usize;
            let (now, rest) = values.split_at(room);
            now.iter().for_each(|&x| self.moments.push(x));
            match &mut self.reference {
                Reference::Filling(reference) => reference.extend_from_slice(now),
                Reference::Ready { edges, .. } => {
                    now.iter().for_each(|&x| self.bins[bin(edges, x)] += 1);
                }
            }
            if self.moments.count >= self.window {
                self.close_window();
            }
            values = rest;
        }
    }

    /// Adds a finite value.
    #[cfg(test)]
    fn push(&mut self, x: f64) {
        self.extend(&[x]);
    }

    /// The last complete window.
    pub(crate) fn last(&self) -> Option<DriftWindow> {
        self.last
    }

    fn close_window(&mut self) {
        self.windows += 1;
        let psi = match &self.reference {
            Reference::Filling(values) => {
                // Finite values make neither call fail; a failure would leave the reference filling.
                let ready = quantile_edges(values, BINS).and_then(|edges| {
                    let counts = histogram(values, &edges)?;
                    let mut fixed = [f64::INFINITY; BINS - 1];
                    fixed.iter_mut().zip(&edges).for_each(|(f, e)| *f = *e);
                    Ok(Reference::Ready {
                        edges: fixed,
                        counts,
                    })
                });
                if let Ok(ready) = ready {
                    self.reference = ready;
                }
                0.0
            }
            Reference::Ready { counts, .. } => {
                let current: Vec<f64> = self.bins.iter().map(|&c| c as f64).collect();
                population_stability_index(counts, &current).unwrap_or(f64::NAN)
            }
        };
        self.last = Some(self.moments.window(self.windows, psi));
        self.moments = Moments::default();
        self.bins = [0; BINS];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reports_its_moments_and_the_reference_no_drift() {
        let mut drift = Drift::new(4);
        for x in [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0] {
            drift.push(x);
        }
        assert_eq!(drift.last(), None, "no window complete yet");
        drift.push(1e9 + 4.0);
        let w = drift.last().expect("the reference window");
        // 1..4 shifted by 1e9: mean 2.5, population variance 1.25.
        assert_eq!((w.windows, w.count), (1, 4));
        assert_eq!(w.mean, 1e9 + 2.5);
        assert!((w.std - 1.25f64.sqrt()).abs() < 1e-9, "{}", w.std);
        assert_eq!((w.min, w.max, w.psi), (1e9 + 1.0, 1e9 + 4.0, 0.0));
    }

    #[test]
    fn psi_of_a_shifted_window_matches_the_formula_by_hand() {
        // Reference 0..100: deciles at 9.9, 19.8, ..., 89.1, ten values per bin (shares 0.1).
        let mut drift = Drift::new(100);
        (0..100).for_each(|x| drift.push(f64::from(x)));
        // The next window: half its values in the first bin, half in the last.
        (0..50).for_each(|_| drift.push(0.0));
        (0..50).for_each(|_| drift.push(99.0));
        let w = drift.last().expect("second window");
        // Two bins at share 0.5 against 0.1, eight empty bins (share 1e-4) against 0.1.
        let full = (0.5 - 0.1) * (0.5f64 / 0.1).ln();
        let empty = (1e-4 - 0.1) * (1e-4f64 / 0.1).ln();
        let expected = 2.0 * full + 8.0 * empty;
        assert!((w.psi - expected).abs() < 1e-12, "{} vs {expected}", w.psi);
        assert_eq!((w.windows, w.mean, w.min, w.max), (2, 49.5, 0.0, 99.0));
        assert!((w.std - 49.5).abs() < 1e-12);
    }

    #[test]
    fn values_are_binned_as_the_ml_histogram_bins_them() {
        let edges = [1.0, 2.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let values = [0.5, 1.0, 1.5, 2.0, 2.5, 8.0, 9.0, -1e9, 1e9];
        let mut ours = vec![0.0; BINS];
        values.iter().for_each(|&x| ours[bin(&edges, x)] += 1.0);
        assert_eq!(ours, histogram(&values, &edges).expect("histogram"));
    }

    #[test]
    fn the_same_distribution_again_does_not_drift() {
        let mut drift = Drift::new(100);
        // One slice across three windows.
        let values: Vec<f64> = (0..300).map(|x| f64::from(x % 100)).collect();
        drift.extend(&values);
        let w = drift.last().expect("third window");
        assert_eq!((w.windows, w.psi), (3, 0.0));
    }
}

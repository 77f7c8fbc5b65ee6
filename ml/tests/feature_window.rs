//! The windowed online standard scaler against the exact statistics of its window (a
//! two-pass mean and sample deviation of the values the window holds): values that leave
//! the running sums must not leave their rounding behind.

use quiver_ml::feature::{OnlineStandardScaler, StandardScalerParams};
use quiver_ml::Features;

/// The exact sample mean and standard deviation (n − 1) of small values, two passes.
fn two_pass(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let m2: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (m2 / (n - 1.0)).sqrt())
}

fn assert_exact(scaler: &OnlineStandardScaler, window: &[f64], step: usize) {
    let (mean, std) = two_pass(window);
    let (got_mean, got_std) = (scaler.mean()[0], scaler.std()[0]);
    assert!(
        (got_mean - mean).abs() <= 1e-9 && (got_std - std).abs() <= 1e-9 * std,
        "after {step} values: mean {got_mean}, std {got_std}; the window's are {mean}, {std}"
    );
}

#[test]
fn windowed_scaler_recovers_exact_statistics_after_huge_values_leave() {
    const WINDOW: usize = 50;
    let mut scaler = OnlineStandardScaler::new(StandardScalerParams::default(), Some(WINDOW))
        .expect("window 50 is valid");
    // 1000 values at 1e9 ± 1, then 1000 at 0 ± 1 (a fixed, irregular pattern).
    let jitter = |i: usize| ((i * 7919) % 13) as f64 / 6.0 - 1.0;
    let values: Vec<f64> = (0..2000)
        .map(|i| if i < 1000 { 1e9 + jitter(i) } else { jitter(i) })
        .collect();
    for (i, &v) in values.iter().enumerate() {
        scaler.learn_one(Features::Dense(&[v])).expect("finite");
        let step = i + 1;
        // From the moment the last huge value has left, and at the end.
        if step >= 1000 + WINDOW {
            assert_exact(&scaler, &values[step - WINDOW..step], step);
        }
    }
}

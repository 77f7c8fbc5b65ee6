//! Evaluation metrics against Flink ML's `BinaryClassificationEvaluatorTest` numbers,
//! hand-computed regression metrics, rolling metrics against a naive recomputation, and
//! streaming metrics refusing NaN and infinite pairs.

use proptest::prelude::*;
use quiver_ml::evaluation::{
    BinaryClassificationEvaluator, EvaluationError, Mae, Metric, RegressionMetrics, Rmse, Rolling,
    R2,
};
use quiver_ml::finite::Position;
use quiver_ml::{Column, Frame, NonFinite, Vector};

const EPS: f64 = 1e-5;

/// Flink's INPUT_DATA: (label, probability of label 1).
const LABELS: [f64; 12] = [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
const SCORES: [f64; 12] = [
    0.9, 0.8, 0.7, 0.75, 0.6, 0.65, 0.55, 0.4, 0.3, 0.35, 0.2, 0.1,
];

#[test]
fn binary_metrics_match_flink_ml_test_evaluate() {
    let m = BinaryClassificationEvaluator::default()
        .evaluate(&LABELS, &SCORES, None)
        .expect("valid input");
    assert!((m.area_under_pr - 0.7691481137909708).abs() < EPS, "{m:?}");
    assert!((m.ks - 0.3714285714285714).abs() < EPS, "{m:?}");
    assert!((m.area_under_roc - 0.6571428571428571).abs() < EPS, "{m:?}");
}

#[test]
fn frame_with_vector_raw_predictions_matches_flink_ml_test_evaluate() {
    let raw: Vec<Vector> = SCORES
        .iter()
        .map(|&p| Vector::Dense(vec![1.0 - p, p]))
        .collect();
    let frame = Frame::new()
        .with("label", Column::F64(LABELS.to_vec()))
        .and_then(|f| f.with("rawPrediction", Column::Vector(raw)))
        .expect("frame");
    let m = BinaryClassificationEvaluator::default()
        .evaluate_frame(&frame)
        .expect("valid frame");
    assert!((m.area_under_pr - 0.7691481137909708).abs() < EPS, "{m:?}");
    assert!((m.ks - 0.3714285714285714).abs() < EPS, "{m:?}");
    assert!((m.area_under_roc - 0.6571428571428571).abs() < EPS, "{m:?}");
    let missing = BinaryClassificationEvaluator::default().evaluate_frame(&Frame::new());
    assert!(missing.is_err());
}

#[test]
fn binary_metrics_match_flink_ml_test_multi_score() {
    let scores = [0.9, 0.9, 0.9, 0.75, 0.6, 0.9, 0.9, 0.4, 0.3, 0.9, 0.2, 0.1];
    let m = BinaryClassificationEvaluator::default()
        .evaluate(&LABELS, &scores, None)
        .expect("valid input");
    // Flink's EXPECTED_DATA_M: ROC, PR, KS, Lorenz.
    assert!((m.area_under_roc - 0.8571428571428571).abs() < EPS, "{m:?}");
    assert!((m.area_under_pr - 0.9377705627705628).abs() < EPS, "{m:?}");
    assert!((m.ks - 0.8571428571428571).abs() < EPS, "{m:?}");
    assert!(
        (m.area_under_lorenz - 0.6488095238095237).abs() < EPS,
        "{m:?}"
    );
}

#[test]
fn weighted_auc_matches_flink_ml_test_with_weight() {
    let scores = [0.9, 0.9, 0.9, 0.75, 0.6, 0.9, 0.9, 0.4, 0.3, 0.9, 0.2, 0.1];
    let weights = [0.8, 0.7, 0.5, 1.2, 1.3, 1.5, 1.4, 0.3, 0.5, 1.9, 1.2, 1.0];
    let m = BinaryClassificationEvaluator::default()
        .evaluate(&LABELS, &scores, Some(&weights))
        .expect("valid input");
    assert!((m.area_under_roc - 0.8911680911680911).abs() < EPS, "{m:?}");
}

#[test]
fn log_loss_is_mean_cross_entropy() {
    let m = BinaryClassificationEvaluator::default()
        .evaluate(&LABELS, &SCORES, None)
        .expect("valid input");
    let expected = LABELS
        .iter()
        .zip(SCORES)
        .map(|(&y, p)| {
            if y == 1.0 {
                -f64::ln(p)
            } else {
                -f64::ln(1.0 - p)
            }
        })
        .sum::<f64>()
        / 12.0;
    let got = m.log_loss.expect("scores are probabilities");
    assert!((got - expected).abs() < 1e-12);
    let raw = BinaryClassificationEvaluator::default()
        .evaluate(&[1.0, 0.0], &[3.0, -2.0], None)
        .expect("valid input");
    assert_eq!(raw.log_loss, None, "raw scores have no log loss");
}

#[test]
fn bad_inputs_are_named_errors() {
    let e = BinaryClassificationEvaluator::default().evaluate(&[1.0, 0.0], &[0.5], None);
    assert!(matches!(
        e,
        Err(EvaluationError::LengthMismatch { name: "scores", .. })
    ));
    let e = BinaryClassificationEvaluator::default().evaluate(&[], &[], None);
    assert_eq!(e, Err(EvaluationError::Empty));
    let e = BinaryClassificationEvaluator::default().evaluate(&[1.0, 0.0], &[0.5, f64::NAN], None);
    assert!(matches!(e, Err(EvaluationError::BadValue { index: 1, .. })));
    let e = BinaryClassificationEvaluator::default().evaluate(&[1.0], &[0.5], Some(&[-1.0]));
    assert!(matches!(
        e,
        Err(EvaluationError::BadValue {
            name: "weights",
            ..
        })
    ));
    assert!(RegressionMetrics::compute(&[1.0, 2.0], &[1.0]).is_err());
}

#[test]
fn regression_metrics_by_hand() {
    // errors: 0.5, -0.5, 0, 1 ; mean target 2.5 ; SS_tot = 5 ; SS_res = 1.5
    let m = RegressionMetrics::compute(&[1.0, 2.0, 3.0, 4.0], &[0.5, 2.5, 3.0, 3.0])
        .expect("valid input");
    assert!((m.mae - 0.5).abs() < 1e-12);
    assert!((m.mse - 0.375).abs() < 1e-12);
    assert!((m.rmse - 0.375f64.sqrt()).abs() < 1e-12);
    assert!((m.r2 - 0.7).abs() < 1e-12);
}

fn naive(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pairs.len() as f64;
    let mae = pairs.iter().map(|(y, p)| (y - p).abs()).sum::<f64>() / n;
    let sq = pairs.iter().map(|(y, p)| (y - p) * (y - p)).sum::<f64>();
    let mean = pairs.iter().map(|(y, _)| y).sum::<f64>() / n;
    let tot = pairs
        .iter()
        .map(|(y, _)| (y - mean) * (y - mean))
        .sum::<f64>();
    (mae, (sq / n).sqrt(), 1.0 - sq / tot)
}

proptest! {
    #[test]
    fn rolling_metrics_equal_naive_recomputation_over_the_window(
        pairs in prop::collection::vec((-100.0f64..100.0, -100.0f64..100.0), 1..120),
        window in 2usize..30,
    ) {
        let mut mae = Rolling::new(Mae::default(), window);
        let mut rmse = Rolling::new(Rmse::default(), window);
        let mut r2 = Rolling::new(R2::default(), window);
        let mut progressive = Mae::default();
        for (i, &(y, p)) in pairs.iter().enumerate() {
            mae.update(y, p).unwrap();
            rmse.update(y, p).unwrap();
            r2.update(y, p).unwrap();
            progressive.update(y, p).unwrap();
            let last = &pairs[(i + 1).saturating_sub(window)..=i];
            let (m, r, d) = naive(last);
            prop_assert!((mae.get() - m).abs() < 1e-9);
            prop_assert!((rmse.get() - r).abs() < 1e-9);
            if last.len() > 2 && d.is_finite() && d > -1e3 {
                prop_assert!((r2.get() - d).abs() < 1e-6 * (1.0 + d.abs()));
            }
            let (all, _, _) = naive(&pairs[..=i]);
            prop_assert!((progressive.get() - all).abs() < 1e-9);
        }
    }
}

#[test]
fn streaming_metrics_reject_non_finite_pairs_and_keep_their_value() {
    let pairs = [(1.0, 2.0), (3.0, 3.0), (4.0, 6.0)];
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut mae = Rolling::new(Mae::default(), 2);
        let mut r2 = R2::default();
        for &(y, p) in &pairs {
            mae.update(y, p).unwrap();
            r2.update(y, p).unwrap();
        }
        let (mae_before, r2_before) = (mae.clone(), r2);
        for (y, p, at) in [
            (bad, 1.0, Position::Label),
            (1.0, bad, Position::Prediction),
        ] {
            let rejected = |r: Result<(), EvaluationError>| matches!(r, Err(EvaluationError::NonFinite(NonFinite { at: a, .. })) if a == at);
            assert!(rejected(mae.update(y, p)));
            assert!(rejected(mae.revert(y, p)));
            assert!(rejected(r2.update(y, p)));
            assert!(rejected(r2.revert(y, p)));
        }
        assert_eq!(mae, mae_before);
        assert_eq!(r2, r2_before);
        // The last two pairs have errors 0 and 2: MAE 1. All three: SS_res = 1 + 0 + 4,
        // SS_tot about the mean 8/3 = 25/9 + 1/9 + 16/9 = 42/9, R2 = 1 - 5 / (42/9).
        assert_eq!(mae.get(), 1.0);
        assert!((r2.get() - (1.0 - 5.0 * 9.0 / 42.0)).abs() < 1e-12);
    }
}

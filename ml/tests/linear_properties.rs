//! Invariants of the linear learners, checked on random streams, and their rejection of NaN
//! and infinite inputs and of diverged fits.

use proptest::prelude::*;
use quiver_ml::finite::Position;
use quiver_ml::linear::{
    FtrlParams, LinearRegression, LogisticRegression, OnlineLogisticRegression, SgdParams,
    StreamingLinearRegressionParams, StreamingLinearRegressionSgd,
};
use quiver_ml::{
    Column, Estimator, Features, Frame, MlError, NonFinite, OnlineLearner, OnlineModel,
    RefusedUpdates, SparseView, Transformer, Vector, MAX_PARAMETER,
};

/// Zero coefficients after one pass of FTRL with L1 strength `reg` over `stream`.
fn zeros_after(stream: &[(Vec<u32>, f64)], dim: usize, reg: f64) -> usize {
    let params = FtrlParams {
        reg,
        elastic_net: 1.0,
        global_batch_size: 1,
        ..Default::default()
    };
    let mut m = OnlineLogisticRegression::new(params, dim, None).unwrap();
    let ones = [1.0; 8];
    for (idx, y) in stream {
        let x = SparseView {
            dim: dim as u32,
            indices: idx,
            values: &ones[..idx.len()],
        };
        m.learn_one(Features::Sparse(x), *y).unwrap();
    }
    m.coefficients().iter().filter(|&&w| w == 0.0).count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Strong L1 gives at least as many zero weights as none on the same stream, and an
    /// L1 beyond every |z| zeroes them all (FTRL sets w = 0 exactly when |z| ≤ l1).
    #[test]
    fn ftrl_sparsity_grows_with_l1(rows in prop::collection::vec((prop::collection::btree_set(0u32..64, 1..8), any::<bool>()), 20..200)) {
        let stream: Vec<(Vec<u32>, f64)> = rows
            .into_iter()
            .map(|(s, y)| (s.into_iter().collect(), if y { 1.0 } else { 0.0 }))
            .collect();
        let counts: Vec<usize> = [0.0, 0.5, 2.0, 8.0].iter().map(|&r| zeros_after(&stream, 64, r)).collect();
        prop_assert!(counts[3] >= counts[0], "{counts:?}");
        // At an L1 beyond any |z| every weight is zero.
        prop_assert_eq!(zeros_after(&stream, 64, 1e9), 64);
    }
}

/// Flink ML's FTRL update written out naively: every dimension on every batch.
fn naive_ftrl(stream: &[(Vec<u32>, f64)], dim: usize, batch: usize, p: &FtrlParams) -> Vec<f64> {
    let (l1, l2) = (p.elastic_net * p.reg, (1.0 - p.elastic_net) * p.reg);
    let (mut w, mut z, mut n) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
    for chunk in stream.chunks(batch).filter(|c| c.len() == batch) {
        let (mut g, mut ws) = (vec![0.0; dim], vec![0.0; dim]);
        for (idx, y) in chunk {
            let dot: f64 = idx.iter().map(|&i| w[i as usize]).sum();
            let pr = 1.0 / (1.0 + (-dot).exp());
            for &i in idx {
                g[i as usize] += pr - y;
                ws[i as usize] += 1.0;
            }
        }
        for i in 0..dim {
            let gi = if ws[i] != 0.0 { g[i] / ws[i] } else { g[i] };
            let sigma = ((n[i] + gi * gi).sqrt() - f64::sqrt(n[i])) / p.alpha;
            z[i] += gi - sigma * w[i];
            n[i] += gi * gi;
            w[i] = if f64::abs(z[i]) <= l1 {
                0.0
            } else {
                (z[i].signum() * l1 - z[i]) / ((p.beta + n[i].sqrt()) / p.alpha + l2)
            };
        }
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The sparse, per-example implementation equals the naive all-dimension update for
    /// batch sizes 1 (the fast path) and 3.
    #[test]
    fn ftrl_equals_naive_flink_update(rows in prop::collection::vec((prop::collection::btree_set(0u32..32, 1..6), any::<bool>()), 1..120), reg in 0.0f64..0.5) {
        let stream: Vec<(Vec<u32>, f64)> = rows
            .into_iter()
            .map(|(s, y)| (s.into_iter().collect(), if y { 1.0 } else { 0.0 }))
            .collect();
        for batch in [1usize, 3] {
            let params = FtrlParams { reg, elastic_net: 0.5, global_batch_size: batch, ..Default::default() };
            let mut m = OnlineLogisticRegression::new(params.clone(), 32, None).unwrap();
            let ones = [1.0; 8];
            for (idx, y) in &stream {
                let x = SparseView { dim: 32, indices: idx, values: &ones[..idx.len()] };
                m.predict_then_learn(Features::Sparse(x), *y).unwrap();
            }
            let expected = naive_ftrl(&stream, 32, batch, &params);
            for (a, e) in m.coefficients().iter().zip(&expected) {
                prop_assert!((a - e).abs() <= 1e-12, "batch {batch}: {a} vs {e}");
            }
        }
    }
}

/// The three non-finite values every learner must reject.
const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

/// Features `x`, labels and weights 1 as a training frame.
fn training(xs: &[Vec<f64>], ys: &[f64]) -> Frame {
    Frame::new()
        .with(
            "features",
            Column::Vector(xs.iter().map(|x| Vector::Dense(x.clone())).collect()),
        )
        .and_then(|f| f.with("label", Column::F64(ys.to_vec())))
        .and_then(|f| f.with("weight", Column::F64(vec![1.0; ys.len()])))
        .unwrap()
}

fn is_cell(e: &MlError, name: &str, at_row: usize, at_entry: Option<usize>) -> bool {
    matches!(e, MlError::NonFinite(NonFinite { at: Position::Cell { column, row, entry }, .. })
        if column == name && *row == at_row && *entry == at_entry)
}

#[test]
fn batch_linear_fits_reject_non_finite_features_labels_and_weights() {
    let xs = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]];
    let ys = [0.0, 1.0, 1.0];
    let params = SgdParams {
        weight_col: Some("weight".into()),
        ..SgdParams::default()
    };
    let linear = LinearRegression {
        params: params.clone(),
    };
    let logistic = LogisticRegression { params };
    for bad in NON_FINITE {
        let mut bad_x = xs.clone();
        bad_x[1][0] = bad;
        let mut bad_y = ys;
        bad_y[2] = bad;
        let mut bad_w = training(&xs, &ys);
        bad_w
            .set("weight", Column::F64(vec![1.0, bad, 1.0]))
            .unwrap();
        let cases = [
            (training(&bad_x, &ys), "features", 1, Some(0)),
            (training(&xs, &bad_y), "label", 2, None),
            (bad_w, "weight", 1, None),
        ];
        for (frame, column, row, entry) in &cases {
            let err = linear.fit(frame).unwrap_err();
            assert!(
                is_cell(&err, column, *row, *entry),
                "linear, {column}: {err}"
            );
            let err = logistic.fit(frame).unwrap_err();
            assert!(
                is_cell(&err, column, *row, *entry),
                "logistic, {column}: {err}"
            );
        }
        let model = linear.fit(&training(&xs, &ys)).unwrap();
        let err = model.predict_one(Features::Dense(&[bad, 1.0])).unwrap_err();
        assert!(
            matches!(
                err,
                MlError::NonFinite(NonFinite {
                    at: Position::Feature(0),
                    ..
                })
            ),
            "{err}"
        );
        let err = model.transform(&training(&bad_x, &ys)).unwrap_err();
        assert!(is_cell(&err, "features", 1, Some(0)), "{err}");
        let model = logistic.fit(&training(&xs, &ys)).unwrap();
        assert!(model.predict_one(Features::Dense(&[1.0, bad])).is_err());
    }
}

#[test]
fn a_diverged_batch_fit_is_an_error_not_a_model() {
    // y = 2x, no intercept. Each full-batch step multiplies w - 2 by 1 - lr * mean(x²) =
    // 1 - lr * 38.5.
    let xs: Vec<Vec<f64>> = (1..=10).map(|x| vec![f64::from(x)]).collect();
    let ys: Vec<f64> = xs.iter().map(|x| 2.0 * x[0]).collect();
    let fit = |learning_rate, max_iter| {
        LinearRegression {
            params: SgdParams {
                learning_rate,
                max_iter,
                tol: 0.0,
                fit_intercept: false,
                ..SgdParams::default()
            },
        }
        .fit(&training(&xs, &ys))
    };
    // lr = 0.01: factor 0.615, after 40 steps |w - 2| <= 2 * 0.615^40 < 1e-7.
    let model = fit(0.01, 40).unwrap();
    assert!(
        (model.coefficients[0] - 2.0).abs() < 1e-7,
        "{:?}",
        model.coefficients
    );
    // lr = 1: factor -37.5, |w - 2| = 2 * 37.5^t passes 1e12 at the 8th step (finite: 1e63
    // after 40); lr = 1e3: factor -38499, 2 * 38499^100 overflows to inf, then NaN.
    for (lr, max_iter) in [(1.0, 40), (1e3, 100)] {
        let err = fit(lr, max_iter).unwrap_err();
        assert!(
            matches!(
                err,
                MlError::Diverged {
                    stage: "LinearRegression",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("lower the learning rate"), "{err}");
    }
    // Logistic steps are bounded by lr |x|, so only a huge rate leaves the bound:
    // the first step from w = 0 moves w by lr * 0.5 * mean(x) = 2.75e12.
    let labels: Vec<f64> = (0..10).map(|i| f64::from(u8::from(i >= 5))).collect();
    let logistic = |learning_rate| {
        LogisticRegression {
            params: SgdParams {
                learning_rate,
                fit_intercept: false,
                ..SgdParams::default()
            },
        }
        .fit(&training(&xs, &labels))
    };
    assert!(logistic(0.1).is_ok());
    let err = logistic(1e12).unwrap_err();
    assert!(
        matches!(
            err,
            MlError::Diverged {
                stage: "LogisticRegression",
                ..
            }
        ),
        "{err}"
    );
}

fn is_at(e: &MlError, position: Position) -> bool {
    matches!(e, MlError::NonFinite(NonFinite { at, .. }) if *at == position)
}

#[test]
fn online_linear_learners_reject_non_finite_samples_and_keep_their_state() {
    let mut sgd =
        StreamingLinearRegressionSgd::new(StreamingLinearRegressionParams::default(), 3).unwrap();
    let params = FtrlParams {
        global_batch_size: 2,
        ..FtrlParams::default()
    };
    let mut ftrl = OnlineLogisticRegression::new(params.clone(), 3, None).unwrap();
    // One example learnt: FTRL has half a batch pending.
    sgd.learn_one(Features::Dense(&[1.0, 2.0, 3.0]), 1.0)
        .unwrap();
    ftrl.learn_one(Features::Dense(&[1.0, 2.0, 3.0]), 1.0)
        .unwrap();
    for bad in NON_FINITE {
        let (sgd_before, ftrl_before) = (sgd.clone(), ftrl.clone());
        let dense = [1.0, bad, 3.0];
        let sparse = SparseView {
            dim: 3,
            indices: &[0, 2],
            values: &[1.0, bad],
        };
        let samples = [
            (Features::Dense(&dense), 1.0, Position::Feature(1)),
            (Features::Sparse(sparse), 1.0, Position::Feature(2)),
            (Features::Dense(&[1.0, 2.0, 3.0]), bad, Position::Label),
        ];
        for (x, y, at) in samples {
            let err = sgd.learn_one(x, y).unwrap_err();
            assert!(is_at(&err, at.clone()), "sgd: {err}");
            let err = ftrl.learn_one(x, y).unwrap_err();
            assert!(is_at(&err, at.clone()), "ftrl: {err}");
            let err = ftrl.predict_then_learn(x, y).unwrap_err();
            assert!(is_at(&err, at), "ftrl: {err}");
        }
        let x = Features::Dense(&[1.0, 2.0, 3.0]);
        let err = ftrl.learn_weighted(x, 1.0, bad).unwrap_err();
        assert!(is_at(&err, Position::Weight), "{err}");
        assert_eq!(sgd, sgd_before, "a rejected sample changed the SGD state");
        assert_eq!(
            ftrl, ftrl_before,
            "a rejected sample changed the FTRL state"
        );
        let x = Features::Dense(&dense);
        assert!(is_at(
            &sgd.predict_one(x).unwrap_err(),
            Position::Feature(1)
        ));
        assert!(is_at(
            &ftrl.predict_one(x).unwrap_err(),
            Position::Feature(1)
        ));
        let initial = Some(vec![0.0, bad, 0.0]);
        let err = OnlineLogisticRegression::new(params.clone(), 3, initial).unwrap_err();
        let at_initial = Position::Argument {
            name: "initial",
            index: 1,
            entry: None,
        };
        assert!(is_at(&err, at_initial), "{err}");
    }
}

#[test]
fn streaming_sgd_refuses_a_diverging_step_and_keeps_its_state() {
    let learner = |learning_rate| {
        let params = StreamingLinearRegressionParams {
            learning_rate,
            ..Default::default()
        };
        StreamingLinearRegressionSgd::new(params, 1).unwrap()
    };
    // x = 10, y = 1: each step multiplies the error w·x + b − y by 1 − lr (x² + 1) = 1 − 101 lr.
    let x = Features::Dense(&[10.0]);
    // lr = 0.001: factor 0.899, the prediction converges to the label.
    let mut stable = learner(0.001);
    for _ in 0..1000 {
        stable.learn_one(x, 1.0).unwrap();
    }
    assert!((stable.predict_one(x).unwrap().value - 1.0).abs() < 1e-9);
    // lr = 1: factor −100, the weight passes 1e12 within 10 steps (inf within 200).
    let mut diverging = learner(1.0);
    let mut refused = None;
    for step in 0..200 {
        let before = diverging.snapshot().unwrap();
        if let Err(e) = diverging.learn_one(x, 1.0) {
            assert_eq!(
                diverging.snapshot().unwrap(),
                before,
                "a refused step changed the state"
            );
            refused = Some((step, e));
            break;
        }
    }
    let (step, err) = refused.expect("the diverging learner refused a step");
    // Divergence is never silent: the refusal is counted, and so is every later one.
    assert_eq!(diverging.refused_updates(), RefusedUpdates(1));
    assert!(diverging.learn_one(x, 1.0).is_err());
    assert_eq!(diverging.refused_updates(), RefusedUpdates(2));
    assert_eq!(stable.refused_updates(), RefusedUpdates(0));
    assert!(step <= 10, "refused at step {step}");
    let stage = "StreamingLinearRegressionSgd";
    assert!(
        matches!(&err, MlError::Diverged { stage: s, .. } if *s == stage),
        "{err}"
    );
    assert!(diverging.weights()[0].abs() <= MAX_PARAMETER);
    assert!(diverging.intercept().abs() <= MAX_PARAMETER);
}

/// FTRL's intercept is the step of a dimension whose value is always 1 (without
/// regularisation): with `fit_intercept` the learner predicts exactly as one without it
/// given that extra dimension, mini-batched or not.
#[test]
fn ftrl_intercept_is_an_unregularised_constant_dimension() {
    for global_batch_size in [1, 4] {
        let base = FtrlParams {
            global_batch_size,
            ..FtrlParams::default()
        };
        let with = FtrlParams {
            fit_intercept: true,
            ..base.clone()
        };
        let mut fitted = OnlineLogisticRegression::new(with, 2, None).unwrap();
        let mut widened = OnlineLogisticRegression::new(base, 3, None).unwrap();
        for i in 0..200_u32 {
            let x = [f64::from(i % 7) - 3.0, f64::from(i % 5) * 0.5];
            // Mostly class 1: the intercept has something to learn.
            let y = if i % 4 == 0 { 0.0 } else { 1.0 };
            let a = fitted.predict_then_learn(Features::Dense(&x), y).unwrap();
            let b = widened
                .predict_then_learn(Features::Dense(&[x[0], x[1], 1.0]), y)
                .unwrap();
            assert_eq!(a, b, "example {i}, batch {global_batch_size}");
        }
        assert_eq!(fitted.intercept(), widened.coefficients()[2]);
        assert!(fitted.intercept() > 0.0);
    }
}

/// Without features to tell the classes apart, only an intercept learns the base rate.
#[test]
fn ftrl_with_an_intercept_learns_the_base_rate_and_without_it_cannot() {
    let learn = |fit_intercept| {
        let params = FtrlParams {
            global_batch_size: 1,
            fit_intercept,
            ..FtrlParams::default()
        };
        let mut m = OnlineLogisticRegression::new(params, 1, None).unwrap();
        for _ in 0..100 {
            m.learn_one(Features::Dense(&[0.0]), 1.0).unwrap();
        }
        m.predict_one(Features::Dense(&[0.0]))
            .unwrap()
            .probability
            .unwrap()
    };
    assert!(learn(true) > 0.75, "{}", learn(true));
    assert_eq!(learn(false), 0.5);
}

/// With `center_label` the regression predicts the mean of the labels learnt before plus its
/// linear part, and steps on the error of that prediction (figures worked by hand).
#[test]
fn sgd_with_a_centred_label_predicts_the_labels_mean_and_learns_the_rest() {
    let params = StreamingLinearRegressionParams {
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    let mut m = StreamingLinearRegressionSgd::new(params, 2).unwrap();
    let first = m
        .predict_then_learn(Features::Dense(&[1.0, -2.0]), 250.0)
        .unwrap();
    assert_eq!(first.value, 0.0);
    // One step from zero on error −250 with η 0.01: w = 2.5 x, b = 2.5.
    assert_eq!(m.weights(), [2.5, -5.0]);
    assert_eq!(m.intercept(), 2.5);
    assert_eq!(m.label_offset(), 250.0);
    let second = m
        .predict_then_learn(Features::Dense(&[0.0, 0.0]), 100.0)
        .unwrap();
    assert_eq!(second.value, 250.0 + 2.5);
    // Labels 250 and 100: mean 175.
    assert_eq!(m.label_offset(), 175.0);
    let plain =
        StreamingLinearRegressionSgd::new(StreamingLinearRegressionParams::default(), 2).unwrap();
    assert_eq!(plain.label_offset(), 0.0);
}

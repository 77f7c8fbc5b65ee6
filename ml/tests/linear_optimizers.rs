//! The online gradient learners' optimisers (SGD, AdaGrad, Adam) and gradient clipping: the
//! first steps of each against numbers worked out by hand from the update rules (River's
//! `optim.SGD`, `optim.AdaGrad`, `optim.Adam`: ε 1e-8, β₁ 0.9, β₂ 0.999), the cost
//! properties of sparse inputs, and a stream against River itself
//! (`reference/gen_river_optim.py` → `reference/river_optim.json`).

use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, Optimizer, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd, StreamingLogisticRegression, StreamingLogisticRegressionParams,
};
use quiver_ml::{Features, OnlineLearner, OnlineModel, SparseView};

/// A regression of two features from zero, without label centring.
fn regression(optimizer: Optimizer, learning_rate: f64) -> StreamingLinearRegressionSgd {
    let params = StreamingLinearRegressionParams {
        learning_rate,
        optimizer,
        ..StreamingLinearRegressionParams::default()
    };
    StreamingLinearRegressionSgd::new(params, 2).unwrap()
}

fn classifier(optimizer: Optimizer, learning_rate: f64) -> StreamingLogisticRegression {
    let params = StreamingLogisticRegressionParams {
        optimizer,
        learning_rate,
        ..StreamingLogisticRegressionParams::default()
    };
    StreamingLogisticRegression::new(params, 2).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

#[track_caller]
fn assert_close(found: &[f64], expected: &[f64]) {
    assert_eq!(found.len(), expected.len());
    for (f, e) in found.iter().zip(expected) {
        assert!(close(*f, *e), "found {found:?}, expected {expected:?}");
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn adagrad_first_steps_are_eta_over_the_root_of_the_summed_squares() {
    let mut m = regression(Optimizer::AdaGrad, 0.1);
    // x = (1, 2), y = 3 from zero: e = −3, gradients (−3, −6) and −3 for the intercept.
    // G = (9, 36), 9; each step is 0.1 · 3 / √(9 + ε) ≈ 0.1 (AdaGrad's first step is η
    // times the gradient's sign).
    m.learn_one(Features::Dense(&[1.0, 2.0]), 3.0).unwrap();
    let first = 0.1 * 3.0 / (9.0f64 + 1e-8).sqrt();
    assert_close(m.weights(), &[first, 0.1 * 6.0 / (36.0f64 + 1e-8).sqrt()]);
    assert_close(&[m.intercept()], &[first]);
    assert!((first - 0.1).abs() < 1e-9);
    // x = (0, 1), y = 1: ŷ ≈ 0.1 + 0.1 = 0.2, e ≈ −0.8. Weight 0 has gradient 0: G and the
    // weight stay. Weight 1: G = 36 + e², w += 0.1 · 0.8 / √(G + ε); the intercept likewise
    // from G = 9 + e².
    let (w1, b) = (m.weights()[1], m.intercept());
    let e = w1 + b - 1.0;
    m.learn_one(Features::Dense(&[0.0, 1.0]), 1.0).unwrap();
    let step = |w: f64, g2: f64| w - 0.1 / (g2 + e * e + 1e-8).sqrt() * e;
    assert_close(m.weights(), &[first, step(w1, 36.0)]);
    assert_close(&[m.intercept()], &[step(b, 9.0)]);
    assert!((m.weights()[1] - (0.1 + 0.1 * 0.8 / 36.64f64.sqrt())).abs() < 1e-8);
}

#[test]
fn adam_first_steps_follow_the_bias_corrected_moments() {
    let mut m = regression(Optimizer::Adam, 0.1);
    // x = (1, 2), y = 3 from zero: g = (−3, −6), −3. At t = 1, m = 0.1 g, v = 0.001 g², and
    // the rate 0.1 √(1 − 0.999) / (1 − 0.9): each step is ≈ 0.1 times the gradient's sign.
    m.learn_one(Features::Dense(&[1.0, 2.0]), 3.0).unwrap();
    let rate1 = 0.1 * 0.001f64.sqrt() / 0.1;
    let first = |g: f64| -rate1 * (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-8);
    assert_close(m.weights(), &[first(-3.0), first(-6.0)]);
    assert_close(&[m.intercept()], &[first(-3.0)]);
    assert!((first(-6.0) - 0.1).abs() < 1e-8);
    // x = (0, 1), y = 1 (dense: weight 0 steps on its momentum with gradient 0).
    let (w0, w1, b) = (m.weights()[0], m.weights()[1], m.intercept());
    let e = w1 + b - 1.0;
    m.learn_one(Features::Dense(&[0.0, 1.0]), 1.0).unwrap();
    let rate2 = 0.1 * (1.0 - 0.999f64 * 0.999).sqrt() / (1.0 - 0.9 * 0.9);
    let second = |w: f64, g1: f64, g2: f64| {
        let m = 0.9 * (0.1 * g1) + 0.1 * g2;
        let v = 0.999 * (0.001 * g1 * g1) + 0.001 * g2 * g2;
        w - rate2 * m / (v.sqrt() + 1e-8)
    };
    assert_close(m.weights(), &[second(w0, -3.0, 0.0), second(w1, -6.0, e)]);
    assert_close(&[m.intercept()], &[second(b, -3.0, e)]);
    // By hand: m₀ = −0.27, v₀ = 0.008991, rate ≈ 0.0235317: weight 0 ≈ 0.1 + 0.0670063.
    assert!(
        (m.weights()[0] - 0.167_006_3).abs() < 1e-6,
        "{:?}",
        m.weights()
    );
}

#[test]
fn adam_on_sparse_inputs_is_lazy_and_counts_every_step() {
    // As above, but the second example is sparse with only coordinate 1 stored: weight 0
    // keeps its value (and moments), while t is 2 for the coordinates that step.
    let mut dense = regression(Optimizer::Adam, 0.1);
    let mut sparse = regression(Optimizer::Adam, 0.1);
    for m in [&mut dense, &mut sparse] {
        m.learn_one(Features::Dense(&[1.0, 2.0]), 3.0).unwrap();
    }
    dense.learn_one(Features::Dense(&[0.0, 1.0]), 1.0).unwrap();
    let x = Features::Sparse(SparseView {
        dim: 2,
        indices: &[1],
        values: &[1.0],
    });
    let w0 = sparse.weights()[0];
    sparse.learn_one(x, 1.0).unwrap();
    assert_eq!(
        sparse.weights()[0],
        w0,
        "an absent coordinate does not move"
    );
    assert_eq!(sparse.weights()[1], dense.weights()[1]);
    assert_eq!(sparse.intercept(), dense.intercept());
    assert_ne!(dense.weights()[0], w0, "a dense zero steps on its momentum");
}

#[test]
fn sgd_and_adagrad_give_the_same_numbers_on_sparse_and_dense_inputs() {
    for optimizer in [Optimizer::Sgd, Optimizer::AdaGrad] {
        for l2 in [0.0, 0.3] {
            let params = StreamingLinearRegressionParams {
                learning_rate: 0.05,
                optimizer,
                l2,
                ..StreamingLinearRegressionParams::default()
            };
            let mut dense = StreamingLinearRegressionSgd::new(params.clone(), 3).unwrap();
            let mut sparse = StreamingLinearRegressionSgd::new(params, 3).unwrap();
            for i in 0..30u32 {
                let (k, v) = (i % 3, 1.0 + f64::from(i) / 7.0);
                let mut xs = [0.0; 3];
                xs[k as usize] = v;
                let y = f64::from(i % 5);
                dense.learn_one(Features::Dense(&xs), y).unwrap();
                let x = Features::Sparse(SparseView {
                    dim: 3,
                    indices: &[k],
                    values: &[v],
                });
                sparse.learn_one(x, y).unwrap();
            }
            assert_eq!(dense.weights(), sparse.weights(), "{optimizer:?} l2 {l2}");
            assert_eq!(
                dense.intercept(),
                sparse.intercept(),
                "{optimizer:?} l2 {l2}"
            );
        }
    }
}

#[test]
fn logistic_sgd_first_steps_are_rivers() {
    let mut m = classifier(Optimizer::Sgd, 0.01);
    // x = (1, −1), y = 1 from zero: p = ½, e = −½: w = 0.01 · ½ · x, b = 0.005.
    let x = Features::Dense(&[1.0, -1.0]);
    let first = m.predict_then_learn(x, 1.0).unwrap();
    assert_eq!(first.probability, Some(0.5));
    assert_eq!(first.value, 0.0, "p = ½ predicts class 0");
    assert_eq!(m.weights(), &[0.005, -0.005]);
    assert_eq!(m.intercept(), 0.005);
    // Margin 0.005 + 0.005 + 0.005 = 0.015.
    let e = sigmoid(0.015) - 1.0;
    m.learn_one(x, 1.0).unwrap();
    assert_close(m.weights(), &[0.005 - 0.01 * e, -0.005 + 0.01 * e]);
    assert_close(&[m.intercept()], &[0.005 - 0.01 * e]);
    assert_eq!(m.version().0, 2);
}

#[test]
fn logistic_adagrad_and_adam_first_steps_are_eta_times_the_gradients_sign() {
    // x = (2, −1), y = 0 from zero: p = ½, gradients (1, −½) and ½ for the intercept.
    let x = Features::Dense(&[2.0, -1.0]);
    let mut a = classifier(Optimizer::AdaGrad, 0.1);
    a.learn_one(x, 0.0).unwrap();
    let ada = |g: f64| -0.1 / (g * g + 1e-8).sqrt() * g;
    assert_close(a.weights(), &[ada(1.0), ada(-0.5)]);
    assert_close(&[a.intercept()], &[ada(0.5)]);
    let mut m = classifier(Optimizer::Adam, 0.1);
    m.learn_one(x, 0.0).unwrap();
    let adam =
        |g: f64| -(0.1 * 0.001f64.sqrt() / 0.1) * (0.1 * g) / ((0.001 * g * g).sqrt() + 1e-8);
    assert_close(m.weights(), &[adam(1.0), adam(-0.5)]);
    assert_close(&[m.intercept()], &[adam(0.5)]);
    for w in a.weights().iter().chain(m.weights()) {
        assert!((w.abs() - 0.1).abs() < 1e-6, "≈ η: {w}");
    }
}

#[test]
fn clip_gradient_bounds_the_loss_gradient_of_every_optimizer() {
    // x = 2, y = 10 from zero: e = −10, clipped to −1 with C = 1.
    let params = StreamingLinearRegressionParams {
        learning_rate: 0.1,
        clip_gradient: 1.0,
        ..StreamingLinearRegressionParams::default()
    };
    let mut m = StreamingLinearRegressionSgd::new(params, 1).unwrap();
    m.learn_one(Features::Dense(&[2.0]), 10.0).unwrap();
    assert_eq!(m.weights(), &[0.1 * 1.0 * 2.0], "unclipped it would be 2.0");
    assert_eq!(m.intercept(), 0.1);
    // AdaGrad: G = (−1·2)² = 4, w = 0.1 · 2 / √(4 + ε).
    let params = StreamingLinearRegressionParams {
        learning_rate: 0.1,
        clip_gradient: 1.0,
        optimizer: Optimizer::AdaGrad,
        ..StreamingLinearRegressionParams::default()
    };
    let mut m = StreamingLinearRegressionSgd::new(params, 1).unwrap();
    m.learn_one(Features::Dense(&[2.0]), 10.0).unwrap();
    m.learn_one(Features::Dense(&[2.0]), 10.0).unwrap();
    // Second step: ŷ ≈ 0.2 + 0.1, still clipped: G = 8, w += 0.2 / √8.
    let w1 = 0.1 * 2.0 / (4.0f64 + 1e-8).sqrt();
    assert_close(m.weights(), &[w1 + 0.1 * 2.0 / (8.0f64 + 1e-8).sqrt()]);
    // The logistic loss gradient is in [−1, 1]: C = 0.25 halves the first SGD step.
    let params = StreamingLogisticRegressionParams {
        clip_gradient: 0.25,
        ..StreamingLogisticRegressionParams::default()
    };
    let mut c = StreamingLogisticRegression::new(params, 1).unwrap();
    c.learn_one(Features::Dense(&[1.0]), 1.0).unwrap();
    assert_eq!(c.weights(), &[0.01 * 0.25]);
    // FTRL from zero (α = β = 0.1): z = g = −0.25, n = g², w = −z / ((β + √n) / α) = 1/14.
    let params = FtrlParams {
        clip_gradient: 0.25,
        global_batch_size: 1,
        ..FtrlParams::default()
    };
    let mut f = OnlineLogisticRegression::new(params, 1, None).unwrap();
    f.learn_one(Features::Dense(&[1.0]), 1.0).unwrap();
    assert_close(f.coefficients(), &[1.0 / 14.0]);
}

#[test]
fn the_default_linear_regression_is_sgd_with_rivers_clip() {
    let params = StreamingLinearRegressionParams::default();
    assert_eq!(params.optimizer, Optimizer::Sgd);
    assert_eq!(params.clip_gradient, 1e12);
    assert_eq!(params.learning_rate, 0.01);
    let params = StreamingLogisticRegressionParams::default();
    assert_eq!(
        (params.optimizer, params.learning_rate, params.clip_gradient),
        (Optimizer::Sgd, 0.01, 1e12)
    );
    assert_eq!(Optimizer::AdaGrad.river_learning_rate(), 0.1);
    assert_eq!(Optimizer::Adam.river_learning_rate(), 0.1);
}

#[test]
fn bad_settings_are_refused_naming_the_parameter() {
    for (rate, clip, name) in [(0.0, 1.0, "learning_rate"), (0.1, 0.0, "clip_gradient")] {
        let params = StreamingLogisticRegressionParams {
            learning_rate: rate,
            clip_gradient: clip,
            optimizer: Optimizer::Adam,
            ..StreamingLogisticRegressionParams::default()
        };
        let e = StreamingLogisticRegression::new(params, 1).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
        let params = StreamingLinearRegressionParams {
            learning_rate: rate,
            clip_gradient: clip,
            optimizer: Optimizer::AdaGrad,
            ..StreamingLinearRegressionParams::default()
        };
        let e = StreamingLinearRegressionSgd::new(params, 1).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
}

#[test]
fn snapshots_restore_the_optimizer_state() {
    for optimizer in [Optimizer::Sgd, Optimizer::AdaGrad, Optimizer::Adam] {
        let mut m = classifier(optimizer, 0.1);
        let mut r = regression(optimizer, 0.05);
        for i in 0..20 {
            let x = [(i % 5) as f64 / 5.0, (i % 3) as f64 - 1.0];
            m.learn_one(Features::Dense(&x), f64::from(i % 2 == 0))
                .unwrap();
            r.learn_one(Features::Dense(&x), x[0] * 2.0 - x[1]).unwrap();
        }
        let (mut m2, mut r2) = (classifier(optimizer, 0.1), regression(optimizer, 0.05));
        m2.restore(&m.snapshot().unwrap()).unwrap();
        r2.restore(&r.snapshot().unwrap()).unwrap();
        let x = Features::Dense(&[0.3, 1.0]);
        m.learn_one(x, 1.0).unwrap();
        m2.learn_one(x, 1.0).unwrap();
        assert_eq!(m, m2, "{optimizer:?}");
        r.learn_one(x, 2.0).unwrap();
        r2.learn_one(x, 2.0).unwrap();
        assert_eq!(r, r2, "{optimizer:?}");
    }
}

/// River 0.26.1's `LinearRegression` / `LogisticRegression` with `optim.AdaGrad(0.1)` and
/// `optim.Adam(0.1)` (no intercept; the regression with ε scaled as the script says) on 40
/// samples whose features are each absent with
/// probability 0.3: an absent feature is left out of River's dict and not stored in the
/// sparse vector here, so this checks the lazy sparse steps too.
#[test]
fn adagrad_and_adam_take_rivers_steps_on_a_sparse_stream() {
    let r: serde_json::Value =
        serde_json::from_str(include_str!("reference/river_optim.json")).unwrap();
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let xs: Vec<Vec<f64>> = r["X"].as_array().unwrap().iter().map(numbers).collect();
    let present: Vec<Vec<bool>> = r["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_bool().unwrap())
                .collect()
        })
        .collect();
    let (y_reg, y_clf) = (numbers(&r["y_regression"]), numbers(&r["y_classification"]));
    for (name, optimizer) in [("adagrad", Optimizer::AdaGrad), ("adam", Optimizer::Adam)] {
        let mut reg = StreamingLinearRegressionSgd::new(
            StreamingLinearRegressionParams {
                learning_rate: 0.1,
                optimizer,
                fit_intercept: false,
                ..StreamingLinearRegressionParams::default()
            },
            3,
        )
        .unwrap();
        let mut clf = StreamingLogisticRegression::new(
            StreamingLogisticRegressionParams {
                learning_rate: 0.1,
                optimizer,
                fit_intercept: false,
                ..StreamingLogisticRegressionParams::default()
            },
            3,
        )
        .unwrap();
        let expected = &r[name];
        let preds = numbers(&expected["regression"]["predictions"]);
        let probs = numbers(&expected["classification"]["probabilities"]);
        for (i, (x, mask)) in xs.iter().zip(&present).enumerate() {
            let indices: Vec<u32> = (0..3u32).filter(|&k| mask[k as usize]).collect();
            let values: Vec<f64> = indices.iter().map(|&k| x[k as usize]).collect();
            let x = Features::Sparse(SparseView {
                dim: 3,
                indices: &indices,
                values: &values,
            });
            let p = reg.predict_then_learn(x, y_reg[i]).unwrap();
            // The regression's gradient is half River's, so River ran with ε scaled to match
            // (4e-8 for AdaGrad, 2e-8 for Adam; see the script).
            assert!(
                (p.value - preds[i]).abs() <= 1e-12 * preds[i].abs().max(1.0),
                "{name} {i}: {} vs River {}",
                p.value,
                preds[i]
            );
            let p = clf.predict_then_learn(x, y_clf[i]).unwrap();
            assert!(
                (p.probability.unwrap() - probs[i]).abs() <= 1e-12,
                "{name} {i}"
            );
        }
        let close = |found: &[f64], expected: &[f64], tolerance: f64| {
            found
                .iter()
                .zip(expected)
                .all(|(f, e)| (f - e).abs() <= tolerance * e.abs().max(1.0))
        };
        let w = numbers(&expected["regression"]["weights"]);
        assert!(
            close(reg.weights(), &w, 1e-12),
            "{name}: {:?} vs River {w:?}",
            reg.weights()
        );
        let w = numbers(&expected["classification"]["weights"]);
        assert!(
            close(clf.weights(), &w, 1e-12),
            "{name}: {:?} vs River {w:?}",
            clf.weights()
        );
    }
}

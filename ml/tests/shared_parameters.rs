//! `SharedParameters`: the additive vector parameter servers merge, for FTRL logistic
//! regression and the streaming gradient learners with each optimiser (SGD, AdaGrad, Adam).
//! Expectations are computed by hand from the algorithms' update rules, not read back from
//! the code.

use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, Optimizer, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd, StreamingLogisticRegression, StreamingLogisticRegressionParams,
};
use quiver_ml::{Features, OnlineLearner, SharedParameters};

fn ftrl() -> OnlineLogisticRegression {
    let params = FtrlParams {
        global_batch_size: 1,
        fit_intercept: true,
        ..FtrlParams::default()
    };
    OnlineLogisticRegression::new(params, 2, None).unwrap()
}

fn sgd() -> StreamingLinearRegressionSgd {
    let params = StreamingLinearRegressionParams {
        learning_rate: 0.1,
        l2: 0.0,
        fit_intercept: true,
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    StreamingLinearRegressionSgd::new(params, 2).unwrap()
}

/// The sum of two workers' changes against a common start, added to it.
fn merged(start: &[f64], a: &[f64], b: &[f64]) -> Vec<f64> {
    (0..start.len())
        .map(|i| start[i] + (a[i] - start[i]) + (b[i] - start[i]))
        .collect()
}

#[test]
fn ftrl_vectors_are_z_and_n_per_dimension_and_the_merge_sums_squared_gradients() {
    let (mut a, mut b) = (ftrl(), ftrl());
    let mut start = Vec::new();
    a.write_parameters(&mut start);
    assert_eq!(
        start,
        vec![0.0; 6],
        "z, n of two dimensions and of the intercept"
    );
    // From zero coefficients the margin is 0, p = ½: the gradient of x for label y is
    // (½ − y)·x, and n is its square.
    a.learn_one(Features::from(&[2.0, 0.0][..]), 1.0).unwrap();
    b.learn_one(Features::from(&[0.0, 4.0][..]), 0.0).unwrap();
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    b.write_parameters(&mut vb);
    let m = merged(&start, &va, &vb);
    assert_eq!(m[1], 1.0, "n of dimension 0: (−½·2)²");
    assert_eq!(m[3], 4.0, "n of dimension 1: (½·4)²");
    assert_eq!(m[5], 0.5, "n of the intercept: (−½)² + (½)²");
    // The first FTRL step from w = 0 leaves z = g: z adds up as the gradients do.
    assert_eq!([m[0], m[2], m[4]], [-1.0, 2.0, 0.0]);

    let mut c = ftrl();
    c.read_parameters(&m).unwrap();
    let mut back = Vec::new();
    c.write_parameters(&mut back);
    assert_eq!(back, m);
    // w = −z / ((β + √n) / α) with the defaults α = β = 0.1, no regularisation.
    let expected = |z: f64, n: f64| -z / ((0.1 + n.sqrt()) / 0.1);
    assert_eq!(c.coefficients(), &[expected(-1.0, 1.0), expected(2.0, 4.0)]);
    assert_eq!(c.intercept(), 0.0);
}

#[test]
fn a_model_read_from_its_own_vector_predicts_bit_for_bit_as_it_did() {
    let mut a = ftrl();
    let mut r = sgd();
    for i in 0..50 {
        let x = [(i % 7) as f64 / 7.0, (i % 3) as f64];
        a.learn_one(Features::from(&x[..]), (i % 2) as f64).unwrap();
        r.learn_one(Features::from(&x[..]), 3.0 * x[0] - x[1] + 1.0)
            .unwrap();
    }
    let (mut va, mut vr) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    r.write_parameters(&mut vr);
    let (mut a2, mut r2) = (ftrl(), sgd());
    a2.read_parameters(&va).unwrap();
    r2.read_parameters(&vr).unwrap();
    for x in [[0.5, 1.0], [1.0, 2.0], [0.0, 0.0]] {
        let x = Features::from(&x[..]);
        assert_eq!(a.predict_one(x).unwrap(), a2.predict_one(x).unwrap());
        assert_eq!(r.predict_one(x).unwrap(), r2.predict_one(x).unwrap());
    }
}

#[test]
fn sgd_vectors_are_weights_intercept_and_label_count_and_sum() {
    let (mut a, mut b) = (sgd(), sgd());
    let mut start = Vec::new();
    a.write_parameters(&mut start);
    a.learn_one(Features::from(&[1.0, 0.0][..]), 4.0).unwrap();
    b.learn_one(Features::from(&[0.0, 1.0][..]), 2.0).unwrap();
    b.learn_one(Features::from(&[0.0, 1.0][..]), 6.0).unwrap();
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    b.write_parameters(&mut vb);
    let m = merged(&start, &va, &vb);
    assert_eq!(&m[3..], &[3.0, 12.0], "three labels summing to 12");
    let mut c = sgd();
    c.read_parameters(&m).unwrap();
    assert_eq!(c.label_offset(), 4.0, "the mean of 4, 2 and 6");
    // a's only step: err = 0 − 4 from a zero model centred on 0, so w0 = 0.1·4.
    assert_eq!(c.weights()[0], 0.4);
}

#[test]
fn bad_vectors_are_refused_and_change_nothing() {
    let mut a = ftrl();
    a.learn_one(Features::from(&[1.0, 1.0][..]), 1.0).unwrap();
    let mut before = Vec::new();
    a.write_parameters(&mut before);
    assert!(a.read_parameters(&[0.0; 5]).is_err(), "wrong length");
    let mut nan = before.clone();
    nan[2] = f64::NAN;
    assert!(a.read_parameters(&nan).is_err(), "NaN");
    let mut negative = before.clone();
    negative[3] = -1.0;
    let e = a.read_parameters(&negative).unwrap_err();
    assert!(e.to_string().contains("dimension 1"), "{e}");
    let mut after = Vec::new();
    a.write_parameters(&mut after);
    assert_eq!(after, before);

    let mut r = sgd();
    let mut huge = vec![0.0; 5];
    huge[0] = 1e300;
    assert!(r.read_parameters(&huge).is_err());
    assert_eq!(r.weights(), &[0.0, 0.0]);
}

fn classifier(optimizer: Optimizer) -> StreamingLogisticRegression {
    let params = StreamingLogisticRegressionParams {
        optimizer,
        learning_rate: 0.1,
        ..StreamingLogisticRegressionParams::default()
    };
    StreamingLogisticRegression::new(params, 2).unwrap()
}

fn regression(optimizer: Optimizer) -> StreamingLinearRegressionSgd {
    let params = StreamingLinearRegressionParams {
        optimizer,
        learning_rate: 0.1,
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    StreamingLinearRegressionSgd::new(params, 2).unwrap()
}

/// Two workers from zero: a learns x = (2, 0), y = 1, b learns x = (0, 4), y = 0. At p = ½
/// the gradients are a: (−1, 0), intercept −½; b: (0, 2), intercept ½.
fn two_workers<L: OnlineLearner + SharedParameters>(a: &mut L, b: &mut L) -> Vec<f64> {
    let mut start = Vec::new();
    a.write_parameters(&mut start);
    a.learn_one(Features::from(&[2.0, 0.0][..]), 1.0).unwrap();
    b.learn_one(Features::from(&[0.0, 4.0][..]), 0.0).unwrap();
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    b.write_parameters(&mut vb);
    merged(&start, &va, &vb)
}

#[test]
fn logistic_sgd_vectors_are_the_weights_and_intercept() {
    let (mut a, mut b) = (classifier(Optimizer::Sgd), classifier(Optimizer::Sgd));
    let m = two_workers(&mut a, &mut b);
    // w −= 0.1 g: a moves w0 by 0.1 and the intercept by 0.05, b w1 by −0.2 and it by −0.05.
    assert_eq!(m, vec![0.1, -0.2, 0.0]);
}

#[test]
fn logistic_adagrad_vectors_add_the_summed_squared_gradients() {
    let (mut a, mut b) = (
        classifier(Optimizer::AdaGrad),
        classifier(Optimizer::AdaGrad),
    );
    let m = two_workers(&mut a, &mut b);
    assert_eq!(m.len(), 6, "w0, w1, b, then G of w0, w1 and b");
    // G: (−1)² = 1, 2² = 4, (−½)² + (½)² = ½.
    assert_eq!(&m[3..], &[1.0, 4.0, 0.5]);
    // Each first step is 0.1 · g / √(g² + ε): ≈ 0.1, −0.1, and the intercept's cancel.
    let step = |g: f64| -0.1 / (g * g + 1e-8).sqrt() * g;
    assert_eq!(&m[..3], &[step(-1.0), step(2.0), step(-0.5) + step(0.5)]);
    // A model that adopts the merged vector steps from the summed G: x = (1, 0), y = 1.
    let mut c = classifier(Optimizer::AdaGrad);
    c.read_parameters(&m).unwrap();
    let p = 1.0 / (1.0 + (-(m[0] + m[2])).exp());
    let g = p - 1.0;
    c.learn_one(Features::from(&[1.0, 0.0][..]), 1.0).unwrap();
    let expected = m[0] - 0.1 / (1.0 + g * g + 1e-8).sqrt() * g;
    assert!(
        (c.weights()[0] - expected).abs() < 1e-15,
        "{:?}",
        c.weights()
    );
    let mut back = Vec::new();
    c.write_parameters(&mut back);
    assert!((back[3] - (1.0 + g * g)).abs() < 1e-15);
    assert_eq!(back[4], 4.0, "a dense zero has gradient 0: its G stays");
}

#[test]
fn adam_vectors_add_the_moments_and_the_step_counts() {
    let (mut a, mut b) = (classifier(Optimizer::Adam), classifier(Optimizer::Adam));
    let m = two_workers(&mut a, &mut b);
    assert_eq!(
        m.len(),
        3 + 3 + 3 + 1,
        "w, b, then m, v (weights, intercept), then t"
    );
    // m = 0.1 g summed: (−0.1, 0.2, 0); v = 0.001 g² summed: (0.001, 0.004, 0.0005); t = 2.
    let close = |x: f64, y: f64| (x - y).abs() < 1e-15;
    for (found, expected) in m[3..]
        .iter()
        .zip([-0.1, 0.2, 0.0, 0.001, 0.004, 0.0005, 2.0])
    {
        assert!(close(*found, expected), "{:?}", &m[3..]);
    }
    // The next step of a model that adopted it is step t = 3 from those moments.
    let mut c = classifier(Optimizer::Adam);
    c.read_parameters(&m).unwrap();
    let x = [0.0, 1.0];
    let p = 1.0 / (1.0 + (-(m[1] + m[2])).exp());
    c.learn_one(Features::from(&x[..]), 1.0).unwrap();
    let g = p - 1.0;
    let rate = 0.1 * (1.0 - 0.999f64.powi(3)).sqrt() / (1.0 - 0.9f64.powi(3));
    let (m1, v1) = (0.9 * m[4] + 0.1 * g, 0.999 * m[7] + 0.001 * g * g);
    let w1 = m[1] - rate * m1 / (v1.sqrt() + 1e-8);
    assert!(
        (c.weights()[1] - w1).abs() < 1e-12,
        "{} vs {w1}",
        c.weights()[1]
    );
    let mut back = Vec::new();
    c.write_parameters(&mut back);
    assert_eq!(back[9], 3.0, "t");
}

#[test]
fn regression_vectors_keep_the_label_sums_before_the_optimizer_state() {
    let (mut a, mut b) = (
        regression(Optimizer::AdaGrad),
        regression(Optimizer::AdaGrad),
    );
    let mut start = Vec::new();
    a.write_parameters(&mut start);
    // Centred on a running mean of 0 before the first label: e = −y.
    a.learn_one(Features::from(&[1.0, 0.0][..]), 4.0).unwrap();
    b.learn_one(Features::from(&[0.0, 1.0][..]), 2.0).unwrap();
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    b.write_parameters(&mut vb);
    let m = merged(&start, &va, &vb);
    assert_eq!(m.len(), 2 + 1 + 2 + 3);
    assert_eq!(&m[3..5], &[2.0, 6.0], "two labels summing to 6");
    // G: a's gradient (−4, 0), −4; b's (0, −2), −2.
    assert_eq!(&m[5..], &[16.0, 4.0, 20.0]);
    let mut c = regression(Optimizer::AdaGrad);
    c.read_parameters(&m).unwrap();
    assert_eq!(c.label_offset(), 3.0);
    let mut back = Vec::new();
    c.write_parameters(&mut back);
    assert_eq!(back, m);
    // Adam: the regression's vector ends with m, v and t.
    let (mut a, mut b) = (regression(Optimizer::Adam), regression(Optimizer::Adam));
    a.learn_one(Features::from(&[1.0, 0.0][..]), 4.0).unwrap();
    b.learn_one(Features::from(&[0.0, 1.0][..]), 2.0).unwrap();
    let mut start = Vec::new();
    regression(Optimizer::Adam).write_parameters(&mut start);
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    a.write_parameters(&mut va);
    b.write_parameters(&mut vb);
    let m = merged(&start, &va, &vb);
    assert_eq!(m.len(), 5 + 3 + 3 + 1);
    assert_eq!(m[11], 2.0, "t: one step each");
    let close = |x: f64, y: f64| (x - y).abs() < 1e-15;
    for (found, expected) in m[5..11].iter().zip([-0.4, -0.2, -0.6, 0.016, 0.004, 0.02]) {
        assert!(close(*found, expected), "{:?}", &m[5..11]);
    }
}

#[test]
fn every_optimizer_reads_its_own_vector_back_bit_for_bit() {
    for optimizer in [Optimizer::Sgd, Optimizer::AdaGrad, Optimizer::Adam] {
        let (mut c, mut r) = (classifier(optimizer), regression(optimizer));
        for i in 0..40 {
            let x = [(i % 7) as f64 / 7.0, (i % 3) as f64];
            c.learn_one(Features::from(&x[..]), (i % 2) as f64).unwrap();
            r.learn_one(Features::from(&x[..]), 3.0 * x[0] - x[1])
                .unwrap();
        }
        let (mut vc, mut vr) = (Vec::new(), Vec::new());
        c.write_parameters(&mut vc);
        r.write_parameters(&mut vr);
        assert_eq!(vc.len(), c.parameter_len());
        assert_eq!(vr.len(), r.parameter_len());
        let (mut c2, mut r2) = (classifier(optimizer), regression(optimizer));
        c2.read_parameters(&vc).unwrap();
        r2.read_parameters(&vr).unwrap();
        // The next step too: the optimiser state came along.
        let x = Features::from(&[0.5, 1.0][..]);
        c.learn_one(x, 1.0).unwrap();
        c2.learn_one(x, 1.0).unwrap();
        assert_eq!(c.weights(), c2.weights(), "{optimizer:?}");
        r.learn_one(x, 2.0).unwrap();
        r2.learn_one(x, 2.0).unwrap();
        assert_eq!(r.weights(), r2.weights(), "{optimizer:?}");
        assert_eq!(r.predict_one(x).unwrap(), r2.predict_one(x).unwrap());
    }
}

#[test]
fn negative_sums_of_squares_are_refused_and_change_nothing() {
    for optimizer in [Optimizer::AdaGrad, Optimizer::Adam] {
        let mut c = classifier(optimizer);
        c.learn_one(Features::from(&[1.0, 1.0][..]), 1.0).unwrap();
        let mut before = Vec::new();
        c.write_parameters(&mut before);
        // AdaGrad's G of w0 is at 3; Adam's v of w0 at 3 + 3.
        let k = if optimizer == Optimizer::AdaGrad {
            3
        } else {
            6
        };
        let mut bad = before.clone();
        bad[k] = -1.0;
        let e = c.read_parameters(&bad).unwrap_err();
        assert!(e.is_refused_update(), "{optimizer:?}: {e}");
        let mut after = Vec::new();
        c.write_parameters(&mut after);
        assert_eq!(after, before, "{optimizer:?}");
        assert!(c.read_parameters(&before[1..]).is_err(), "wrong length");
    }
}

#[test]
fn weights_are_averaged_over_workers_and_statistics_summed() {
    let (r, f) = (sgd(), ftrl());
    let averaged: Vec<bool> = (0..r.parameter_len()).map(|i| r.averaged(i)).collect();
    // Two weights and the intercept move toward the optimum: averaged; the label count
    // and sum add up: summed.
    assert_eq!(averaged, vec![true, true, true, false, false]);
    // FTRL's z and n are sums of gradients: summed.
    assert!((0..f.parameter_len()).all(|i| !f.averaged(i)));
}

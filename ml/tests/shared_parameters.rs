//! `SharedParameters`: the additive vector parameter servers merge, for FTRL logistic
//! regression and streaming SGD regression. Expectations are computed by hand from the
//! algorithms' update rules, not read back from the code.

use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd,
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

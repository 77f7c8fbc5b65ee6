//! Linear learners against scikit-learn (`reference/gen_learners_sklearn.py` →
//! `reference/learners_sklearn.json`): the L2-regularised optimum whatever the learning
//! rate, the intercept, and what the default parameters reach; and against River
//! (`reference/gen_river_sgd.py` → `reference/river_sgd.json`): the online linear
//! regression's learning rate is twice River's for the squared loss (River's gradient is
//! 2 (ŷ − y)), as documented on `StreamingLinearRegressionParams::learning_rate`.

use quiver_ml::linear::{
    LinearRegression, LogisticRegression, SgdParams, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd,
};
use quiver_ml::{Cell, Estimator, Features, Frame, OnlineLearner, Transformer};
use serde_json::Value;

fn reference() -> Value {
    serde_json::from_str(include_str!("reference/learners_sklearn.json")).unwrap()
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(numbers).collect()
}

/// A frame with `features` and `label`.
fn training(xs: &[Vec<f64>], ys: &[f64]) -> Frame {
    let rows = xs.iter().zip(ys);
    Frame::from_rows(
        &["features", "label"],
        rows.map(|(x, &y)| [Cell::from(x.as_slice()), Cell::from(y)]),
    )
    .unwrap()
}

fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tol,
            "{what}: {actual:?} differs from {expected:?} by more than {tol}"
        );
    }
}

/// Full-batch descent run to convergence with L2 strength `reg`.
fn converged(reg: f64, learning_rate: f64, fit_intercept: bool) -> SgdParams {
    SgdParams {
        reg,
        learning_rate,
        fit_intercept,
        max_iter: 20_000,
        tol: 0.0,
        ..SgdParams::default()
    }
}

#[test]
fn l2_regularised_fits_reach_scikit_learn_at_every_learning_rate() {
    let r = reference();
    let l2 = &r["l2"];
    let (x, y, c) = (rows(&l2["X"]), numbers(&l2["y"]), numbers(&l2["c"]));
    let reg = l2["reg"].as_f64().unwrap();
    for fit_intercept in [false, true] {
        let key = if fit_intercept {
            "intercept"
        } else {
            "no_intercept"
        };
        for lr in [0.05, 0.2, 0.5] {
            let params = converged(reg, lr, fit_intercept);
            let ridge = &l2[format!("ridge_{key}")];
            let m = LinearRegression {
                params: params.clone(),
            }
            .fit(&training(&x, &y))
            .unwrap();
            let what = format!("Ridge {key}, lr {lr}");
            assert_close(&what, &m.coefficients, &numbers(&ridge["coef"]), 1e-7);
            assert_close(
                &what,
                &[m.intercept],
                &[ridge["intercept"].as_f64().unwrap()],
                1e-7,
            );
            let logit = &l2[format!("logistic_{key}")];
            let m = LogisticRegression { params }
                .fit(&training(&x, &c))
                .unwrap();
            let what = format!("LogisticRegression {key}, lr {lr}");
            assert_close(&what, &m.coefficients, &numbers(&logit["coef"]), 1e-7);
            assert_close(
                &what,
                &[m.intercept],
                &[logit["intercept"].as_f64().unwrap()],
                1e-7,
            );
        }
    }
}

#[test]
fn default_logistic_regression_is_as_accurate_as_scikit_learns_defaults() {
    let r = reference();
    let classes = &r["classes"];
    let x = rows(&classes["X"]);
    let is_2: Vec<f64> = numbers(&classes["label"])
        .iter()
        .map(|&l| f64::from(u8::from(l == 2.0)))
        .collect();
    let model = LogisticRegression::default()
        .fit(&training(&x, &is_2))
        .unwrap();
    let out = model.transform(&training(&x, &is_2)).unwrap();
    let right = out
        .f64s("prediction")
        .unwrap()
        .iter()
        .zip(&is_2)
        .filter(|(p, y)| p == y)
        .count();
    let accuracy = right as f64 / is_2.len() as f64;
    let sklearn = classes["logistic_accuracy_class2"].as_f64().unwrap();
    assert!(
        accuracy >= sklearn,
        "accuracy {accuracy} below scikit-learn's {sklearn}"
    );
    // The probability of class 1 has its own column, the class follows it.
    let probability = out.f64s("probability").unwrap();
    for (p, class) in probability.iter().zip(out.f64s("prediction").unwrap()) {
        assert_eq!(*class, f64::from(u8::from(*p > 0.5)));
    }
}

#[test]
fn an_untrained_classifier_predicts_class_0_at_margin_0() {
    // sklearn predicts classes_[1] only when the decision function is > 0.
    let model = LogisticRegression {
        params: SgdParams {
            learning_rate: 1e-300,
            max_iter: 1,
            fit_intercept: false,
            ..SgdParams::default()
        },
    }
    .fit(&training(&[vec![0.0, 0.0]], &[1.0]))
    .unwrap();
    let p = model.predict_one(Features::Dense(&[0.0, 0.0])).unwrap();
    assert_eq!((p.value, p.probability), (0.0, Some(0.5)));
}

#[test]
fn streaming_sgd_at_learning_rate_lr_steps_as_river_at_half_of_it() {
    let r: Value = serde_json::from_str(include_str!("reference/river_sgd.json")).unwrap();
    let params = StreamingLinearRegressionParams {
        learning_rate: r["quiver_learning_rate"].as_f64().unwrap(),
        ..StreamingLinearRegressionParams::default()
    };
    let mut model = StreamingLinearRegressionSgd::new(params, 3).unwrap();
    let xs = rows(&r["X"]);
    for (x, y) in xs.iter().zip(numbers(&r["y"])) {
        model.learn_one(Features::Dense(x), y).unwrap();
    }
    for (w, e) in model.weights().iter().zip(numbers(&r["weights"])) {
        assert!((w - e).abs() <= 1e-12, "{:?} vs River", model.weights());
    }
    let intercept = r["intercept"].as_f64().unwrap();
    assert!((model.intercept() - intercept).abs() <= 1e-12);
}

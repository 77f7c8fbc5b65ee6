//! StreamingLinearRegressionSgd against River's `LinearRegression`
//! (`reference/gen_river_sgd.py` → `reference/river_sgd.json`): quiver-ml's learning rate
//! is twice River's for the squared loss (River's gradient is 2 (ŷ − y)), as documented on
//! `StreamingLinearRegressionParams::learning_rate`.

use quiver_ml::linear::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_ml::{Features, OnlineLearner};
use serde_json::Value;

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn streaming_sgd_at_learning_rate_lr_steps_as_river_at_half_of_it() {
    let r: Value = serde_json::from_str(include_str!("reference/river_sgd.json")).unwrap();
    let params = StreamingLinearRegressionParams {
        learning_rate: r["quiver_learning_rate"].as_f64().unwrap(),
        ..StreamingLinearRegressionParams::default()
    };
    let mut model = StreamingLinearRegressionSgd::new(params, 3).unwrap();
    let xs: Vec<Vec<f64>> = r["X"].as_array().unwrap().iter().map(numbers).collect();
    for (x, y) in xs.iter().zip(numbers(&r["y"])) {
        model.learn_one(Features::Dense(x), y).unwrap();
    }
    for (w, e) in model.weights().iter().zip(numbers(&r["weights"])) {
        assert!((w - e).abs() <= 1e-12, "{:?} vs River", model.weights());
    }
    let intercept = r["intercept"].as_f64().unwrap();
    assert!((model.intercept() - intercept).abs() <= 1e-12);
}

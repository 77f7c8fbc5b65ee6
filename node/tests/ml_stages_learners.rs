//! The learner stages: with parallelism 1 each one's output is the `quiver-ml` library run
//! sequentially on the same rows (predict, then learn), whatever the batching; null labels
//! predict without learning, null features give null outputs; a snapshot taken mid-stream
//! and restored into a fresh partition continues exactly where the stage was.

#[allow(dead_code)]
#[path = "ml_stages/support.rs"]
mod support;

use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, Optimizer, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd, StreamingLogisticRegression, StreamingLogisticRegressionParams,
};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{Features, OnlineLearner, OnlineModel};
use quiver_node::ml_stages;
use quiver_protocol::spec::{
    FeatureInput, KMeansStage, LearnerColumns, LinearOptimizer, LogisticRegressionStage,
    ServingPolicy, StageKind,
};
use quiver_protocol::{KeyGroup, PartitionId, Row, Value, ValueType};
use support::{build, build_kind, dense, run, stage_spec, Rng};

const XY: &str = r#"{ x1 = "f64", x2 = "f64", y = "i64" }"#;
const LOGISTIC: &str = "kind = \"logistic_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"";

/// Rows `x1, x2, y` with a 0/1 label from a noisy linear rule; every 37th label and every
/// 53rd `x2` is null.
fn labelled_rows(n: usize) -> Vec<Row> {
    let mut rng = Rng(7);
    (0..n)
        .map(|i| {
            let (x1, x2) = (4.0 * rng.next_f64() - 2.0, 4.0 * rng.next_f64() - 2.0);
            let y = i64::from(x1 + 0.5 * x2 + 0.3 * (rng.next_f64() - 0.5) > 0.0);
            vec![
                Value::F64(x1),
                if i % 53 == 52 {
                    Value::Null
                } else {
                    Value::F64(x2)
                },
                if i % 37 == 36 {
                    Value::Null
                } else {
                    Value::I64(y)
                },
            ]
        })
        .collect()
}

fn f64_of(v: &Value) -> Option<f64> {
    match v {
        Value::F64(x) => Some(*x),
        _ => None,
    }
}

/// The library's progressive run over `rows` of `x1, x2, y` with the stage's defaults (every
/// example learnt, an intercept, alpha 0.2, beta 1): the columns the stage adds.
fn library_logistic(rows: &[Row]) -> Vec<Vec<Value>> {
    let params = FtrlParams {
        alpha: 0.2,
        beta: 1.0,
        global_batch_size: 1,
        fit_intercept: true,
        ..FtrlParams::default()
    };
    let mut model = OnlineLogisticRegression::new(params, 2, None).unwrap();
    rows.iter()
        .map(|row| {
            let version = Value::I64(model.version().0 as i64);
            let (Some(x1), Some(x2)) = (f64_of(&row[0]), f64_of(&row[1])) else {
                return vec![Value::Null, Value::Null, version];
            };
            let x = [x1, x2];
            let p = match row[2] {
                Value::I64(y) => model.predict_then_learn(Features::Dense(&x), y as f64),
                _ => model.predict_one(Features::Dense(&x)),
            }
            .unwrap();
            vec![
                Value::F64(p.value),
                Value::F64(p.probability.unwrap()),
                version,
            ]
        })
        .collect()
}

fn added(rows: &[Row], from: usize) -> Vec<Vec<Value>> {
    rows.iter().map(|r| r[from..].to_vec()).collect()
}

#[test]
fn logistic_regression_is_the_library_sequential_run_in_any_batching() {
    let rows = labelled_rows(400);
    let expected = library_logistic(&rows);
    for batch in [1, 7, 1000] {
        let out = run(&mut *build(XY, LOGISTIC), &rows, batch);
        assert_eq!(out.len(), rows.len());
        for (o, r) in out.iter().zip(&rows) {
            assert_eq!(&o[..3], &r[..], "input columns come first, unchanged");
        }
        assert_eq!(added(&out, 3), expected, "batches of {batch}");
    }
    // The version moves once per learnt row (rows with a null label or feature teach nothing),
    // counted independently of the library.
    let out = run(&mut *build(XY, LOGISTIC), &rows, 64);
    let mut learnt = 0;
    for row in &out {
        assert_eq!(row[5], Value::I64(learnt));
        if !row[1].eq(&Value::Null) && !row[2].eq(&Value::Null) {
            learnt += 1;
        }
    }
}

#[test]
fn logistic_regression_reads_a_sparse_vector_column() {
    let sparse = |i: u32, x: f64| {
        Value::Sparse(std::sync::Arc::new(quiver_protocol::SparseVector {
            dim: 5,
            indices: vec![i, 4],
            values: vec![x, 1.0],
        }))
    };
    let rows: Vec<Row> = (0..50)
        .map(|i| {
            vec![
                sparse(i % 4, 1.0 + i as f64 / 10.0),
                Value::I64(i64::from(i % 4 < 2)),
            ]
        })
        .collect();
    let kind = StageKind::LogisticRegression(LogisticRegressionStage {
        features: FeatureInput::Vector("v".to_string()),
        label: "y".to_string(),
        optimizer: LinearOptimizer::Ftrl,
        learning_rate: 0.1,
        clip_gradient: 1e12,
        alpha: 0.1,
        beta: 0.1,
        reg: 0.0,
        elastic_net: 0.0,
        global_batch_size: 1,
        fit_intercept: true,
        outputs: LearnerColumns::default(),
        policy: Default::default(),
        parameter_shards: None,
    });
    let input = [("v", ValueType::Sparse), ("y", ValueType::I64)];
    let out = run(&mut *build_kind(kind, &input), &rows, 8);
    let params = FtrlParams {
        global_batch_size: 1,
        fit_intercept: true,
        ..FtrlParams::default()
    };
    let mut model = OnlineLogisticRegression::new(params, 5, None).unwrap();
    for (i, row) in out.iter().enumerate() {
        let i = i as u32;
        let (idx, val) = ([i % 4, 4], [1.0 + f64::from(i) / 10.0, 1.0]);
        let x = Features::Sparse(quiver_ml::SparseView {
            dim: 5,
            indices: &idx,
            values: &val,
        });
        let p = model
            .predict_then_learn(x, f64::from(u8::from(i % 4 < 2)))
            .unwrap();
        assert_eq!(
            row[2..],
            [
                Value::F64(p.value),
                Value::F64(p.probability.unwrap()),
                Value::I64(i64::from(i))
            ]
        );
    }
}

#[test]
fn a_label_other_than_0_or_1_fails_naming_the_stage() {
    let mut op = build(XY, LOGISTIC);
    let mut out = quiver_node::operator::Output::default();
    let records = vec![quiver_protocol::Record {
        event_time: 5,
        row: vec![Value::F64(1.0), Value::F64(2.0), Value::I64(2)],
    }];
    let error = op
        .process_batch(&support::batch_of(&records), &mut out)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "stage \"s\": row at event time 5: label 2 is invalid: allowed 0 or 1"
    );
}

/// `n` rows (x1, x2, y) with y the rounded 3·x1 − x2 + 1.
fn xy_rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let x1 = (i % 10) as f64 / 10.0;
            let x2 = (i % 7) as f64 / 7.0;
            vec![
                Value::F64(x1),
                Value::F64(x2),
                Value::I64((3.0 * x1 - x2 + 1.0).round() as i64),
            ]
        })
        .collect()
}

#[test]
fn linear_regression_is_the_library_sequential_run() {
    let rows = xy_rows(200);
    let table = "kind = \"linear_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"\nlearning_rate = 0.05";
    let out = run(&mut *build(XY, table), &rows, 16);
    // Independently: from zero weights and no labels seen the first prediction is 0, the
    // second is y₁ (the labels' mean, by default) + η y₁ (x₁·x₂ + 1) (one SGD step on the
    // weights and the intercept).
    let y1 = 1.0;
    let x_first = [0.0, 0.0];
    let x_second = [0.1, 1.0 / 7.0];
    let dot: f64 = x_first.iter().zip(&x_second).map(|(a, b)| a * b).sum();
    assert_eq!(out[0][3..], [Value::F64(0.0), Value::I64(0)]);
    assert_eq!(
        out[1][3..],
        [Value::F64(y1 + 0.05 * y1 * (dot + 1.0)), Value::I64(1)]
    );
    let params = StreamingLinearRegressionParams {
        learning_rate: 0.05,
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    let mut model = StreamingLinearRegressionSgd::new(params, 2).unwrap();
    for (row, o) in rows.iter().zip(&out) {
        let x = [f64_of(&row[0]).unwrap(), f64_of(&row[1]).unwrap()];
        let Value::I64(y) = row[2] else {
            panic!("label")
        };
        let version = model.version().0 as i64;
        let p = model
            .predict_then_learn(Features::Dense(&x), y as f64)
            .unwrap();
        assert_eq!(o[3..], [Value::F64(p.value), Value::I64(version)]);
    }
}

#[test]
fn linear_regression_with_each_adaptive_optimizer_is_the_library_sequential_run() {
    let rows = xy_rows(120);
    for (name, optimizer) in [("adagrad", Optimizer::AdaGrad), ("adam", Optimizer::Adam)] {
        // No learning_rate: River's default for the optimiser, 0.1.
        let table = format!(
            "kind = \"linear_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"\n\
             optimizer = \"{name}\"\nclip_gradient = 0.5"
        );
        let out = run(&mut *build(XY, &table), &rows, 16);
        let params = StreamingLinearRegressionParams {
            learning_rate: 0.1,
            center_label: true,
            optimizer,
            clip_gradient: 0.5,
            ..StreamingLinearRegressionParams::default()
        };
        let mut model = StreamingLinearRegressionSgd::new(params, 2).unwrap();
        for (row, o) in rows.iter().zip(&out) {
            let x = [f64_of(&row[0]).unwrap(), f64_of(&row[1]).unwrap()];
            let Value::I64(y) = row[2] else {
                panic!("label")
            };
            let version = model.version().0 as i64;
            let p = model
                .predict_then_learn(Features::Dense(&x), y as f64)
                .unwrap();
            assert_eq!(o[3..], [Value::F64(p.value), Value::I64(version)], "{name}");
        }
    }
}

#[test]
fn logistic_regression_with_each_gradient_optimizer_is_the_library_sequential_run() {
    let rows = labelled_rows(300);
    for (name, optimizer, rate) in [
        ("sgd", Optimizer::Sgd, 0.01),
        ("adagrad", Optimizer::AdaGrad, 0.1),
        ("adam", Optimizer::Adam, 0.1),
    ] {
        let table = format!("{LOGISTIC}\noptimizer = \"{name}\"\nreg = 0.01");
        let out = run(&mut *build(XY, &table), &rows, 16);
        let params = StreamingLogisticRegressionParams {
            optimizer,
            learning_rate: rate,
            l2: 0.01,
            ..StreamingLogisticRegressionParams::default()
        };
        let mut model = StreamingLogisticRegression::new(params, 2).unwrap();
        for (row, o) in rows.iter().zip(&out) {
            let (Some(x1), Some(x2)) = (f64_of(&row[0]), f64_of(&row[1])) else {
                assert_eq!(o[3..5], [Value::Null, Value::Null], "{name}");
                continue;
            };
            let x = [x1, x2];
            let version = model.version().0 as i64;
            let p = match row[2] {
                Value::I64(y) => model.predict_then_learn(Features::Dense(&x), y as f64),
                _ => model.predict_one(Features::Dense(&x)),
            }
            .unwrap();
            assert_eq!(
                o[3..],
                [
                    Value::F64(p.value),
                    Value::F64(p.probability.unwrap()),
                    Value::I64(version)
                ],
                "{name}"
            );
        }
        assert!(model.version().0 > 250, "{name}: every labelled row learnt");
    }
}

#[test]
fn kmeans_is_the_library_sequential_run() {
    let mut rng = Rng(3);
    let rows: Vec<Row> = (0..300)
        .map(|i| {
            let centre = [[0.1, 0.1], [0.9, 0.2], [0.5, 0.9]][i % 3];
            vec![dense(&[
                centre[0] + 0.05 * rng.next_f64(),
                centre[1] + 0.05 * rng.next_f64(),
            ])]
        })
        .collect();
    let kind = StageKind::KMeans(KMeansStage {
        features: FeatureInput::Vector("v".to_string()),
        k: 3,
        decay_factor: 0.5,
        global_batch_size: 10,
        seed: 11,
        parameter_shards: None,
        outputs: LearnerColumns::default(),
        policy: ServingPolicy::default(),
    });
    let out = run(
        &mut *build_kind(kind, &[("v", ValueType::Dense)]),
        &rows,
        25,
    );
    let params = OnlineKMeansParams {
        global_batch_size: 10,
        decay_factor: 0.5,
        ..OnlineKMeansParams::default()
    };
    let mut model = OnlineKMeans::random(params, 3, 2, 0.0, 11).unwrap();
    for (row, o) in rows.iter().zip(&out) {
        let Value::Dense(x) = &row[0] else {
            panic!("vector")
        };
        let version = model.version().0 as i64;
        let cluster = model.predict_one(Features::Dense(x)).unwrap();
        model.learn_one(Features::Dense(x)).unwrap();
        assert_eq!(
            o[1..],
            [
                Value::I64(cluster as i64),
                Value::F64(cluster as f64),
                Value::I64(version)
            ]
        );
    }
    // One update per 10 points.
    assert_eq!(out[299][3], Value::I64(29));
}

#[test]
fn matrix_factorization_is_the_library_sequential_run() {
    let rows: Vec<Row> = (0..300i64)
        .map(|i| {
            let rating = if i % 11 == 10 {
                Value::Null
            } else {
                Value::F64(((i * 7) % 5) as f64 + 1.0)
            };
            vec![Value::I64(i % 13), Value::I64(i % 17), rating]
        })
        .collect();
    let table = "kind = \"matrix_factorization\"\nuser = \"u\"\nitem = \"i\"\nrating = \"r\"";
    let out = run(
        &mut *build(r#"{ u = "i64", i = "i64", r = "f64" }"#, table),
        &rows,
        32,
    );
    // Nothing learnt yet: the global mean and every bias are 0.
    assert_eq!(out[0][3..], [Value::F64(0.0), Value::I64(0)]);
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    for (row, o) in rows.iter().zip(&out) {
        let (Value::I64(u), Value::I64(i)) = (&row[0], &row[1]) else {
            panic!("ids")
        };
        let version = model.version().0 as i64;
        let prediction = model.predict_one(*u as u64, *i as u64);
        if let Value::F64(r) = row[2] {
            model.learn_one(*u as u64, *i as u64, r).unwrap();
        }
        assert_eq!(o[3..], [Value::F64(prediction), Value::I64(version)]);
    }
}

#[test]
fn a_snapshot_restored_into_a_fresh_partition_continues_the_stream_exactly() {
    let rows = labelled_rows(300);
    let uninterrupted = run(&mut *build(XY, LOGISTIC), &rows, 50);

    // Partition 1 of 4 owns key groups 32..64: its model is stored under key group 32.
    let (stage, input) = stage_spec(XY, LOGISTIC, 4);
    let mut first = ml_stages::build(&stage, &input, &support::CONTEXT, PartitionId(1)).unwrap();
    let head = run(&mut *first, &rows[..120], 50);
    let state = first.snapshot().unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].group, KeyGroup(32));

    let mut second = ml_stages::build(&stage, &input, &support::CONTEXT, PartitionId(1)).unwrap();
    second.restore(state.into()).unwrap();
    let tail = run(&mut *second, &rows[120..], 50);
    let resumed: Vec<Row> = head.into_iter().chain(tail).collect();
    assert_eq!(resumed, uninterrupted);
}

#[test]
fn restored_at_another_parallelism_a_partition_continues_the_lowest_key_group_it_received() {
    let rows = labelled_rows(200);
    let (stage4, input) = stage_spec(XY, LOGISTIC, 4);
    // Two old partitions (2 and 3 of 4: key groups 64 and 96) learnt different rows.
    let mut old2 = ml_stages::build(&stage4, &input, &support::CONTEXT, PartitionId(2)).unwrap();
    let mut old3 = ml_stages::build(&stage4, &input, &support::CONTEXT, PartitionId(3)).unwrap();
    run(&mut *old2, &rows[..100], 40);
    run(&mut *old3, &rows[100..], 40);
    let mut states = old3.snapshot().unwrap();
    states.extend(old2.snapshot().unwrap());
    assert_eq!(
        states.iter().map(|s| s.group).collect::<Vec<_>>(),
        [KeyGroup(96), KeyGroup(64)]
    );

    // Partition 1 of 2 (key groups 64..128) receives both and continues partition 2's model.
    let (stage2, _) = stage_spec(XY, LOGISTIC, 2);
    let mut new1 = ml_stages::build(&stage2, &input, &support::CONTEXT, PartitionId(1)).unwrap();
    new1.restore(states.into()).unwrap();
    let probe = labelled_rows(20);
    assert_eq!(run(&mut *new1, &probe, 20), run(&mut *old2, &probe, 20));
}

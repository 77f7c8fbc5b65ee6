//! Save / load, pipelines and snapshots: a saved model predicts the same after loading,
//! and bad files fail with the error that says why.

use quiver_ml::feature::{
    OnlineStandardScaler, StandardScaler, StandardScalerParams, VectorAssembler,
    VectorAssemblerParams, VectorColumns,
};
use quiver_ml::linear::{
    FtrlParams, LogisticRegression, LogisticRegressionModel, OnlineLogisticRegression, Optimizer,
    SgdParams, StreamingLinearRegressionParams, StreamingLinearRegressionSgd,
};
use quiver_ml::persist::{load_model, save_model};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{
    Column, Estimator, Features, Frame, OnlineLearner, OnlineModel, Persist, PersistError,
    Pipeline, Transformer,
};

fn data() -> Frame {
    let x1: Vec<f64> = (0..20).map(|i| f64::from(i) * 0.5).collect();
    let x2: Vec<f64> = (0..20).map(|i| f64::from(i % 4)).collect();
    let y: Vec<f64> = (0..20).map(|i| if i >= 10 { 1.0 } else { 0.0 }).collect();
    Frame::new()
        .with("x1", Column::F64(x1))
        .and_then(|f| f.with("x2", Column::F64(x2)))
        .and_then(|f| f.with("label", Column::F64(y)))
        .unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::new()
        .transformer(VectorAssembler {
            params: VectorAssemblerParams {
                input_cols: vec!["x1".into(), "x2".into()],
                output_col: "raw".into(),
                ..Default::default()
            },
        })
        .estimator(StandardScaler {
            params: StandardScalerParams {
                columns: VectorColumns {
                    input_col: "raw".into(),
                    output_col: "features".into(),
                },
                with_mean: true,
                with_std: true,
            },
        })
        .estimator(LogisticRegression {
            params: SgdParams::default(),
        })
}

#[test]
fn pipeline_model_saved_and_loaded_predicts_the_same() {
    let model = pipeline().fit(&data()).unwrap();
    let before = model.transform(&data()).unwrap();
    let mut bytes = Vec::new();
    model.save(&mut bytes).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        text.starts_with(r#"{"format":"quiver-ml","kind":"pipeline_model","version":1"#),
        "{text}"
    );
    let loaded = load_model(bytes.as_slice()).unwrap();
    assert_eq!(loaded.kind(), "pipeline_model");
    let after = loaded.transform(&data()).unwrap();
    assert_eq!(
        before.f64s("prediction").unwrap(),
        after.f64s("prediction").unwrap()
    );
    assert_eq!(
        before.vectors("rawPrediction").unwrap(),
        after.vectors("rawPrediction").unwrap()
    );
    // The classes separate: the first half is 0, the second 1.
    let preds = after.f64s("prediction").unwrap();
    assert!(
        preds[..8].iter().all(|&p| p == 0.0) && preds[12..].iter().all(|&p| p == 1.0),
        "{preds:?}"
    );
}

fn saved_logistic() -> serde_json::Value {
    let model = LogisticRegressionModel {
        params: SgdParams::default(),
        coefficients: vec![0.5, -1.0],
        intercept: 0.25,
    };
    let mut bytes = Vec::new();
    save_model(&model, &mut bytes).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn a_logistic_model_saved_before_intercepts_loads_without_one() {
    let mut doc = saved_logistic();
    let model = doc["model"].as_object_mut().unwrap();
    model.remove("intercept");
    let params = model["params"].as_object_mut().unwrap();
    params.remove("fit_intercept");
    params.remove("probability_col");
    let loaded = LogisticRegressionModel::load(doc.to_string().as_bytes()).unwrap();
    assert_eq!(loaded.intercept, 0.0);
    assert!(!loaded.params.fit_intercept);
    assert_eq!(loaded.params.probability_col, "probability");
}

#[test]
fn loading_a_newer_version_says_upgrade() {
    let mut doc = saved_logistic();
    doc["version"] = 99.into();
    let err = LogisticRegressionModel::load(doc.to_string().as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            PersistError::NewerVersion {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade quiver-ml"));
}

#[test]
fn loading_corrupt_or_foreign_files_fails_clearly() {
    let doc = saved_logistic();
    let text = doc.to_string();
    let err = LogisticRegressionModel::load(&text.as_bytes()[..text.len() / 2]).unwrap_err();
    assert!(matches!(err, PersistError::Corrupt(_)), "{err}");
    let mut other = doc.clone();
    other["format"] = "something-else".into();
    assert!(matches!(
        load_model(other.to_string().as_bytes()),
        Err(PersistError::Format { .. })
    ));
    let mut bad_body = doc.clone();
    bad_body["model"]["coefficients"] = "not numbers".into();
    assert!(matches!(
        LogisticRegressionModel::load(bad_body.to_string().as_bytes()),
        Err(PersistError::Corrupt(_))
    ));
    let mut unknown = doc;
    unknown["kind"] = "teleporter".into();
    assert!(
        matches!(load_model(unknown.to_string().as_bytes()), Err(PersistError::UnknownKind(k)) if k == "teleporter")
    );
    let err =
        quiver_ml::linear::LinearRegressionModel::load(saved_logistic().to_string().as_bytes())
            .unwrap_err();
    assert!(matches!(err, PersistError::Kind { .. }), "{err}");
}

#[test]
fn online_scaler_equals_batch_scaler_and_restores_from_snapshot() {
    let rows: Vec<Vec<f64>> = (0..30)
        .map(|i| vec![f64::from(i).sin() * 3.0, f64::from(i * i % 7)])
        .collect();
    let mut online = OnlineStandardScaler::new(StandardScalerParams::default(), None).unwrap();
    for r in &rows[..15] {
        online.learn_one(Features::Dense(r)).unwrap();
    }
    let snap = online.snapshot().unwrap();
    let mut resumed = OnlineStandardScaler::new(StandardScalerParams::default(), None).unwrap();
    resumed.restore(&snap).unwrap();
    for r in &rows[15..] {
        resumed.learn_one(Features::Dense(r)).unwrap();
    }
    assert_eq!(resumed.version().0, 30);
    // Naive two-pass statistics over all rows.
    for j in 0..2 {
        let col: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        let mean = col.iter().sum::<f64>() / 30.0;
        let std = (col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 29.0).sqrt();
        assert!((resumed.mean()[j] - mean).abs() < 1e-12);
        assert!((resumed.std()[j] - std).abs() < 1e-12);
    }
    // A window of 10 holds the statistics of the last 10 rows only.
    let mut windowed =
        OnlineStandardScaler::new(StandardScalerParams::default(), Some(10)).unwrap();
    rows.iter()
        .for_each(|r| windowed.learn_one(Features::Dense(r)).unwrap());
    let last: Vec<f64> = rows[20..].iter().map(|r| r[0]).collect();
    let mean = last.iter().sum::<f64>() / 10.0;
    let std = (last.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 9.0).sqrt();
    assert_eq!(windowed.count(), 10);
    assert!((windowed.mean()[0] - mean).abs() < 1e-9 && (windowed.std()[0] - std).abs() < 1e-9);
    assert!(OnlineStandardScaler::new(StandardScalerParams::default(), Some(1)).is_err());
}

#[test]
fn online_linear_learners_saved_before_the_optimizers_load_as_sgd_and_unclipped() {
    let mut m =
        StreamingLinearRegressionSgd::new(StreamingLinearRegressionParams::default(), 2).unwrap();
    m.learn_one(Features::Dense(&[1.0, 2.0]), 3.0).unwrap();
    let mut doc = serde_json::to_value(m.to_stored().unwrap()).unwrap();
    doc["version"] = 1.into();
    let model = doc["model"].as_object_mut().unwrap();
    model.remove("state");
    let params = model["params"].as_object_mut().unwrap();
    params.remove("optimizer");
    params.remove("clip_gradient");
    let loaded = StreamingLinearRegressionSgd::load(doc.to_string().as_bytes()).unwrap();
    assert_eq!(loaded.weights(), m.weights());
    let mut stepped = loaded.clone();
    stepped
        .learn_one(Features::Dense(&[1.0, 0.0]), 1.0)
        .unwrap();
    m.learn_one(Features::Dense(&[1.0, 0.0]), 1.0).unwrap();
    assert_eq!(stepped.weights(), m.weights(), "SGD, clip 1e12");

    let ftrl = OnlineLogisticRegression::new(FtrlParams::default(), 2, None).unwrap();
    let mut doc = serde_json::to_value(ftrl.to_stored().unwrap()).unwrap();
    doc["version"] = 1.into();
    let params = doc["model"]["params"].as_object_mut().unwrap();
    params.remove("clip_gradient");
    let loaded = OnlineLogisticRegression::load(doc.to_string().as_bytes()).unwrap();
    assert_eq!(loaded, ftrl);
}

#[test]
fn a_snapshot_of_an_older_binary_layout_is_refused_not_misread() {
    let params = StreamingLinearRegressionParams {
        optimizer: Optimizer::Adam,
        ..StreamingLinearRegressionParams::default()
    };
    let m = StreamingLinearRegressionSgd::new(params, 2).unwrap();
    let mut snapshot = m.snapshot().unwrap();
    // Magic `QMLS`, then the format version (u32, little-endian).
    snapshot[4..8].copy_from_slice(&1u32.to_le_bytes());
    let mut restored = m.clone();
    let e = restored.restore(&snapshot).unwrap_err().to_string();
    assert!(
        e.contains("format version 1") && e.contains("from version 2"),
        "{e}"
    );
    let ftrl = OnlineLogisticRegression::new(FtrlParams::default(), 2, None).unwrap();
    let mut snapshot = ftrl.snapshot().unwrap();
    snapshot[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(OnlineLogisticRegression::from_snapshot(&snapshot).is_err());
    // Matrix factorisation's snapshots lost the generator's state in version 2.
    let mf = MatrixFactorization::new(MfParams::biased_mf()).unwrap();
    let mut snapshot = mf.snapshot().unwrap();
    snapshot[4..8].copy_from_slice(&1u32.to_le_bytes());
    let e = MatrixFactorization::from_snapshot(&snapshot)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("format version 1") && e.contains("from version 2"),
        "{e}"
    );
    // This build's own snapshots restore.
    restored.restore(&m.snapshot().unwrap()).unwrap();
    assert_eq!(restored, m);
}

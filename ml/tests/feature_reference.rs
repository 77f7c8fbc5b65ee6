//! Feature stages against Flink ML's test expectations and against values scikit-learn
//! computed (`reference/gen_feature_sklearn.py` → `reference/feature_sklearn.json`).

use quiver_ml::feature::{
    FeatureHasher, FeatureHasherParams, Imputer, ImputerParams, ImputerStrategy, KBinsDiscretizer,
    KBinsParams, KBinsStrategy, MaxAbsScaler, MinMaxScaler, MinMaxScalerParams, OneHotEncoder,
    OneHotParams, StandardScaler, StandardScalerParams, VectorColumns,
};
use quiver_ml::{Column, Estimator, Frame, MlError, Transformer, Vector};
use serde_json::Value;

fn assert_close(actual: &[f64], expected: &[f64], tol: f64) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            (a - e).abs() <= tol,
            "{actual:?} differs from {expected:?} by more than {tol}"
        );
    }
}

fn vectors(rows: &[Vec<f64>]) -> Column {
    Column::Vector(rows.iter().map(|r| Vector::Dense(r.clone())).collect())
}

fn input(rows: &[Vec<f64>]) -> Frame {
    Frame::new().with("features", vectors(rows)).unwrap()
}

fn output(frame: &Frame) -> Vec<Vec<f64>> {
    frame
        .vectors("features")
        .unwrap()
        .iter()
        .map(|v| v.features().to_dense())
        .collect()
}

#[test]
fn feature_hasher_matches_flink() {
    let hasher = FeatureHasher::new(FeatureHasherParams {
        input_cols: vec!["f0".into(), "f1".into(), "f2".into()],
        num_features: 1000,
        ..FeatureHasherParams::default()
    })
    .unwrap();
    let frame = Frame::new()
        .with("f0", Column::Str(vec!["a".into(), "c".into()]))
        .and_then(|f| f.with("f1", Column::F64(vec![1.0, 1.0])))
        .and_then(|f| f.with("f2", Column::Bool(vec![true, false])))
        .unwrap();
    let out = hasher.transform(&frame).unwrap();
    let rows = out.vectors("features").unwrap();
    let expect = [([607u32, 635, 913], [1.0; 3]), ([242, 869, 913], [1.0; 3])];
    for (row, (idx, val)) in rows.iter().zip(expect) {
        let Vector::Sparse(s) = row else {
            panic!("dense output")
        };
        assert_eq!(
            (s.dim, s.indices.as_slice(), s.values.as_slice()),
            (1000, &idx[..], &val[..])
        );
    }
    assert_eq!(hasher.categorical_index("f0", "a"), 607);
    assert_eq!(hasher.numeric_index("f1"), 913);
    assert_eq!(hasher.categorical_index("f2", "true"), 635);
    assert_eq!(hasher.categorical_index("f0", "c"), 869);
    assert_eq!(hasher.categorical_index("f2", "false"), 242);
}

#[test]
fn standard_scaler_matches_flink() {
    let rows = vec![
        vec![-2.5, 9.0, 1.0],
        vec![1.4, -5.0, 1.0],
        vec![2.0, -1.0, -2.0],
    ];
    let model = StandardScaler::default().fit(&input(&rows)).unwrap();
    assert_close(&model.mean, &[0.3, 1.0, 0.0], 1e-12);
    assert_close(
        &model.std,
        &[2.4433583445741234, 7.211102550927978, 1.7320508075688772],
        1e-12,
    );
    // Default (with_std only) and with_mean: naive recomputation of x / std, (x - mean) / std.
    let scaled = output(&model.transform(&input(&rows)).unwrap());
    for (r, s) in rows.iter().zip(&scaled) {
        let e: Vec<f64> = r.iter().zip(&model.std).map(|(x, sd)| x / sd).collect();
        assert_close(s, &e, 1e-12);
    }
    let centred = StandardScaler {
        params: StandardScalerParams {
            with_mean: true,
            ..Default::default()
        },
    };
    let m2 = centred.fit(&input(&rows)).unwrap();
    let out = output(&m2.transform(&input(&rows)).unwrap());
    assert_close(
        &out[0],
        &[
            (-2.5 - 0.3) / 2.4433583445741234,
            8.0 / 7.211102550927978,
            1.0 / 1.7320508075688772,
        ],
        1e-12,
    );
}

#[test]
fn min_max_scaler_matches_flink() {
    let train = vec![
        vec![0.0, 3.0],
        vec![2.1, 0.0],
        vec![4.1, 5.1],
        vec![6.1, 8.1],
        vec![200.0, 400.0],
    ];
    let model = MinMaxScaler::default().fit(&input(&train)).unwrap();
    assert_eq!(
        (model.data_min.clone(), model.data_max.clone()),
        (vec![0.0, 0.0], vec![200.0, 400.0])
    );
    let out = output(
        &model
            .transform(&input(&[
                vec![150.0, 90.0],
                vec![50.0, 40.0],
                vec![100.0, 50.0],
            ]))
            .unwrap(),
    );
    assert_close(&out.concat(), &[0.75, 0.225, 0.25, 0.1, 0.5, 0.125], 1e-12);
    // testMaxValueEqualsMinValueButPredictValueNotEquals.
    let p = MinMaxScalerParams {
        min: 0.0,
        max: 10.0,
        ..Default::default()
    };
    let m = MinMaxScaler { params: p }
        .fit(&input(&[vec![40.0, 80.0]]))
        .unwrap();
    assert_close(
        &output(&m.transform(&input(&[vec![30.0, 50.0]])).unwrap())[0],
        &[5.0, 5.0],
        0.0,
    );
    let bad = MinMaxScaler {
        params: MinMaxScalerParams {
            min: 2.0,
            max: 1.0,
            ..Default::default()
        },
    };
    let err = bad.fit(&input(&train)).unwrap_err();
    assert!(
        matches!(err, MlError::Param(ref e) if e.name == "max"),
        "{err}"
    );
}

fn sklearn() -> Value {
    serde_json::from_str(include_str!("reference/feature_sklearn.json")).unwrap()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect()
}

#[test]
fn kbins_discretizer_matches_sklearn() {
    let r = sklearn();
    let (x, xt) = (matrix(&r["X"]), matrix(&r["Xtest"]));
    for (name, strategy) in [
        ("uniform", KBinsStrategy::Uniform),
        ("quantile", KBinsStrategy::Quantile),
    ] {
        let exp = &r[format!("kbins_{name}")];
        let params = KBinsParams {
            n_bins: 4,
            strategy,
            columns: VectorColumns::default(),
        };
        let model = KBinsDiscretizer { params }.fit(&input(&x)).unwrap();
        for (edges, e) in model.bin_edges.iter().zip(matrix(&exp["edges"])) {
            assert_close(edges, &e, 1e-9);
        }
        assert_eq!(
            output(&model.transform(&input(&x)).unwrap()),
            matrix(&exp["train"]),
            "{name}"
        );
        assert_eq!(
            output(&model.transform(&input(&xt)).unwrap()),
            matrix(&exp["test"]),
            "{name}"
        );
    }
}

#[test]
fn max_abs_scaler_matches_sklearn() {
    let r = sklearn();
    let model = MaxAbsScaler::default()
        .fit(&input(&matrix(&r["X"])))
        .unwrap();
    let scale: Vec<f64> = r["maxabs"]["scale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_close(&model.scale, &scale, 1e-12);
    let out = output(&model.transform(&input(&matrix(&r["Xtest"]))).unwrap());
    assert_close(&out.concat(), &matrix(&r["maxabs"]["test"]).concat(), 1e-12);
}

#[test]
fn imputer_matches_sklearn() {
    let r = sklearn();
    let m = matrix(&r["impute_input"]);
    let names: Vec<String> = (0..3).map(|j| format!("c{j}")).collect();
    let mut frame = Frame::new();
    for (j, n) in names.iter().enumerate() {
        frame
            .set(n.clone(), Column::F64(m.iter().map(|row| row[j]).collect()))
            .unwrap();
    }
    for (key, strategy) in [
        ("mean", ImputerStrategy::Mean),
        ("median", ImputerStrategy::Median),
        ("most_frequent", ImputerStrategy::MostFrequent),
    ] {
        let params = ImputerParams {
            input_cols: names.clone(),
            output_cols: names.clone(),
            strategy,
        };
        let out = Imputer { params }
            .fit(&frame)
            .unwrap()
            .transform(&frame)
            .unwrap();
        let expected = matrix(&r[format!("impute_{key}")]);
        for (j, n) in names.iter().enumerate() {
            let col: Vec<f64> = expected.iter().map(|row| row[j]).collect();
            assert_close(out.f64s(n).unwrap(), &col, 1e-12);
        }
    }
}

#[test]
fn one_hot_encoder_matches_sklearn() {
    let r = sklearn();
    let oh = &r["onehot"];
    let strs = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let ints = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let train = Frame::new()
        .with("color", Column::Str(strs(&oh["colors"])))
        .and_then(|f| f.with("size", Column::I64(ints(&oh["sizes"]))))
        .unwrap();
    let test = Frame::new()
        .with("color", Column::Str(strs(&oh["test_colors"])))
        .and_then(|f| f.with("size", Column::I64(ints(&oh["test_sizes"]))))
        .unwrap();
    let dense = |f: &Frame| -> Vec<Vec<f64>> {
        f.vectors("onehot")
            .unwrap()
            .iter()
            .map(|v| v.features().to_dense())
            .collect()
    };
    let params = OneHotParams {
        input_cols: vec!["color".into(), "size".into()],
        output_col: "onehot".into(),
        ignore_unknown: true,
        drop_first: false,
    };
    let model = OneHotEncoder {
        params: params.clone(),
    }
    .fit(&train)
    .unwrap();
    assert_eq!(
        dense(&model.transform(&train).unwrap()),
        matrix(&oh["train"])
    );
    assert_eq!(
        dense(&model.transform(&test).unwrap()),
        matrix(&oh["test_ignore"])
    );
    let strict = OneHotEncoder {
        params: OneHotParams {
            ignore_unknown: false,
            ..params.clone()
        },
    };
    let err = strict.fit(&train).unwrap().transform(&test).unwrap_err();
    assert!(
        matches!(err, MlError::UnseenValue { ref column, .. } if column == "color"),
        "{err}"
    );
    let drop = OneHotEncoder {
        params: OneHotParams {
            drop_first: true,
            ..params
        },
    };
    assert_eq!(
        dense(&drop.fit(&train).unwrap().transform(&train).unwrap()),
        matrix(&oh["train_drop_first"])
    );
}

/// Fits 5 bins of `strategy` on the case `name` of the reference and checks the edges (to
/// `1e-6` of the range) and the bins of the case's own values.
fn assert_kbins_case(name: &str, strategy: KBinsStrategy) {
    let r = sklearn();
    let exp = &r[name];
    let x = matrix(&exp["X"]);
    let params = KBinsParams {
        n_bins: 5,
        strategy,
        columns: VectorColumns::default(),
    };
    let model = KBinsDiscretizer { params }.fit(&input(&x)).unwrap();
    let edges = &matrix(&exp["edges"])[0];
    let range = edges[edges.len() - 1] - edges[0];
    assert_close(&model.bin_edges[0], edges, 1e-6 * range);
    assert_eq!(
        output(&model.transform(&input(&x)).unwrap()),
        matrix(&exp["bins"]),
        "{name}"
    );
}

#[test]
fn kbins_discretizer_bins_values_at_and_just_below_edges_as_sklearn_1_9() {
    assert_kbins_case("kbins_near_edges", KBinsStrategy::Uniform);
}

#[test]
fn kbins_discretizer_drops_narrow_bins_only_for_quantiles_as_sklearn() {
    assert_kbins_case("kbins_narrow_uniform", KBinsStrategy::Uniform);
    assert_kbins_case("kbins_narrow_quantile", KBinsStrategy::Quantile);
}

//! NaN and infinite numbers inside the ML stages: each stage treats one exactly as a null in
//! the same place. A non-finite feature gives the row null outputs and teaches nothing (the
//! hasher skips it, as a null); a non-finite label or rating is predicted but not learnt.

#[allow(dead_code)]
#[path = "ml_stages/support.rs"]
mod support;

use quiver_protocol::spec::{
    FeatureInput, KMeansStage, LearnerColumns, ServingPolicy, StageKind, VectorAssemblerStage,
};
use quiver_protocol::{Row, Value, ValueType};
use support::{build, build_kind, dense, run};

/// NaN, +inf and -inf in turn.
fn non_finite(i: usize) -> f64 {
    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][i % 3]
}

const XY: &str = r#"{ x1 = "f64", x2 = "f64", y = "f64" }"#;

/// Rows `x1, x2, y` (y = 1 when x1 + x2 / 2 > 0); with `bad` set, some rows hold `bad(i)`
/// in x1, x2 or y, else a null there: the twin stream a stage must treat the same.
fn rows(n: usize, bad: Option<fn(usize) -> f64>) -> Vec<Row> {
    let hole = |i: usize| bad.map_or(Value::Null, |f| Value::F64(f(i)));
    (0..n)
        .map(|i| {
            let x1 = ((i * 37) % 101) as f64 / 50.0 - 1.0;
            let x2 = ((i * 53) % 97) as f64 / 48.0 - 1.0;
            let y = f64::from(u8::from(x1 + 0.5 * x2 > 0.0));
            vec![
                if i % 17 == 5 { hole(i) } else { Value::F64(x1) },
                if i % 23 == 11 {
                    hole(i)
                } else {
                    Value::F64(x2)
                },
                if i % 19 == 7 { hole(i) } else { Value::F64(y) },
            ]
        })
        .collect()
}

/// The columns a stage added to each row.
fn added(out: &[Row], from: usize) -> Vec<Row> {
    out.iter().map(|r| r[from..].to_vec()).collect()
}

#[test]
fn a_nan_price_does_not_silence_the_scaler_for_the_rows_after_it() {
    // 200 prices, the fifth NaN: before, the deviation went NaN and the 195 later rows all
    // scaled to 0.0.
    let prices: Vec<f64> = (0..200).map(|i| 10.0 + f64::from(i % 9)).collect();
    let rows: Vec<Row> = (0..200)
        .map(|i| vec![Value::F64(if i == 4 { f64::NAN } else { prices[i] })])
        .collect();
    let table = "kind = \"standard_scaler\"\ncolumns = [\"price\"]\noutput = \"f\"";
    let out = run(&mut *build(r#"{ price = "f64" }"#, table), &rows, 16);
    assert_eq!(out[4][1], Value::Null);
    let mut seen = Vec::new();
    for (i, row) in out.iter().enumerate().filter(|(i, _)| *i != 4) {
        // with_std only: price / sample deviation of the prices learnt before it (0 for one;
        // the first row is learnt before it is scaled).
        if seen.is_empty() {
            seen.push(prices[i]);
        }
        let n = seen.len() as f64;
        let mean = seen.iter().sum::<f64>() / n;
        let var = seen.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let expected = if seen.len() < 2 {
            0.0
        } else {
            prices[i] / var.sqrt()
        };
        let Value::Dense(scaled) = &row[1] else {
            panic!("row {i}: a dense vector, got {:?}", row[1])
        };
        assert!(
            (scaled[0] - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "row {i}: {} vs {expected}",
            scaled[0]
        );
        if i > 0 {
            seen.push(prices[i]);
        }
    }
}

#[test]
fn every_stage_treats_a_non_finite_feature_or_label_as_a_null() {
    let tables = [
        "kind = \"standard_scaler\"\ncolumns = [\"x1\", \"x2\"]\noutput = \"f\"\nwith_mean = true\nwindow = 20",
        "kind = \"vector_assembler\"\ncolumns = [\"x1\", \"x2\", \"y\"]\noutput = \"f\"",
        "kind = \"feature_hasher\"\ncolumns = [\"x1\", \"x2\", \"y\"]\nnum_features = 64\noutput = \"h\"",
        "kind = \"feature_hasher\"\ncolumns = [\"x1\", \"x2\"]\ncategorical = [\"x2\"]\nnum_features = 64\noutput = \"h\"",
        "kind = \"kmeans\"\nfeatures = [\"x1\", \"x2\"]\nk = 3\nglobal_batch_size = 4\nseed = 5",
        "kind = \"logistic_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"\nglobal_batch_size = 4",
        "kind = \"linear_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"\nlearning_rate = 0.1",
    ];
    let (with_bad, with_null) = (rows(300, Some(non_finite)), rows(300, None));
    for table in tables {
        let out_bad = run(&mut *build(XY, table), &with_bad, 7);
        let out_null = run(&mut *build(XY, table), &with_null, 7);
        assert_eq!(added(&out_bad, 3), added(&out_null, 3), "{table}");
        // And the non-finite rows did not stop the stage: the last row has a finite output.
        let last = &out_bad[299][3];
        assert!(!matches!(last, Value::Null), "{table}: {last:?}");
    }
}

#[test]
fn a_vector_with_a_non_finite_entry_is_a_null_feature() {
    let vector_rows = |bad: bool| -> Vec<Row> {
        (0..120)
            .map(|i| {
                let x = [0.1 * (i % 10) as f64, 0.05 * (i % 7) as f64];
                match (i % 13 == 6, bad) {
                    (true, true) => vec![dense(&[x[0], non_finite(i)])],
                    (true, false) => vec![Value::Null],
                    _ => vec![dense(&x)],
                }
            })
            .collect()
    };
    let kinds = [
        StageKind::KMeans(KMeansStage {
            features: FeatureInput::Vector("v".to_string()),
            k: 2,
            decay_factor: 0.5,
            global_batch_size: 5,
            seed: 3,
            parameter_shards: None,
            outputs: LearnerColumns::default(),
            policy: ServingPolicy::default(),
        }),
        StageKind::VectorAssembler(VectorAssemblerStage {
            columns: vec!["v".to_string()],
            output: "out".to_string(),
        }),
    ];
    for kind in kinds {
        let input = [("v", ValueType::Dense)];
        let out_bad = run(
            &mut *build_kind(kind.clone(), &input),
            &vector_rows(true),
            8,
        );
        let out_null = run(&mut *build_kind(kind, &input), &vector_rows(false), 8);
        assert_eq!(added(&out_bad, 1), added(&out_null, 1));
    }
}

#[test]
fn a_non_finite_rating_is_predicted_but_not_learnt() {
    let ratings = |bad: bool| -> Vec<Row> {
        (0..200i64)
            .map(|i| {
                let rating = match (i % 11 == 10, bad) {
                    (true, true) => Value::F64(non_finite(i as usize)),
                    (true, false) => Value::Null,
                    _ => Value::F64(((i * 7) % 5) as f64 + 1.0),
                };
                vec![Value::I64(i % 13), Value::I64(i % 17), rating]
            })
            .collect()
    };
    let table = "kind = \"matrix_factorization\"\nuser = \"u\"\nitem = \"i\"\nrating = \"r\"";
    let schema = r#"{ u = "i64", i = "i64", r = "f64" }"#;
    let out_bad = run(&mut *build(schema, table), &ratings(true), 9);
    let out_null = run(&mut *build(schema, table), &ratings(false), 9);
    assert_eq!(added(&out_bad, 3), added(&out_null, 3));
    // Rows with a non-finite rating still get a (finite) prediction.
    assert!(matches!(out_bad[10][3], Value::F64(p) if p.is_finite()));
}

/// A learner whose every step would put a weight beyond the parameter bound (1e12) refuses
/// each update and counts it; the rows are still scored, by the model as it was (zero
/// weights, no label learnt: 0, version 0), and the stage goes on. Before, the first refusal
/// failed the job.
#[test]
fn a_diverging_learner_refuses_and_counts_its_updates_and_scores_every_row() {
    let rows: Vec<Row> = (0..50)
        .map(|_| vec![Value::F64(1e15), Value::F64(-1e15), Value::F64(1.0)])
        .collect();
    let table = "kind = \"linear_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"";
    let mut op = build(XY, table);
    let out = run(&mut *op, &rows, 7);
    for row in &out {
        assert_eq!(row[3..], [Value::F64(0.0), Value::I64(0)]);
    }
    assert_eq!(op.refused_updates(), 50);
}

//! The ML stages on columnar batches built column by column: validity bitmaps, dense and
//! sparse vector columns, i64 / bool / f64 / string inputs. Each stage's added columns are
//! checked against hand-computed values or the `quiver-ml` library run row by row on the same
//! values; the input's columns come out shared, not copied; malformed input (a wrong
//! dimension, a malformed sparse vector, a column of the wrong type, a batch of another
//! width) fails with an error naming the stage, and NaN reads as a null.

#[allow(dead_code)]
#[path = "ml_stages/support.rs"]
mod support;

use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::feature::{FeatureHasher, FeatureHasherParams, HashValue};
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd,
};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{Features, OnlineLearner, OnlineModel, SparseView};
use quiver_node::operator::{Operator, Output};
use quiver_protocol::batch::{
    value_type, Batch, Column, ColumnBuilder, ColumnData, ColumnType, SparseColumn, ValueRef,
};
use quiver_protocol::spec::{
    FeatureHasherStage, FeatureInput, KMeansStage, LearnerColumns, LinearOptimizer,
    LinearRegressionStage, LogisticRegressionStage, MatrixFactorizationStage, MfModel, OneHotStage,
    ServingPolicy, StageKind, StandardScalerStage, VectorAssemblerStage,
};
use quiver_protocol::ValueType;
use support::build_kind;
use ValueRef::{Bool, Dense, Null, Str, F64, I64};

/// A column of `ty` holding `values`.
fn column(ty: ColumnType, values: &[ValueRef<'_>]) -> Column {
    let mut b = ColumnBuilder::new(ty, values.len());
    for &v in values {
        b.push(v).unwrap();
    }
    b.finish()
}

/// A sparse vector value.
fn sparse<'a>(dim: u32, indices: &'a [u32], values: &'a [f64]) -> ValueRef<'a> {
    ValueRef::Sparse {
        dim,
        indices,
        values,
    }
}

/// A batch of `columns`, event times 100, 101, ...
fn batch(columns: Vec<Column>) -> Batch {
    let n = columns[0].len() as i64;
    Batch::try_new((100..100 + n).collect(), columns).unwrap()
}

/// The input schema of `batch`: its columns named `names`, with their types.
fn schema_of(names: &[&'static str], batch: &Batch) -> Vec<(&'static str, ValueType)> {
    names
        .iter()
        .zip(batch.columns())
        .map(|(&name, c)| (name, value_type(c.ty())))
        .collect()
}

/// The one batch `op` emits for `input`.
fn run(op: &mut dyn Operator, input: &Batch) -> Batch {
    let mut out = Output::default();
    op.process_batch(input, &mut out)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.records.len(), 1);
    out.records.remove(0)
}

/// The error `op` gives for `input`.
fn error(op: &mut dyn Operator, input: &Batch) -> String {
    op.process_batch(input, &mut Output::default())
        .unwrap_err()
        .to_string()
}

/// The values of column `c` of `batch`.
fn values(batch: &Batch, c: usize) -> Vec<ValueRef<'_>> {
    (0..batch.len()).map(|r| batch.column(c).get(r)).collect()
}

fn scaler(input: FeatureInput, with_mean: bool) -> StageKind {
    StageKind::StandardScaler(StandardScalerStage {
        columns: input,
        output: "out".to_string(),
        with_mean,
        with_std: true,
        window: None,
    })
}

fn vector(name: &str) -> FeatureInput {
    FeatureInput::Vector(name.to_string())
}

/// Standardised `x` by the naive mean and sample deviation of `seen` (0 with one row seen).
fn standardised(seen: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    let n = seen.len() as f64;
    (0..x.len())
        .map(|d| {
            let mean = seen.iter().map(|r| r[d]).sum::<f64>() / n;
            let var = seen.iter().map(|r| (r[d] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            if seen.len() < 2 {
                0.0
            } else {
                (x[d] - mean) / var.sqrt()
            }
        })
        .collect()
}

/// What the scaler stage emits for `x` after the rows `before`: `x` standardised by the rows
/// before it, or by itself alone when it is the first (zeros).
fn progressive(before: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    if before.is_empty() {
        standardised(&[x.to_vec()], x)
    } else {
        standardised(before, x)
    }
}

fn assert_close(found: ValueRef<'_>, expected: &[f64]) {
    let Dense(found) = found else {
        panic!("a dense vector, got {found:?}")
    };
    assert_eq!(found.len(), expected.len());
    for (a, b) in found.iter().zip(expected) {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "{found:?} vs {expected:?}"
        );
    }
}

#[test]
fn the_input_columns_and_event_times_come_out_shared_not_copied() {
    let input = batch(vec![
        column(ColumnType::F64, &[F64(1.0), Null, F64(3.0)]),
        column(ColumnType::Dense, &[Dense(&[1.0]), Dense(&[2.0]), Null]),
    ]);
    let mut op = build_kind(
        scaler(vector("v"), true),
        &[("a", ValueType::F64), ("v", ValueType::Dense)],
    );
    let out = run(&mut *op, &input);
    assert_eq!(out.columns().len(), 3);
    assert_eq!(out.event_time().as_ptr(), input.event_time().as_ptr());
    let f64s = |b: &Batch| b.column(0).as_f64().unwrap().as_ptr();
    assert_eq!(f64s(&out), f64s(&input));
    let dense = |b: &Batch| match &b.column(1).data {
        ColumnData::Dense(d) => d.values.as_ptr(),
        _ => panic!("dense"),
    };
    assert_eq!(dense(&out), dense(&input));
    assert_eq!(out.column(1).nulls, input.column(1).nulls);
}

#[test]
fn scaler_reads_a_dense_column_with_nulls_and_a_nan_entry_as_nulls() {
    let rows: [Option<&[f64]>; 6] = [
        Some(&[1.0, 2.0]),
        None,
        Some(&[3.0, f64::NAN]),
        Some(&[5.0, 10.0]),
        Some(&[2.0, 4.0]),
        Some(&[-1.0, 0.5]),
    ];
    let values: Vec<ValueRef<'_>> = rows.iter().map(|r| r.map_or(Null, Dense)).collect();
    let input = batch(vec![column(ColumnType::Dense, &values)]);
    let mut op = build_kind(scaler(vector("v"), true), &[("v", ValueType::Dense)]);
    let out = run(&mut *op, &input);
    let mut seen: Vec<Vec<f64>> = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        match row {
            Some(x) if x.iter().all(|v| v.is_finite()) => {
                assert_close(out.column(1).get(r), &progressive(&seen, x));
                seen.push(x.to_vec());
            }
            _ => assert_eq!(out.column(1).get(r), Null, "row {r}"),
        }
    }
}

#[test]
fn scaler_reads_a_sparse_column_as_its_dense_equivalent() {
    let rows: [(&[u32], &[f64]); 4] = [
        (&[0, 2], &[1.0, 4.0]),
        (&[1], &[3.0]),
        (&[], &[]),
        (&[0, 1, 2], &[2.0, -1.0, 8.0]),
    ];
    let values: Vec<ValueRef<'_>> = rows.iter().map(|(i, v)| sparse(3, i, v)).collect();
    let input = batch(vec![column(ColumnType::Sparse, &values)]);
    let mut op = build_kind(scaler(vector("v"), true), &[("v", ValueType::Sparse)]);
    let out = run(&mut *op, &input);
    let mut seen: Vec<Vec<f64>> = Vec::new();
    for (r, (indices, vals)) in rows.iter().enumerate() {
        let mut x = vec![0.0; 3];
        for (&i, &v) in indices.iter().zip(*vals) {
            x[i as usize] = v;
        }
        assert_close(out.column(1).get(r), &progressive(&seen, &x));
        seen.push(x);
    }
}

#[test]
fn a_vector_of_another_dimension_fails_naming_the_stage_and_the_row() {
    let input = batch(vec![column(
        ColumnType::Dense,
        &[Dense(&[1.0, 2.0]), Dense(&[1.0, 2.0, 3.0])],
    )]);
    let mut op = build_kind(scaler(vector("v"), true), &[("v", ValueType::Dense)]);
    assert_eq!(
        error(&mut *op, &input),
        "stage \"s\": row at event time 101: feature vector has dimension 3, the model expects 2"
    );
}

#[test]
fn logistic_regression_on_a_dense_column_with_null_features_and_labels_is_the_library_run() {
    let xs: Vec<Option<[f64; 2]>> = (0..40)
        .map(|i| (i % 7 != 3).then(|| [f64::from(i % 5) - 2.0, f64::from(i % 3)]))
        .collect();
    let ys: Vec<Option<i64>> = (0..40)
        .map(|i| (i % 11 != 4).then_some(i64::from(i % 5 > 2)))
        .collect();
    let x_values: Vec<ValueRef<'_>> = xs
        .iter()
        .map(|x| x.as_ref().map_or(Null, |x| Dense(x)))
        .collect();
    let y_values: Vec<ValueRef<'_>> = ys.iter().map(|y| y.map_or(Null, I64)).collect();
    let input = batch(vec![
        column(ColumnType::Dense, &x_values),
        column(ColumnType::I64, &y_values),
    ]);
    let kind = StageKind::LogisticRegression(LogisticRegressionStage {
        features: vector("x"),
        label: "y".to_string(),
        optimizer: LinearOptimizer::Ftrl,
        learning_rate: 0.1,
        clip_gradient: 1e12,
        alpha: 0.1,
        beta: 0.1,
        reg: 0.0,
        elastic_net: 0.0,
        global_batch_size: 4,
        fit_intercept: true,
        outputs: LearnerColumns::default(),
        policy: Default::default(),
        parameter_shards: None,
    });
    let mut op = build_kind(kind, &[("x", ValueType::Dense), ("y", ValueType::I64)]);
    let out = run(&mut *op, &input);
    let params = FtrlParams {
        global_batch_size: 4,
        fit_intercept: true,
        ..FtrlParams::default()
    };
    let mut model = OnlineLogisticRegression::new(params, 2, None).unwrap();
    for (r, (x, y)) in xs.iter().zip(&ys).enumerate() {
        let version = I64(model.version().0 as i64);
        let expected = match x {
            None => [Null, Null, version],
            Some(x) => {
                let x = Features::Dense(x);
                let p = match y {
                    Some(y) => model.predict_then_learn(x, *y as f64),
                    None => model.predict_one(x),
                }
                .unwrap();
                [F64(p.value), F64(p.probability.unwrap()), version]
            }
        };
        assert_eq!(
            [
                out.column(2).get(r),
                out.column(3).get(r),
                out.column(4).get(r)
            ],
            expected,
            "row {r}"
        );
    }
}

#[test]
fn linear_regression_gathers_i64_bool_and_f64_columns_with_nulls_as_the_library_run() {
    let n = 30;
    let a: Vec<Option<i64>> = (0..n).map(|i| (i % 6 != 1).then_some(i % 4)).collect();
    let b: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
    let c: Vec<f64> = (0..n)
        .map(|i| if i == 9 { f64::NAN } else { 0.5 * i as f64 })
        .collect();
    let y: Vec<f64> = (0..n).map(|i| 2.0 - 0.1 * i as f64).collect();
    let input = batch(vec![
        column(
            ColumnType::I64,
            &a.iter().map(|x| x.map_or(Null, I64)).collect::<Vec<_>>(),
        ),
        column(
            ColumnType::Bool,
            &b.iter().map(|&x| Bool(x)).collect::<Vec<_>>(),
        ),
        column(
            ColumnType::F64,
            &c.iter().map(|&x| F64(x)).collect::<Vec<_>>(),
        ),
        column(
            ColumnType::F64,
            &y.iter().map(|&x| F64(x)).collect::<Vec<_>>(),
        ),
    ]);
    let params = StreamingLinearRegressionParams {
        learning_rate: 0.01,
        l2: 0.0,
        fit_intercept: true,
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    let kind = StageKind::LinearRegression(LinearRegressionStage {
        features: FeatureInput::Columns(["a", "b", "c"].map(String::from).to_vec()),
        label: "y".to_string(),
        optimizer: LinearOptimizer::Sgd,
        clip_gradient: params.clip_gradient,
        learning_rate: params.learning_rate,
        l2: params.l2,
        fit_intercept: params.fit_intercept,
        center_label: params.center_label,
        outputs: LearnerColumns::default(),
        policy: Default::default(),
        parameter_shards: None,
    });
    let schema = schema_of(&["a", "b", "c", "y"], &input);
    let out = run(&mut *build_kind(kind, &schema), &input);
    let mut model = StreamingLinearRegressionSgd::new(params, 3).unwrap();
    for r in 0..n as usize {
        let version = I64(model.version().0 as i64);
        let expected = match a[r] {
            Some(a) if c[r].is_finite() => {
                let x = [a as f64, f64::from(u8::from(b[r])), c[r]];
                let p = model.predict_then_learn(Features::Dense(&x), y[r]).unwrap();
                [F64(p.value), version]
            }
            _ => [Null, version],
        };
        assert_eq!(
            [out.column(4).get(r), out.column(5).get(r)],
            expected,
            "row {r}"
        );
    }
}

#[test]
fn kmeans_on_a_sparse_column_with_a_null_row_is_the_library_run() {
    let rows: Vec<Option<(Vec<u32>, Vec<f64>)>> = (0..24u32)
        .map(|i| (i % 9 != 5).then(|| (vec![i % 3], vec![0.2 + f64::from(i % 4) / 5.0])))
        .collect();
    let values: Vec<ValueRef<'_>> = rows
        .iter()
        .map(|r| r.as_ref().map_or(Null, |(i, v)| sparse(3, i, v)))
        .collect();
    let input = batch(vec![column(ColumnType::Sparse, &values)]);
    let kind = StageKind::KMeans(KMeansStage {
        features: vector("v"),
        k: 2,
        decay_factor: 0.5,
        global_batch_size: 4,
        seed: 5,
        parameter_shards: None,
        outputs: LearnerColumns::default(),
        policy: ServingPolicy::default(),
    });
    let out = run(&mut *build_kind(kind, &[("v", ValueType::Sparse)]), &input);
    let params = OnlineKMeansParams {
        global_batch_size: 4,
        decay_factor: 0.5,
        ..OnlineKMeansParams::default()
    };
    let mut model = OnlineKMeans::random(params, 2, 3, 0.0, 5).unwrap();
    for (r, row) in rows.iter().enumerate() {
        let version = I64(model.version().0 as i64);
        let expected = match row {
            None => [Null, Null, version],
            Some((indices, values)) => {
                let x = Features::Sparse(SparseView {
                    dim: 3,
                    indices,
                    values,
                });
                let cluster = model.predict_one(x).unwrap();
                model.learn_one(x).unwrap();
                [I64(cluster as i64), F64(cluster as f64), version]
            }
        };
        assert_eq!(
            [
                out.column(1).get(r),
                out.column(2).get(r),
                out.column(3).get(r)
            ],
            expected,
            "row {r}"
        );
    }
}

/// 64-bit FNV-1a, as the stage documents for string ids.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[test]
fn matrix_factorization_of_string_ids_with_nulls_is_the_library_run() {
    let users = ["ann", "bob", "", "cy", "ann", "bob", "dee", "cy"];
    let items = ["x", "y", "x", "", "y", "x", "z", "z"];
    let ratings = [4.0, 2.0, 5.0, 1.0, f64::NAN, 3.0, 5.0, 2.5];
    let ids = |v: &[&'static str]| -> Column {
        let values: Vec<ValueRef<'_>> = v
            .iter()
            .map(|s| if s.is_empty() { Null } else { Str(s) })
            .collect();
        column(ColumnType::Str, &values)
    };
    let input = batch(vec![
        ids(&users),
        ids(&items),
        column(
            ColumnType::F64,
            &ratings.iter().map(|&r| F64(r)).collect::<Vec<_>>(),
        ),
    ]);
    let p = MfParams::biased_mf();
    let kind = StageKind::MatrixFactorization(MatrixFactorizationStage {
        user: "u".to_string(),
        item: "i".to_string(),
        rating: "r".to_string(),
        model: MfModel::BiasedMf,
        n_factors: p.n_factors as u64,
        bias_learning_rate: p.bias_learning_rate,
        latent_learning_rate: p.latent_learning_rate,
        l2_bias: p.l2_bias,
        l2_latent: p.l2_latent,
        init_std: p.init_std,
        clip_gradient: p.clip_gradient,
        seed: p.seed,
        parameter_shards: None,
        outputs: LearnerColumns::default(),
        policy: ServingPolicy::default(),
    });
    let schema = schema_of(&["u", "i", "r"], &input);
    let out = run(&mut *build_kind(kind, &schema), &input);
    let mut model = MatrixFactorization::new(p).unwrap();
    for r in 0..users.len() {
        let version = I64(model.version().0 as i64);
        let expected = if users[r].is_empty() || items[r].is_empty() {
            [Null, version]
        } else {
            let (u, i) = (fnv1a(users[r]), fnv1a(items[r]));
            let prediction = model.predict_one(u, i);
            if ratings[r].is_finite() {
                model.learn_one(u, i, ratings[r]).unwrap();
            }
            [F64(prediction), version]
        };
        assert_eq!(
            [out.column(3).get(r), out.column(4).get(r)],
            expected,
            "row {r}"
        );
    }
}

#[test]
fn hasher_skips_nulls_and_nan_and_hashes_as_the_library_does() {
    let names = ["n", "x", "s", "b"];
    let n = [I64(3), Null, I64(-7)];
    let x = [F64(1.5), F64(f64::NAN), Null];
    let s = [Str("a"), Null, Str("é")];
    let b = [Bool(true), Bool(false), Null];
    let input = batch(vec![
        column(ColumnType::I64, &n),
        column(ColumnType::F64, &x),
        column(ColumnType::Str, &s),
        column(ColumnType::Bool, &b),
    ]);
    let kind = StageKind::FeatureHasher(FeatureHasherStage {
        columns: names.map(String::from).to_vec(),
        categorical: vec!["n".to_string()],
        num_features: 64,
        output: "h".to_string(),
    });
    let schema = schema_of(&names, &input);
    let out = run(&mut *build_kind(kind, &schema), &input);
    let hasher = FeatureHasher::new(FeatureHasherParams {
        input_cols: names.map(String::from).to_vec(),
        categorical_cols: vec!["n".to_string()],
        num_features: 64,
        output_col: "h".to_string(),
    })
    .unwrap();
    // Row by row, each value as the library takes it (a NaN or a null: skipped).
    let rows: [[HashValue<'_>; 4]; 3] = [
        [
            HashValue::Int(3),
            HashValue::Num(1.5),
            HashValue::Str("a"),
            HashValue::Bool(true),
        ],
        [
            HashValue::Null,
            HashValue::Null,
            HashValue::Null,
            HashValue::Bool(false),
        ],
        [
            HashValue::Int(-7),
            HashValue::Null,
            HashValue::Str("é"),
            HashValue::Null,
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        let pairs: Vec<(&str, HashValue<'_>)> = names.iter().copied().zip(*row).collect();
        let mut expected = quiver_ml::SparseVector::default();
        hasher.hash_into(&pairs, &mut expected).unwrap();
        assert_eq!(
            out.column(4).get(r),
            sparse(64, &expected.indices, &expected.values),
            "row {r}"
        );
    }
}

#[test]
fn assembler_concatenates_i64_dense_sparse_and_bool_columns_with_nulls() {
    let input = batch(vec![
        column(ColumnType::I64, &[I64(2), I64(-1), I64(0)]),
        column(
            ColumnType::Dense,
            &[Dense(&[0.5, 1.5]), Null, Dense(&[f64::NAN])],
        ),
        column(
            ColumnType::Sparse,
            &[
                sparse(3, &[2], &[9.0]),
                sparse(3, &[], &[]),
                sparse(2, &[0], &[1.0]),
            ],
        ),
        column(ColumnType::Bool, &[Bool(false), Bool(true), Bool(true)]),
    ]);
    let kind = StageKind::VectorAssembler(VectorAssemblerStage {
        columns: ["a", "d", "s", "b"].map(String::from).to_vec(),
        output: "out".to_string(),
    });
    let schema = schema_of(&["a", "d", "s", "b"], &input);
    let out = run(&mut *build_kind(kind, &schema), &input);
    assert_eq!(
        values(&out, 4),
        [Dense(&[2.0, 0.5, 1.5, 0.0, 0.0, 9.0, 0.0]), Null, Null]
    );
}

#[test]
fn one_hot_of_an_i64_column_with_nulls_numbers_categories_by_first_appearance() {
    let input = batch(vec![column(
        ColumnType::I64,
        &[I64(9), Null, I64(4), I64(9), I64(7), I64(4)],
    )]);
    let kind = StageKind::OneHot(OneHotStage {
        column: "c".to_string(),
        max_categories: 2,
        output: "o".to_string(),
    });
    let out = run(&mut *build_kind(kind, &[("c", ValueType::I64)]), &input);
    assert_eq!(
        values(&out, 1),
        [
            sparse(2, &[0], &[1.0]),
            Null,
            sparse(2, &[1], &[1.0]),
            sparse(2, &[0], &[1.0]),
            sparse(2, &[], &[]), // a third category: no room
            sparse(2, &[1], &[1.0]),
        ]
    );
}

#[test]
fn malformed_input_fails_with_an_error_naming_the_stage_and_the_column() {
    // A sparse vector whose indices decrease (the builder does not check; a decoder might).
    let bad_sparse = Column {
        data: ColumnData::Sparse(SparseColumn {
            dims: vec![4].into(),
            offsets: vec![0, 2].into(),
            indices: vec![3, 1].into(),
            values: vec![1.0, 1.0].into(),
        }),
        nulls: None,
    };
    let mut op = build_kind(scaler(vector("v"), false), &[("v", ValueType::Sparse)]);
    assert_eq!(
        error(&mut *op, &batch(vec![bad_sparse])),
        "stage \"s\": column \"v\" holds Sparse { dim: 4, indices: [3, 1], values: [1.0, 1.0] }, \
         expected a sparse vector with increasing indices below its dimension"
    );
    // A string where numbers are read; a null of that column would read as a null.
    let columns = FeatureInput::Columns(vec!["a".to_string()]);
    let mut op = build_kind(scaler(columns, false), &[("a", ValueType::F64)]);
    let strings = batch(vec![column(ColumnType::Str, &[Null, Str("7")])]);
    assert_eq!(
        error(&mut *op, &strings),
        "stage \"s\": column \"a\" holds Str(\"7\"), expected a number"
    );
    // A batch narrower than the stage's input.
    let mut op = build_kind(
        scaler(vector("v"), false),
        &[("a", ValueType::F64), ("v", ValueType::Dense)],
    );
    let narrow = batch(vec![column(ColumnType::F64, &[F64(1.0)])]);
    assert_eq!(
        error(&mut *op, &narrow),
        "stage \"s\": the batch has 1 columns, the stage's input 2"
    );
}

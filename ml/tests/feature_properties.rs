//! Invariants of feature stages, checked on random inputs, and their rejection of NaN and
//! infinite values (a rejected sample leaves a stage as it was).

use proptest::prelude::*;
use quiver_ml::feature::{
    Bucketizer, BucketizerParams, FeatureHasher, FeatureHasherParams, HandleInvalid, HashValue,
    Imputer, ImputerParams, ImputerStrategy, KBinsDiscretizer, KBinsParams, KBinsStrategy,
    MaxAbsScaler, MinMaxScaler, OneHotEncoder, OneHotParams, OnlineStandardScaler, StandardScaler,
    StandardScalerParams, VectorAssembler, VectorAssemblerParams,
};
use quiver_ml::finite::Position;
use quiver_ml::{
    Column, Estimator, Features, Frame, MlError, NonFinite, SparseVector, Transformer, Vector,
};

proptest! {
    /// inverse(transform(x)) == x for a scaler fitted with mean and std.
    #[test]
    fn standard_scaler_inverse_recovers_input(rows in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 3), 2..30)) {
        let frame = Frame::new().with("features", Column::Vector(rows.iter().map(|r| Vector::Dense(r.clone())).collect())).unwrap();
        let params = StandardScalerParams { with_mean: true, ..Default::default() };
        let model = StandardScaler { params }.fit(&frame).unwrap();
        let (mut y, mut back) = (vec![0.0; 3], vec![0.0; 3]);
        for r in &rows {
            model.transform_one(Features::Dense(r), &mut y).unwrap();
            model.inverse_one(&y, &mut back).unwrap();
            for j in 0..3 {
                if model.std[j] > 0.0 {
                    prop_assert!((back[j] - r[j]).abs() <= 1e-9 * (1.0 + r[j].abs()));
                }
            }
        }
    }

    /// Every hashed index is below num_features; indices are strictly increasing; the
    /// values add up to the numeric values plus one per categorical value.
    #[test]
    fn hasher_indices_stay_in_range(n in 1u32..5000, words in prop::collection::vec("[a-z]{0,6}", 0..8), nums in prop::collection::vec(-10.0f64..10.0, 0..4)) {
        let hasher = FeatureHasher::new(FeatureHasherParams { num_features: n, ..Default::default() }).unwrap();
        let names: Vec<String> = (0..words.len() + nums.len()).map(|i| format!("c{i}")).collect();
        let mut row: Vec<(&str, HashValue<'_>)> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            row.push((&names[i], HashValue::Str(w)));
        }
        for (k, x) in nums.iter().enumerate() {
            row.push((&names[words.len() + k], HashValue::Num(*x)));
        }
        let mut out = SparseVector::zeros(0);
        hasher.hash_into(&row, &mut out).unwrap();
        prop_assert_eq!(out.dim, n);
        prop_assert!(out.view().is_well_formed());
        let total: f64 = out.values.iter().sum();
        let expected = words.len() as f64 + nums.iter().sum::<f64>();
        prop_assert!((total - expected).abs() < 1e-9);
    }
}

/// The three non-finite values every stage must reject.
const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

fn dense_frame(rows: &[Vec<f64>]) -> Frame {
    let column = Column::Vector(rows.iter().map(|r| Vector::Dense(r.clone())).collect());
    Frame::new().with("features", column).unwrap()
}

/// The error a stage must give for `value` at entry `entry` of row `row` of `input`.
fn cell_error(row: usize, entry: usize, value: f64) -> impl Fn(&MlError) -> bool {
    move |e| match e {
        MlError::NonFinite(NonFinite {
            at:
                Position::Cell {
                    column,
                    row: r,
                    entry: Some(en),
                },
            value: v,
        }) => column == "features" && *r == row && *en == entry && v.to_bits() == value.to_bits(),
        _ => false,
    }
}

fn is_feature_error(e: &MlError, index: usize) -> bool {
    matches!(e, MlError::NonFinite(NonFinite { at: Position::Feature(i), .. }) if *i == index)
}

#[test]
fn online_standard_scaler_rejects_a_non_finite_sample_and_keeps_its_state() {
    for window in [None, Some(3)] {
        for bad in NON_FINITE {
            let mut scaler =
                OnlineStandardScaler::new(StandardScalerParams::default(), window).unwrap();
            scaler.learn_one(Features::Dense(&[1.0, 2.0])).unwrap();
            scaler.learn_one(Features::Dense(&[3.0, 4.0])).unwrap();
            let before = scaler.clone();
            let err = scaler.learn_one(Features::Dense(&[5.0, bad])).unwrap_err();
            assert!(is_feature_error(&err, 1), "{err}");
            assert_eq!(scaler, before, "a rejected sample changed the state");
            // Learning goes on as if the sample never came: x0 = 1, 3, 5 and x1 = 2, 4, 6
            // have sample deviation 2, so 5 and 6 scale to 2.5 and 3.
            scaler.learn_one(Features::Dense(&[5.0, 6.0])).unwrap();
            assert_eq!(scaler.std(), vec![2.0, 2.0]);
            let mut out = [0.0; 2];
            scaler
                .transform_one(Features::Dense(&[5.0, 6.0]), &mut out)
                .unwrap();
            assert_eq!(out, [2.5, 3.0]);
            let err = scaler
                .transform_one(Features::Dense(&[bad, 1.0]), &mut out)
                .unwrap_err();
            assert!(is_feature_error(&err, 0), "{err}");
        }
    }
}

#[test]
fn a_sparse_non_finite_entry_is_named_by_its_feature_index() {
    let mut scaler = OnlineStandardScaler::new(StandardScalerParams::default(), None).unwrap();
    let x = SparseVector {
        dim: 10,
        indices: vec![2, 7],
        values: vec![1.0, f64::NAN],
    };
    let err = scaler.learn_one(Features::from(&x)).unwrap_err();
    assert!(is_feature_error(&err, 7), "{err}");
    assert_eq!(scaler.count(), 0);
}

#[test]
fn batch_scalers_and_discretizer_reject_a_non_finite_value_in_fit_and_transform() {
    let good = vec![vec![1.0, 2.0], vec![3.0, 5.0], vec![4.0, 9.0]];
    let kbins = KBinsDiscretizer {
        params: KBinsParams {
            n_bins: 2,
            ..Default::default()
        },
    };
    for bad in NON_FINITE {
        let mut rows = good.clone();
        rows[2][1] = bad;
        let frame = dense_frame(&rows);
        let fits: [(&str, Result<(), MlError>); 4] = [
            ("standard", StandardScaler::default().fit(&frame).map(drop)),
            ("min_max", MinMaxScaler::default().fit(&frame).map(drop)),
            ("max_abs", MaxAbsScaler::default().fit(&frame).map(drop)),
            ("kbins", kbins.fit(&frame).map(drop)),
        ];
        for (name, fit) in fits {
            let err = fit.expect_err(name);
            assert!(cell_error(2, 1, bad)(&err), "{name}: {err}");
        }
        let clean = dense_frame(&good);
        let transforms: [(&str, Result<Frame, MlError>); 4] = [
            (
                "standard",
                StandardScaler::default()
                    .fit(&clean)
                    .unwrap()
                    .transform(&frame),
            ),
            (
                "min_max",
                MinMaxScaler::default()
                    .fit(&clean)
                    .unwrap()
                    .transform(&frame),
            ),
            (
                "max_abs",
                MaxAbsScaler::default()
                    .fit(&clean)
                    .unwrap()
                    .transform(&frame),
            ),
            ("kbins", kbins.fit(&clean).unwrap().transform(&frame)),
        ];
        for (name, out) in transforms {
            let err = out.expect_err(name);
            assert!(cell_error(2, 1, bad)(&err), "{name}: {err}");
        }
        let model = StandardScaler::default().fit(&clean).unwrap();
        let mut out = [0.0; 2];
        let err = model
            .transform_one(Features::Dense(&[bad, 0.0]), &mut out)
            .unwrap_err();
        assert!(is_feature_error(&err, 0), "{err}");
        let err = model.inverse_one(&[0.0, bad], &mut out).unwrap_err();
        assert!(is_feature_error(&err, 1), "{err}");
        let min_max = MinMaxScaler::default().fit(&clean).unwrap();
        let err = min_max.transform_one(&[0.0, bad], &mut out).unwrap_err();
        assert!(is_feature_error(&err, 1), "{err}");
        let err = kbins.fit(&clean).unwrap().bin(0, bad).unwrap_err();
        assert!(is_feature_error(&err, 0));
    }
}

#[test]
fn fitted_statistics_that_overflow_are_an_error_not_a_model() {
    let overflows = |r: Result<(), MlError>| matches!(r, Err(MlError::Overflow { .. }));
    // (1e200 - 0)² overflows: the deviation would be inf and every value would scale to 0.
    let big = dense_frame(&[vec![1e200], vec![-1e200]]);
    assert!(overflows(StandardScaler::default().fit(&big).map(drop)));
    let mut online = OnlineStandardScaler::new(StandardScalerParams::default(), None).unwrap();
    online.learn_one(Features::Dense(&[1e200])).unwrap();
    let before = online.clone();
    assert!(overflows(online.learn_one(Features::Dense(&[-1e200]))));
    assert_eq!(online, before);
    // max - min = 2e308 overflows: every value would map to the low end.
    let wide = dense_frame(&[vec![-1e308], vec![1e308], vec![0.0]]);
    assert!(overflows(MinMaxScaler::default().fit(&wide).map(drop)));
    let uniform = KBinsDiscretizer {
        params: KBinsParams {
            n_bins: 2,
            strategy: KBinsStrategy::Uniform,
            ..Default::default()
        },
    };
    assert!(overflows(uniform.fit(&wide).map(drop)));
    // Large but representable statistics fit: max |x| = 1e300 scales to 1.
    let model = MaxAbsScaler::default()
        .fit(&dense_frame(&[vec![1e300], vec![-5e299]]))
        .unwrap();
    assert_eq!(model.scale, vec![1e300]);
}

fn floats(name: &str, values: &[f64]) -> Frame {
    Frame::new()
        .with(name, Column::F64(values.to_vec()))
        .unwrap()
}

/// `e` is the non-finite error for row `row` of number column `column`.
fn is_number_cell(e: &MlError, column: &str, row: usize) -> bool {
    matches!(e, MlError::NonFinite(NonFinite { at: Position::Cell { column: c, row: r, entry: None }, .. }) if c == column && *r == row)
}

#[test]
fn imputer_fills_missing_nan_but_rejects_infinities() {
    let imputer = |strategy| Imputer {
        params: ImputerParams {
            input_cols: vec!["x".into()],
            output_cols: vec!["y".into()],
            strategy,
        },
    };
    // NaN is a missing value: the mean of 1 and 3 fills it.
    let model = imputer(ImputerStrategy::Mean)
        .fit(&floats("x", &[1.0, f64::NAN, 3.0]))
        .unwrap();
    let out = model.transform(&floats("x", &[f64::NAN, 5.0])).unwrap();
    assert_eq!(out.f64s("y").unwrap(), &[2.0, 5.0]);
    for inf in [f64::INFINITY, f64::NEG_INFINITY] {
        let err = imputer(ImputerStrategy::Mean)
            .fit(&floats("x", &[1.0, f64::NAN, inf]))
            .unwrap_err();
        assert!(is_number_cell(&err, "x", 2), "{err}");
        let err = model.transform(&floats("x", &[inf, 5.0])).unwrap_err();
        assert!(is_number_cell(&err, "x", 0), "{err}");
        let err = imputer(ImputerStrategy::Constant(inf))
            .fit(&floats("x", &[1.0]))
            .unwrap_err();
        assert!(matches!(err, MlError::Param(_)), "{err}");
    }
    let err = imputer(ImputerStrategy::Constant(f64::NAN))
        .fit(&floats("x", &[1.0]))
        .unwrap_err();
    assert!(matches!(err, MlError::Param(_)), "{err}");
    // A mean that overflows is not a surrogate.
    let err = imputer(ImputerStrategy::Mean)
        .fit(&floats("x", &[1e308, 1e308]))
        .unwrap_err();
    assert!(matches!(err, MlError::Overflow { .. }), "{err}");
}

/// What `stage` (built for a `handle_invalid`) makes of `frame`: the error with `Error`,
/// and the outputs with `Skip` and with `Keep`.
fn by_handle_invalid<T: Transformer>(
    stage: impl Fn(HandleInvalid) -> T,
    frame: &Frame,
) -> (MlError, Frame, Frame) {
    let err = stage(HandleInvalid::Error).transform(frame).unwrap_err();
    let skipped = stage(HandleInvalid::Skip).transform(frame).unwrap();
    let kept = stage(HandleInvalid::Keep).transform(frame).unwrap();
    (err, skipped, kept)
}

#[test]
fn bucketizer_and_assembler_treat_an_infinity_as_invalid_like_nan() {
    let bucketizer = |handle_invalid| Bucketizer {
        params: BucketizerParams {
            input_cols: vec!["x".into()],
            output_cols: vec!["b".into()],
            splits_array: vec![vec![f64::NEG_INFINITY, 0.0, f64::INFINITY]],
            handle_invalid,
        },
    };
    let assembler = |handle_invalid| VectorAssembler {
        params: VectorAssemblerParams {
            input_cols: vec!["x".into(), "v".into()],
            output_col: "out".into(),
            handle_invalid,
        },
    };
    for bad in NON_FINITE {
        let frame = floats("x", &[-2.0, bad, 3.0]);
        let (err, skipped, kept) = by_handle_invalid(bucketizer, &frame);
        assert!(is_number_cell(&err, "x", 1), "{err}");
        assert_eq!(skipped.f64s("b").unwrap(), &[0.0, 1.0]);
        assert_eq!(
            kept.f64s("b").unwrap(),
            &[0.0, 2.0, 1.0],
            "the extra bucket is 2"
        );

        let vectors = vec![
            Vector::Dense(vec![1.0]),
            Vector::Dense(vec![2.0]),
            Vector::Dense(vec![bad]),
        ];
        let frame = floats("x", &[1.0, bad, 3.0])
            .with("v", Column::Vector(vectors))
            .unwrap();
        let (err, skipped, kept) = by_handle_invalid(assembler, &frame);
        assert!(is_number_cell(&err, "x", 1), "{err}");
        assert_eq!(
            skipped.vectors("out").unwrap(),
            &[Vector::Dense(vec![1.0, 1.0])]
        );
        assert_eq!(kept.num_rows(), 3);
        let only_vector = frame
            .clone()
            .with("x", Column::F64(vec![1.0, 2.0, 3.0]))
            .unwrap();
        let err = assembler(HandleInvalid::Error)
            .transform(&only_vector)
            .unwrap_err();
        let at_vector_entry = matches!(&err, MlError::NonFinite(NonFinite {
            at: Position::Cell { column, row: 2, entry: Some(0) }, ..
        }) if column == "v");
        assert!(at_vector_entry, "{err}");
    }
}

#[test]
fn one_hot_rejects_non_finite_categories_in_fit_and_transform() {
    let encoder = OneHotEncoder {
        params: OneHotParams {
            input_cols: vec!["x".into()],
            output_col: "out".into(),
            ignore_unknown: true,
            drop_first: false,
        },
    };
    for bad in NON_FINITE {
        let err = encoder.fit(&floats("x", &[1.0, bad])).unwrap_err();
        assert!(is_number_cell(&err, "x", 1), "{err}");
        let model = encoder.fit(&floats("x", &[1.0, 2.0])).unwrap();
        // An unknown category encodes as zeros; a non-finite one is an error even so.
        let err = model.transform(&floats("x", &[2.0, bad])).unwrap_err();
        assert!(is_number_cell(&err, "x", 1), "{err}");
    }
}

#[test]
fn hasher_skips_a_missing_nan_but_rejects_an_infinity() {
    let hasher = FeatureHasher::new(FeatureHasherParams {
        input_cols: vec!["x".into()],
        num_features: 16,
        ..Default::default()
    })
    .unwrap();
    let out = hasher.transform(&floats("x", &[2.5, f64::NAN])).unwrap();
    let rows = out.vectors("features").unwrap();
    let index = hasher.numeric_index("x");
    assert_eq!(
        rows[0],
        Vector::Sparse(SparseVector {
            dim: 16,
            indices: vec![index],
            values: vec![2.5]
        })
    );
    assert_eq!(
        rows[1],
        Vector::Sparse(SparseVector::zeros(16)),
        "a missing value is skipped"
    );
    let categorical = FeatureHasher::new(FeatureHasherParams {
        categorical_cols: vec!["c".into()],
        num_features: 16,
        ..Default::default()
    })
    .unwrap();
    for bad in NON_FINITE {
        if !bad.is_nan() {
            let err = hasher.transform(&floats("x", &[1.0, bad])).unwrap_err();
            assert!(is_number_cell(&err, "x", 1), "{err}");
        }
        let mut out = SparseVector::zeros(16);
        for (h, col) in [(&hasher, "x"), (&categorical, "c")] {
            let err = h
                .hash_into(
                    &[("a", HashValue::Str("s")), (col, HashValue::Num(bad))],
                    &mut out,
                )
                .unwrap_err();
            let named = matches!(&err, MlError::NonFinite(NonFinite { at: Position::Column(c), .. }) if c == col);
            assert!(named, "{err}");
        }
    }
}

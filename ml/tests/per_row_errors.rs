//! Every public per-row method answers a wrong-sized or malformed input with a typed error:
//! never a panic, never an output buffer written in part.

use quiver_ml::clustering::{KMeans, KMeansParams, OnlineKMeans, OnlineKMeansParams};
use quiver_ml::feature::{
    KBinsDiscretizer, KBinsParams, MinMaxScaler, MinMaxScalerModel, OnlineStandardScaler,
    StandardScaler, StandardScalerModel, StandardScalerParams, VectorAssembler, VectorColumns,
};
use quiver_ml::linear::{
    FtrlParams, LinearRegression, OnlineLogisticRegression, SgdParams,
    StreamingLinearRegressionParams, StreamingLinearRegressionSgd,
};
use quiver_ml::{Column, Estimator, Features, Frame, MlError, OnlineLearner, SparseView, Vector};

fn rows(rows: &[&[f64]]) -> Frame {
    let v = rows.iter().map(|r| Vector::Dense(r.to_vec())).collect();
    Frame::new().with("features", Column::Vector(v)).unwrap()
}

fn columns() -> VectorColumns {
    VectorColumns {
        input_col: "features".into(),
        output_col: "scaled".into(),
    }
}

fn min_max() -> MinMaxScalerModel {
    MinMaxScaler {
        params: quiver_ml::feature::MinMaxScalerParams {
            columns: columns(),
            ..Default::default()
        },
    }
    .fit(&rows(&[&[0.0, 0.0, 0.0], &[2.0, 4.0, 8.0]]))
    .unwrap()
}

fn standard() -> StandardScalerModel {
    StandardScaler {
        params: StandardScalerParams {
            columns: columns(),
            ..Default::default()
        },
    }
    .fit(&rows(&[&[0.0, 0.0, 0.0], &[2.0, 4.0, 8.0]]))
    .unwrap()
}

const UNTOUCHED: f64 = -7.0;

fn is_dimension(e: &MlError, expected: usize, found: usize) -> bool {
    matches!(e, MlError::Dimension { expected: x, found: f } if (*x, *f) == (expected, found))
}

#[test]
fn min_max_transform_one_rejects_other_dimensions_and_buffers_without_writing() {
    let model = min_max();
    for x in [&[1.0, 1.0][..], &[1.0, 1.0, 1.0, 1.0]] {
        let mut out = [UNTOUCHED; 3];
        let e = model.transform_one(x, &mut out).unwrap_err();
        assert!(is_dimension(&e, 3, x.len()), "{e}");
        assert_eq!(out, [UNTOUCHED; 3]);
    }
    for len in [2, 4] {
        let mut out = vec![UNTOUCHED; len];
        let e = model.transform_one(&[1.0, 2.0, 4.0], &mut out).unwrap_err();
        assert!(
            matches!(e, MlError::Length { left, right: 3, .. } if left == len),
            "{e}"
        );
        assert!(out.iter().all(|&o| o == UNTOUCHED));
    }
    let mut out = [0.0; 3];
    model.transform_one(&[1.0, 2.0, 4.0], &mut out).unwrap();
    assert_eq!(out, [0.5, 0.5, 0.5]);
}

#[test]
fn kbins_bin_of_a_feature_the_model_does_not_have_is_an_index_error() {
    let model = KBinsDiscretizer {
        params: KBinsParams {
            columns: columns(),
            n_bins: 2,
            ..Default::default()
        },
    }
    .fit(&rows(&[&[0.0], &[1.0], &[2.0]]))
    .unwrap();
    assert_eq!(model.bin(0, 1.5).unwrap(), 1.0);
    let e = model.bin(1, 1.5).unwrap_err();
    assert!(
        matches!(
            e,
            MlError::Index {
                index: 1,
                len: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn standard_scalers_reject_other_dimensions_and_buffers_without_writing() {
    let model = standard();
    let mut out = [UNTOUCHED; 2];
    assert!(model
        .transform_one(Features::Dense(&[1.0, 1.0, 1.0]), &mut out)
        .is_err());
    assert!(model.inverse_one(&[1.0, 1.0, 1.0], &mut out).is_err());
    assert_eq!(out, [UNTOUCHED; 2]);
    let mut online = OnlineStandardScaler::new(StandardScalerParams::default(), Some(2)).unwrap();
    online.learn_one(Features::Dense(&[1.0, 2.0])).unwrap();
    let e = online.learn_one(Features::Dense(&[1.0])).unwrap_err();
    assert!(is_dimension(&e, 2, 1), "{e}");
    let mut out = [UNTOUCHED; 3];
    assert!(online
        .transform_one(Features::Dense(&[1.0, 2.0]), &mut out)
        .is_err());
    assert_eq!(out, [UNTOUCHED; 3]);
}

#[test]
fn assemble_into_a_row_beyond_the_columns_is_an_index_error() {
    let a = Column::F64(vec![1.0, 2.0]);
    let b = Column::Vector(vec![Vector::Dense(vec![3.0]), Vector::Dense(vec![4.0])]);
    let mut out = vec![UNTOUCHED];
    VectorAssembler::assemble_into(&[&a, &b], 1, &mut out).unwrap();
    assert_eq!(out, [2.0, 4.0]);
    let e = VectorAssembler::assemble_into(&[&a, &b], 2, &mut out).unwrap_err();
    assert!(
        matches!(
            e,
            MlError::Index {
                index: 2,
                len: 2,
                ..
            }
        ),
        "{e}"
    );
    assert!(out.is_empty());
    let s = Column::Str(vec!["x".into(), "y".into()]);
    let e = VectorAssembler::assemble_into(&[&a, &s], 0, &mut out).unwrap_err();
    assert!(matches!(e, MlError::ColumnType { .. }), "{e}");
}

/// A sparse view of dimension 3 whose index 5 is not below its dimension.
const BAD_INDICES: [u32; 2] = [0, 5];
const BAD_VALUES: [f64; 2] = [1.0, 1.0];

fn malformed() -> Features<'static> {
    Features::Sparse(SparseView {
        dim: 3,
        indices: &BAD_INDICES,
        values: &BAD_VALUES,
    })
}

fn is_sparse(e: &MlError) -> bool {
    matches!(e, MlError::Sparse { dim: 3, .. })
}

#[test]
fn learners_reject_a_malformed_sparse_vector() {
    let mut ftrl = OnlineLogisticRegression::new(FtrlParams::default(), 3, None).unwrap();
    assert!(is_sparse(&ftrl.learn_one(malformed(), 1.0).unwrap_err()));
    assert!(is_sparse(&ftrl.predict_one(malformed()).unwrap_err()));
    let mut sgd =
        StreamingLinearRegressionSgd::new(StreamingLinearRegressionParams::default(), 3).unwrap();
    assert!(is_sparse(&sgd.learn_one(malformed(), 1.0).unwrap_err()));
    let batch = LinearRegression {
        params: SgdParams::default(),
    }
    .fit(
        &rows(&[&[1.0, 0.0, 0.0], &[0.0, 1.0, 1.0]])
            .with("label", Column::F64(vec![1.0, 2.0]))
            .unwrap(),
    )
    .unwrap();
    assert!(is_sparse(&batch.predict_one(malformed()).unwrap_err()));
    let kmeans = KMeans {
        params: KMeansParams::default(),
    }
    .fit(&rows(&[&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0]]))
    .unwrap();
    assert!(is_sparse(&kmeans.predict_one(malformed()).unwrap_err()));
    let mut online = OnlineKMeans::from_model(OnlineKMeansParams::default(), &kmeans).unwrap();
    assert!(is_sparse(&online.learn_one(malformed()).unwrap_err()));
    let model = standard();
    let mut out = [UNTOUCHED; 3];
    assert!(is_sparse(
        &model.transform_one(malformed(), &mut out).unwrap_err()
    ));
    assert_eq!(out, [UNTOUCHED; 3]);
}

#[test]
fn frame_stages_reject_a_malformed_sparse_cell() {
    let bad = quiver_ml::SparseVector {
        dim: 3,
        indices: BAD_INDICES.to_vec(),
        values: BAD_VALUES.to_vec(),
    };
    let frame = Frame::new()
        .with("features", Column::Vector(vec![Vector::Sparse(bad)]))
        .unwrap();
    let e = StandardScaler {
        params: StandardScalerParams {
            columns: columns(),
            ..Default::default()
        },
    }
    .fit(&frame)
    .unwrap_err();
    assert!(is_sparse(&e), "{e}");
}

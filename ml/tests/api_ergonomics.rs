//! The API as a data scientist first meets it: a frame built from rows, and a pipeline of
//! stages with their default columns.

use quiver_ml::feature::{StandardScaler, VectorAssembler, VectorAssemblerParams};
use quiver_ml::linear::LogisticRegression;
use quiver_ml::{Cell, Column, Estimator, Frame, MlError, Pipeline, Transformer};

/// Two numeric columns and a label: class 1 exactly when x1 + x2 > 10.
fn records() -> Vec<(f64, f64, f64)> {
    (0..40)
        .map(|i| {
            let (x1, x2) = (f64::from(i % 8) * 1.5, f64::from(i / 8) * 2.5);
            (x1, x2, f64::from(u8::from(x1 + x2 > 10.0)))
        })
        .collect()
}

fn frame() -> Frame {
    Frame::from_rows(
        &["x1", "x2", "label"],
        records()
            .into_iter()
            .map(|(a, b, y)| [Cell::from(a), Cell::from(b), Cell::from(y)]),
    )
    .unwrap()
}

#[test]
fn a_frame_is_built_from_rows_and_names_a_bad_row() {
    let f = frame();
    assert_eq!(f.num_rows(), 40);
    assert_eq!(f.f64s("x2").unwrap()[9], 2.5);
    let short = Frame::from_rows(&["a", "b"], [vec![Cell::from(1.0)]]).unwrap_err();
    assert!(
        matches!(
            short,
            MlError::Length {
                left: 1,
                right: 2,
                ..
            }
        ),
        "{short}"
    );
    let mixed = Frame::from_rows(&["a"], [[Cell::from(1.0)], [Cell::from("one")]]).unwrap_err();
    assert!(
        matches!(mixed, MlError::ColumnType { ref name, expected: "f64", found: "string" } if name == "a"),
        "{mixed}"
    );
    let vectors = Frame::from_rows(&["v"], [[Cell::from(vec![1.0, 2.0])]]).unwrap();
    assert!(matches!(vectors.column("v"), Ok(Column::Vector(v)) if v.len() == 1));
}

#[test]
fn stages_chain_in_a_pipeline_with_their_default_columns() {
    let pipeline = Pipeline::new()
        .transformer(VectorAssembler {
            params: VectorAssemblerParams {
                input_cols: vec!["x1".into(), "x2".into()],
                ..VectorAssemblerParams::default()
            },
        })
        .estimator(StandardScaler::default())
        .estimator(LogisticRegression::default());
    let model = pipeline.fit(&frame()).unwrap();
    let out = model.transform(&frame()).unwrap();
    let labels = out.f64s("label").unwrap();
    let predictions = out.f64s("prediction").unwrap();
    let right = predictions
        .iter()
        .zip(labels)
        .filter(|(p, y)| p == y)
        .count();
    // The classes are linearly separable; the default fit separates all but the rows
    // nearest the boundary.
    assert!(right >= 38, "{right} of 40 right: {predictions:?}");
    assert_eq!(out.f64s("probability").unwrap().len(), 40);
}

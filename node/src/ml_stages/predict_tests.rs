//! A predict partition: null outputs until a serving table pins a version for it, then, from
//! the barrier carrying that table on, the library's predictions of the version, bit for
//! bit; a barrier of a table the node never loaded fails the partition.

use super::*;
use quiver_ml::linear::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_ml::Features;
use quiver_protocol::batch::value;
use quiver_protocol::models::{Serving, ServingTable};
use quiver_protocol::spec::{FeatureInput, LearnerColumns, PredictVersion, StageKind};
use quiver_protocol::{CheckpointId, Generation, Value, ValueType};
use std::collections::BTreeMap;

type Model = StreamingLinearRegressionSgd;

fn make() -> MakeModel<Model> {
    Box::new(|dim| Model::new(StreamingLinearRegressionParams::default(), dim))
}

/// A model of the version's parameters, trained by the library.
fn trained() -> Model {
    let mut model = make()(2).unwrap();
    for i in 0..40 {
        let x = [f64::from(i % 7) / 3.0 - 1.0, f64::from(i % 5) / 2.0 - 1.0];
        model
            .learn_one(Features::Dense(&x), 3.0 * x[0] - x[1])
            .unwrap();
    }
    model
}

fn barrier(epoch: u64) -> Barrier {
    Barrier {
        checkpoint: CheckpointId(epoch + 1),
        generation: Generation(0),
        serving: epoch,
    }
}

/// The predictions and versions the partition adds to rows `xs`.
fn scored(predict: &mut dyn AddColumns, xs: &[[f64; 2]]) -> (Vec<Option<f64>>, Vec<Option<i64>>) {
    let columns = vec![
        Column::f64(xs.iter().map(|x| x[0]).collect()),
        Column::f64(xs.iter().map(|x| x[1]).collect()),
    ];
    let batch = Batch::try_new(vec![0; xs.len()], columns).unwrap();
    let mut added = Vec::new();
    predict.add_columns(&batch, &mut added).unwrap();
    assert_eq!(added.len(), 2, "prediction and model_version");
    let rows = 0..xs.len();
    let predictions = rows.clone().map(|r| match value(&added[0], r) {
        Value::F64(p) => Some(p),
        _ => None,
    });
    let versions = rows.map(|r| match value(&added[1], r) {
        Value::I64(v) => Some(v),
        _ => None,
    });
    (predictions.collect(), versions.collect())
}

#[test]
fn a_predict_partition_serves_nothing_until_the_barrier_of_its_version_then_the_library() {
    let serving = Arc::new(JobServing::default());
    let spec = PredictStage {
        model: "reg".into(),
        version: PredictVersion::Version(9),
        features: Some(FeatureInput::Columns(vec!["x1".into(), "x2".into()])),
        predicts: Predicts::Regression,
        outputs: LearnerColumns::default(),
        warmup: 0,
    };
    let stage = StageSpec {
        name: "scored".into(),
        input: "requests".into(),
        parallelism: 1,
        kind: StageKind::Predict(spec.clone()),
        late: None,
        schema: Default::default(),
        pool: None,
        quality: Default::default(),
    };
    let input = Schema::new([("x1", ValueType::F64), ("x2", ValueType::F64)]);
    let serve = Serve {
        stage: &stage,
        spec: &spec,
        input: &input,
        partition: 0,
        serving: serving.clone(),
    };
    let mut predict = serve.build(make()).unwrap();
    let xs = [[0.5, -0.25], [-1.0, 0.75]];
    assert_eq!(scored(&mut *predict, &xs), (vec![None; 2], vec![None; 2]));

    // The node loads version 9 and the table pinning it; rows keep their nulls until the
    // barrier carrying the table.
    let model = trained();
    let mut values = Vec::new();
    model.write_parameters(&mut values);
    serving.insert_values("scored", 9, values);
    serving.insert_table(ServingTable {
        epoch: 1,
        stages: BTreeMap::from([("scored".into(), Serving::Pinned(CheckpointId(9)))]),
        imported: Vec::new(),
    });
    assert_eq!(scored(&mut *predict, &xs).1, vec![None; 2]);
    predict.on_barrier(&barrier(1)).unwrap();
    let (predictions, versions) = scored(&mut *predict, &xs);
    let expected: Vec<Option<f64>> = xs
        .iter()
        .map(|x| Some(model.predict_one(Features::Dense(x)).unwrap().value))
        .collect();
    let bits = |v: &[Option<f64>]| v.iter().map(|p| p.map(f64::to_bits)).collect::<Vec<_>>();
    assert_eq!(bits(&predictions), bits(&expected));
    assert_eq!(versions, vec![Some(9); 2]);
    let figures = predict.served();
    assert_eq!(
        figures
            .iter()
            .map(|f| (f.version, f.scored, f.current))
            .collect::<Vec<_>>(),
        vec![(9, 2, true)]
    );

    let Err(e) = predict.on_barrier(&barrier(2)) else {
        panic!("a table the node never loaded was put in force")
    };
    assert!(
        e.to_string().contains("serving table 2 was not loaded"),
        "{e}"
    );
}

//! What a learner partition serves: an imported saved model scores as the library computes
//! with it, a version from parameters as a model reading them; versions of another
//! dimension are refused, and the warm-up builds a switched-in version before its first
//! record.

use super::*;
use quiver_ml::linear::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_ml::OnlineLearner;
use quiver_protocol::models::ServingTable;
use quiver_protocol::CheckpointId;

type Model = StreamingLinearRegressionSgd;

/// The stage's model: `center_label` as the spec's default, unlike the library's.
fn make() -> MakeModel<Model> {
    let params = StreamingLinearRegressionParams {
        center_label: true,
        ..Default::default()
    };
    Box::new(move |dim| Model::new(params.clone(), dim))
}

/// A model the library trained, with the library's defaults.
fn saved(dim: usize) -> Model {
    let mut model = Model::new(StreamingLinearRegressionParams::default(), dim).unwrap();
    for i in 0..50 {
        let x: Vec<f64> = (0..dim)
            .map(|d| ((i * 7 + d * 3) % 11) as f64 / 5.0 - 1.0)
            .collect();
        model
            .learn_one(Features::Dense(&x), 2.0 * x[0] + 0.5)
            .unwrap();
    }
    model
}

/// Partition 0 of stage `reg` serving `version` (pinned), with what the node loaded.
fn served(version: u64, load: impl FnOnce(&JobServing)) -> Served<Model> {
    let serving = Arc::new(JobServing::default());
    load(&serving);
    serving.insert_table(ServingTable {
        epoch: 1,
        stages: BTreeMap::from([("reg".to_string(), Serving::Pinned(CheckpointId(version)))]),
        imported: Vec::new(),
    });
    Served::new("reg", 0, serving)
}

fn vector(model: &Model) -> Vec<f64> {
    let mut values = Vec::new();
    model.write_parameters(&mut values);
    values
}

#[test]
fn an_imported_saved_model_scores_as_saved_and_parameters_as_the_stage_reads_them() {
    let file = saved(2);
    let x = [0.25, -0.75];
    let mut imported = served(9, |s| {
        s.insert_values("reg", 9, vector(&file));
        s.insert_snapshot("reg", 9, file.to_snapshot().unwrap());
    });
    imported.warm(2, &make(), Model::predict_one).unwrap();
    assert!(
        imported.models.contains_key(&9),
        "the warm-up built the version"
    );
    let scored = imported
        .model(9, 2, &make())
        .unwrap()
        .predict_one(Features::Dense(&x));
    let expected = file.predict_one(Features::Dense(&x)).unwrap().value;
    assert_eq!(scored.unwrap().value.to_bits(), expected.to_bits());

    // The same vector without the snapshot is read by the stage's settings (center_label).
    let mut trained = served(9, |s| s.insert_values("reg", 9, vector(&file)));
    let mut stage = make()(2).unwrap();
    stage.read_parameters(&vector(&file)).unwrap();
    let scored = trained
        .model(9, 2, &make())
        .unwrap()
        .predict_one(Features::Dense(&x));
    let expected = stage.predict_one(Features::Dense(&x)).unwrap().value;
    assert_eq!(scored.unwrap().value.to_bits(), expected.to_bits());
}

#[test]
fn an_imported_model_of_another_dimension_is_refused_naming_both() {
    let file = saved(3);
    let mut imported = served(9, |s| {
        s.insert_values("reg", 9, vector(&file));
        s.insert_snapshot("reg", 9, file.to_snapshot().unwrap());
    });
    let Err(e) = imported.warm(2, &make(), Model::predict_one) else {
        panic!("a 3-feature model served rows of 2")
    };
    assert!(e.to_string().contains("version 9 has 6 parameters"), "{e}");
}

//! Model files against stages: the library's saved models of each algorithm, exports, and
//! every way a file can be wrong, each refused with what is wrong.

use super::*;
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{Features, OnlineLearner};
use quiver_protocol::spec::{JobSpec, StageSpec};

/// The stages of a job: a standard scaler `scaled` writing `vector`, then a stage `reg` of
/// `kind` with `settings` reading `features`.
fn stages(kind: &str, settings: &str, features: &str) -> Vec<StageSpec> {
    let spec = format!(
        r#"
[job]
name = "import"
checkpoint_interval = "1s"

[[source]]
name = "rows"
kind = "generator"
count = 10

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "rows"
columns = ["amount", "ts"]
output = "vector"

[[stage]]
name = "reg"
kind = "{kind}"
input = "scaled"
features = {features}
{settings}

[[sink]]
name = "out"
kind = "discard"
input = "reg"
"#
    );
    let spec = JobSpec::parse(&spec, std::path::Path::new("/tmp")).unwrap();
    spec.stages
}

/// A stage `reg` of `kind` with `settings`, reading `features` (`"vector"`: a vector column).
fn stage(kind: &str, settings: &str, features: &str) -> StageKind {
    let stages = stages(kind, settings, features);
    let reg = stages.iter().find(|s| s.name == "reg").unwrap();
    reg.kind.clone()
}

const TWO: &str = r#"["amount", "ts"]"#;
const LABEL: &str = r#"label = "amount""#;

/// A linear model over two features that learnt a few rows, saved.
fn linear(optimizer: Optimizer) -> (StreamingLinearRegressionSgd, Vec<u8>) {
    let params = StreamingLinearRegressionParams {
        optimizer,
        ..Default::default()
    };
    let mut model = StreamingLinearRegressionSgd::new(params, 2).unwrap();
    for (x, y) in [([1.0, 2.0], 3.0), ([0.5, -1.0], 0.25), ([2.0, 0.0], 1.5)] {
        model.learn_one(Features::Dense(&x), y).unwrap();
    }
    let mut saved = Vec::new();
    model.save(&mut saved).unwrap();
    (model, saved)
}

fn error(kind: &StageKind, bytes: &[u8]) -> String {
    read_model_file("reg", kind, bytes).unwrap_err()
}

#[test]
fn a_saved_linear_model_becomes_its_parameter_vector_and_snapshot() {
    let (model, saved) = linear(Optimizer::Sgd);
    let file = read_model_file("reg", &stage("linear_regression", LABEL, TWO), &saved).unwrap();
    let mut expected = Vec::new();
    model.write_parameters(&mut expected);
    assert_eq!(file.parameters, expected);
    let back = StreamingLinearRegressionSgd::from_snapshot(&file.snapshot.unwrap()).unwrap();
    let x = [0.3, 0.7];
    assert_eq!(
        back.predict_one(Features::Dense(&x))
            .unwrap()
            .value
            .to_bits(),
        model
            .predict_one(Features::Dense(&x))
            .unwrap()
            .value
            .to_bits()
    );
    // A vector column fixes no dimension: any is taken.
    let vector = stage("linear_regression", LABEL, r#""vector""#);
    assert!(read_model_file("reg", &vector, &saved).is_ok());
}

#[test]
fn saved_logistic_models_of_either_algorithm_match_the_stage_optimizer() {
    let ftrl = OnlineLogisticRegression::new(FtrlParams::default(), 2, None).unwrap();
    let mut saved = Vec::new();
    ftrl.save(&mut saved).unwrap();
    let ftrl_stage = stage("logistic_regression", LABEL, TWO);
    assert_eq!(
        read_model_file("reg", &ftrl_stage, &saved)
            .unwrap()
            .parameters,
        vec![0.0; 6]
    );
    let adam_stage = stage(
        "logistic_regression",
        "label = \"amount\"\noptimizer = \"adam\"",
        TWO,
    );
    let e = error(&adam_stage, &saved);
    assert!(
        e.contains("logistic_regression (optimizer adam)")
            && e.contains("online_logistic_regression"),
        "{e}"
    );
    let params = StreamingLogisticRegressionParams {
        optimizer: Optimizer::Adam,
        ..Default::default()
    };
    let adam = StreamingLogisticRegression::new(params, 2).unwrap();
    let mut saved = Vec::new();
    adam.save(&mut saved).unwrap();
    assert!(read_model_file("reg", &adam_stage, &saved).is_ok());
    let e = error(&ftrl_stage, &saved);
    assert!(
        e.contains("optimizer ftrl") && e.contains("optimizer adam"),
        "{e}"
    );
}

#[test]
fn another_algorithm_optimizer_or_dimension_is_refused_naming_both() {
    let (_, saved) = linear(Optimizer::Adam);
    let e = error(&stage("linear_regression", LABEL, TWO), &saved);
    assert!(
        e.contains("linear_regression (optimizer sgd)") && e.contains("optimizer adam"),
        "{e}"
    );
    let e = error(&stage("logistic_regression", LABEL, TWO), &saved);
    assert!(e.contains("streaming_linear_regression_sgd"), "{e}");
    let (_, saved) = linear(Optimizer::Sgd);
    let three = stage("linear_regression", LABEL, r#"["amount", "ts", "user"]"#);
    let e = error(&three, &saved);
    assert!(e.contains("2 features") && e.contains("reads 3"), "{e}");
}

#[test]
fn corrupt_files_and_other_models_are_refused_saying_what_import_takes() {
    let kind = stage("linear_regression", LABEL, TWO);
    let (_, saved) = linear(Optimizer::Sgd);
    let e = error(&kind, &saved[..saved.len() / 2]);
    assert!(e.contains("not JSON") && e.contains("Persist::save"), "{e}");
    let e = error(&kind, b"{\"weights\": [1, 2]}");
    assert!(e.contains("neither `format`"), "{e}");
    let e = error(&kind, b"{\"format\": \"quiver-ml\", \"kind\": 3}");
    assert!(e.contains("corrupt model file"), "{e}");
    let other = br#"{"format": "quiver-ml", "kind": "kmeans_model", "version": 1, "model": {}}"#;
    let e = error(&kind, other);
    assert!(e.contains("`kmeans_model`"), "{e}");
    let edited = |field: &str, value: serde_json::Value| {
        let mut json: serde_json::Value = serde_json::from_slice(&saved).unwrap();
        json["model"][field] = value;
        serde_json::to_vec(&json).unwrap()
    };
    let e = error(&kind, &edited("weights", serde_json::json!(["x", 1])));
    assert!(e.contains("cannot load the model file"), "{e}");
    let e = error(&kind, &edited("intercept", serde_json::json!(1e300)));
    assert!(e.contains("refused"), "{e}");
    let scaler = stages("kmeans", "k = 2", TWO).remove(0).kind;
    let e = read_model_file("scaled", &scaler, b"{}").unwrap_err();
    assert!(e.contains("only their models can be imported"), "{e}");
}

#[test]
fn a_saved_mf_model_becomes_its_mean_and_items_in_the_shards_layout_without_users() {
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap();
    for (u, i, r) in [(1, 0, 4.0), (2, 3, 2.0), (1, 3, 5.0)] {
        model.learn_one(u, i, r).unwrap();
    }
    let mut saved = Vec::new();
    model.save(&mut saved).unwrap();
    let file = read_model_file("reg", &mf_stage(""), &saved).unwrap();
    // Count 3, sum 11, item 0 at index 2, item 3 at 2 + 3 · 11 (11 entries each).
    let mut expected = vec![3.0, 11.0];
    expected.resize(2 + 4 * 11, 0.0);
    expected[2..13].copy_from_slice(&model.item_parameters(0).unwrap());
    expected[35..46].copy_from_slice(&model.item_parameters(3).unwrap());
    assert_eq!(file.parameters, expected);
    assert_eq!(file.snapshot, None);

    let e = error(&mf_stage("n_factors = 4"), &saved);
    assert!(
        e.contains("BiasedMf, 4 factors") && e.contains("10 factors"),
        "{e}"
    );
    let export = br#"{"kind": "matrix_factorization", "parameters": [2, 7, 0.5]}"#;
    let file = read_model_file("reg", &mf_stage(""), export).unwrap();
    assert_eq!(file.parameters, vec![2.0, 7.0, 0.5]);
    let huge = br#"{"kind": "matrix_factorization", "parameters": [2, 7, 1e300]}"#;
    let e = error(&mf_stage(""), huge);
    assert!(e.contains("refused"), "{e}");
}

/// A `matrix_factorization` stage on parameter servers with `settings`.
fn mf_stage(settings: &str) -> StageKind {
    let spec = format!(
        r#"
[job]
name = "import"
checkpoint_interval = "1s"

[[source]]
name = "rows"
kind = "generator"
count = 10

[[stage]]
name = "reg"
kind = "matrix_factorization"
input = "rows"
user = "user"
item = "ts"
rating = "amount"
parameter_shards = 2
{settings}

[[sink]]
name = "out"
kind = "discard"
input = "reg"
"#
    );
    let spec = JobSpec::parse(&spec, std::path::Path::new("/tmp")).unwrap();
    spec.stages[0].kind.clone()
}

#[test]
fn a_saved_kmeans_model_of_the_stage_k_and_dimension_is_taken_with_its_snapshot() {
    let params = OnlineKMeansParams {
        global_batch_size: 2,
        ..Default::default()
    };
    let mut model = OnlineKMeans::random(params, 2, 2, 0.0, 7).unwrap();
    for x in [[0.1, 0.2], [0.9, 0.8], [0.2, 0.1], [0.8, 0.9]] {
        model.learn_one(Features::Dense(&x)).unwrap();
    }
    let mut saved = Vec::new();
    model.save(&mut saved).unwrap();
    let file = read_model_file("reg", &stage("kmeans", "k = 2", TWO), &saved).unwrap();
    // Centroid 0's coordinates, centroid 1's, then the two weights.
    let c = model.centroids();
    let w = model.weights();
    assert_eq!(
        file.parameters,
        vec![c[0][0], c[0][1], c[1][0], c[1][1], w[0], w[1]]
    );
    let served = OnlineKMeans::from_snapshot(&file.snapshot.unwrap()).unwrap();
    assert_eq!(served, model);

    let e = error(&stage("kmeans", "k = 3", TWO), &saved);
    assert!(
        e.contains("trains kmeans (k 3)") && e.contains("kmeans (k 2)"),
        "{e}"
    );
    let e = error(&stage("kmeans", "k = 2", r#"["amount"]"#), &saved);
    assert!(e.contains("the model has 2 features"), "{e}");
    let export = br#"{"kind": "kmeans", "parameters": [0.5, 0.5, 1.0, 1.0, 3.0]}"#;
    let file = read_model_file("reg", &stage("kmeans", "k = 2", TWO), export).unwrap();
    assert_eq!(file.parameters, vec![0.5, 0.5, 1.0, 1.0, 3.0]);
    let long = br#"{"kind": "kmeans", "parameters": [0, 0, 0, 0, 0, 0, 0]}"#;
    let e = error(&stage("kmeans", "k = 2", TWO), long);
    assert!(e.contains("7 parameters") && e.contains("has 6"), "{e}");
}

#[test]
fn an_export_is_taken_as_its_vector_when_it_fits_the_stage() {
    let kind = stage("linear_regression", LABEL, TWO);
    // Two weights, intercept, label count and sum: 5; an export may leave trailing zeros out.
    let export =
        br#"{"kind": "linear_regression", "version": 4, "parameters": [0.5, -0.25, 1.0, 3.0]}"#;
    let file = read_model_file("reg", &kind, export).unwrap();
    assert_eq!(file.parameters, vec![0.5, -0.25, 1.0, 3.0]);
    assert_eq!(file.snapshot, None);
    let long = br#"{"kind": "linear_regression", "parameters": [0, 0, 0, 0, 0, 0]}"#;
    let e = error(&kind, long);
    assert!(e.contains("6 parameters") && e.contains("has 5"), "{e}");
    let other = br#"{"kind": "logistic_regression", "parameters": [0]}"#;
    let e = error(&kind, other);
    assert!(e.contains("the export is of a logistic_regression"), "{e}");
    let diverged = br#"{"kind": "linear_regression", "parameters": [1e13]}"#;
    let e = error(&kind, diverged);
    assert!(e.contains("refused"), "{e}");
    let bad = br#"{"kind": "linear_regression", "parameters": "none"}"#;
    assert!(error(&kind, bad).contains("corrupt export"));
}

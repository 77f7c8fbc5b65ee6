//! `kind = "predict"`: a serving stage scoring with a registered version of a learner's model.
//! Its validated form with defaults, the columns it adds, where the plan puts it, and every
//! error path across stages (the message names the stage, the field, the value and what is
//! allowed).

mod common;

use quiver_protocol::plan::{JobPlan, Partitioning};
use quiver_protocol::spec::{
    FeatureInput, JobSpec, PredictVersion, Predicts, StageKind, DEFAULT_WARMUP,
};
use quiver_protocol::ValueType;
use std::path::Path;

/// A valid job: two learners with parameter servers trained on one source, a per-partition
/// learner, and a predict stage scoring another source with `clf`'s versions. Each error test
/// breaks one thing in it.
const VALID: &str = r#"
[job]
name = "serve"
parallelism = 2
checkpoint_interval = "1s"

[[source]]
name = "train"
kind = "file"
path = "train.csv"
format = "csv"
schema = { x1 = "f64", x2 = "f64", y = "i64", r = "f64", v = "f64" }

[[source]]
name = "requests"
kind = "file"
path = "requests.csv"
format = "csv"
schema = { id = "i64", x1 = "f64", x2 = "f64" }

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "train"
features = ["x1", "x2"]
label = "y"

[[stage]]
name = "reg"
kind = "linear_regression"
input = "train"
features = ["x1", "x2"]
label = "r"

[[stage]]
name = "clusters"
kind = "kmeans"
input = "train"
features = ["x1", "x2"]
k = 2

[[stage]]
name = "mf"
kind = "matrix_factorization"
input = "train"
user = "y"
item = "y"
rating = "r"
parameter_shards = 2

[[stage]]
name = "scored"
kind = "predict"
input = "requests"
model = "clf"
parallelism = 3

[[sink]]
name = "out"
kind = "stdout"
input = "scored"
"#;

fn parse(text: &str) -> JobSpec {
    JobSpec::parse(text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}"))
}

/// The error message for `VALID` with `from` replaced by `to` (which must change it).
fn error_after(from: &str, to: &str) -> String {
    common::error_in(VALID, from, to)
}

/// Asserts that `message` contains every one of `parts`.
fn says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
}

fn columns_of(spec: &JobSpec, stage: &str) -> Vec<(String, ValueType)> {
    spec.schema_of(stage)
        .expect("stage")
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect()
}

fn owned(columns: &[(&str, ValueType)]) -> Vec<(String, ValueType)> {
    columns.iter().map(|(n, t)| (n.to_string(), *t)).collect()
}

const MODEL: &str = "model = \"clf\"";

#[test]
fn a_predict_stage_follows_champion_with_the_learners_features_by_default() {
    let spec = parse(VALID);
    let stage = spec.stages.iter().find(|s| s.name == "scored").unwrap();
    let StageKind::Predict(predict) = &stage.kind else {
        panic!("{:?}", stage.kind)
    };
    assert_eq!(predict.model, "clf");
    assert_eq!(predict.version, PredictVersion::Alias("champion".into()));
    assert_eq!(
        predict.features,
        Some(FeatureInput::Columns(vec!["x1".into(), "x2".into()]))
    );
    assert_eq!(predict.predicts, Predicts::Classification);
    assert_eq!(predict.warmup, DEFAULT_WARMUP);
    assert_eq!((stage.parallelism, spec.model_of("scored")), (3, "clf"));
    assert_eq!(spec.model_of("clf"), "clf");
    use ValueType::*;
    assert_eq!(
        columns_of(&spec, "scored"),
        owned(&[
            ("id", I64),
            ("x1", F64),
            ("x2", F64),
            ("prediction", F64),
            ("probability", F64),
            ("model_version", I64),
        ])
    );
    // It runs at its own parallelism and has no operators of its own beside it: its
    // versions are the learner's.
    let plan = JobPlan::from_spec(&spec);
    let scored = plan.operators.iter().find(|o| o.name == "scored").unwrap();
    let edge = scored.input.as_ref().unwrap();
    assert_eq!(
        (scored.parallelism, &edge.partitioning),
        (3, &Partitioning::Rebalance)
    );
    assert!(plan
        .operators
        .iter()
        .all(|o| !o.name.starts_with("scored/")));
}

#[test]
fn a_regression_models_predict_stage_adds_no_probability_and_takes_its_settings() {
    let spec = parse(&VALID.replace(
        MODEL,
        "model = \"reg\"\nversion = 7\nfeatures = [\"x2\", \"x1\"]\nprediction_col = \"score\"\n\
         model_version_col = \"served_by\"\nwarmup = 0",
    ));
    let Some((_, predict)) = spec.predict_stages().next() else {
        panic!("no predict stage")
    };
    assert_eq!(predict.version, PredictVersion::Version(7));
    assert_eq!(
        predict.features,
        Some(FeatureInput::Columns(vec!["x2".into(), "x1".into()]))
    );
    assert_eq!(predict.predicts, Predicts::Regression);
    assert_eq!(predict.warmup, 0);
    use ValueType::*;
    assert_eq!(
        columns_of(&spec, "scored"),
        owned(&[
            ("id", I64),
            ("x1", F64),
            ("x2", F64),
            ("score", F64),
            ("served_by", I64),
        ])
    );
    let aliased = parse(&VALID.replace(MODEL, "model = \"clf\"\nalias = \"challenger\""));
    let (_, predict) = aliased.predict_stages().next().unwrap();
    assert_eq!(predict.version, PredictVersion::Alias("challenger".into()));
}

#[test]
fn a_kmeans_models_predict_stage_adds_the_cluster_before_the_prediction() {
    let spec = parse(&VALID.replace(MODEL, "model = \"clusters\"\ncluster_col = \"segment\""));
    let Some((_, predict)) = spec.predict_stages().next() else {
        panic!("no predict stage")
    };
    assert_eq!(predict.predicts, Predicts::Clustering);
    assert_eq!(
        predict.features,
        Some(FeatureInput::Columns(vec!["x1".into(), "x2".into()]))
    );
    use ValueType::*;
    assert_eq!(
        columns_of(&spec, "scored"),
        owned(&[
            ("id", I64),
            ("x1", F64),
            ("x2", F64),
            ("segment", I64),
            ("prediction", F64),
            ("model_version", I64),
        ])
    );
}

#[test]
fn a_model_that_is_no_stage_is_refused_naming_the_learners() {
    let e = error_after(MODEL, "model = \"clff\"");
    says(
        &e,
        &[
            "stage \"scored\"",
            "\"model\"",
            "\"clff\"",
            "logistic_regression, linear_regression or kmeans stage: clf, reg, clusters",
        ],
    );
    let e = error_after(&format!("{MODEL}\n"), "");
    says(
        &e,
        &["stage \"scored\"", "missing required field \"model\""],
    );
}

#[test]
fn a_model_without_parameter_servers_is_refused() {
    for (other, why) in [
        (
            "mf",
            "is a matrix_factorization, whose versions predict with the users its own partitions hold",
        ),
        ("scored", "keeps a model per partition"),
    ] {
        let e = error_after(MODEL, &format!("model = \"{other}\""));
        says(
            &e,
            &[
                "stage \"scored\"",
                &format!("\"{other}\""),
                "logistic_regression, linear_regression or kmeans",
                why,
                "Learners of this job: clf, reg, clusters",
            ],
        );
    }
    let e = error_after("checkpoint_interval = \"1s\"\n", "");
    says(
        &e,
        &[
            "stage \"scored\"",
            "\"model\"",
            "job with checkpoints",
            "job.checkpoint_interval",
        ],
    );
}

#[test]
fn alias_and_version_are_one_or_the_other_and_well_formed() {
    let e = error_after(MODEL, "model = \"clf\"\nalias = \"champion\"\nversion = 3");
    says(&e, &["\"version\"", "3", "not both"]);
    let e = error_after(MODEL, "model = \"clf\"\nalias = \"Champion\"");
    says(&e, &["\"alias\"", "\"Champion\"", "an alias name"]);
    let e = error_after(MODEL, "model = \"clf\"\nversion = 0");
    says(&e, &["\"version\"", "0"]);
    let e = error_after(MODEL, "model = \"clf\"\nlabel = \"y\"");
    says(&e, &["unknown field \"label\"", "alias", "version"]);
}

#[test]
fn features_must_be_in_the_input_with_the_models_dimension() {
    // The learner's features default, and `requests` has them; a column it lacks is refused.
    let e = error_after(MODEL, "model = \"clf\"\nfeatures = [\"x1\", \"y\"]");
    says(
        &e,
        &[
            "stage \"scored\"",
            "\"features\"",
            "\"y\"",
            "input \"requests\"",
        ],
    );
    let e = error_after(
        MODEL,
        "model = \"clf\"\nfeatures = [\"x1\", \"x2\", \"id\"]",
    );
    says(
        &e,
        &[
            "\"features\"",
            "[x1, x2, id]",
            "2 numeric columns",
            "\"clf\"",
            "[x1, x2]",
        ],
    );
    // The learner's features read from an input without them.
    let e = error_after(
        "schema = { id = \"i64\", x1 = \"f64\", x2 = \"f64\" }",
        "schema = { id = \"i64\", x1 = \"f64\" }",
    );
    says(&e, &["stage \"scored\"", "\"features\"", "\"x2\""]);
    // The added columns may not be in the input already.
    let e = error_after(
        "schema = { id = \"i64\", x1 = \"f64\", x2 = \"f64\" }",
        "schema = { id = \"i64\", x1 = \"f64\", x2 = \"f64\", probability = \"f64\" }",
    );
    says(&e, &["\"probability\"", "probability_col"]);
}

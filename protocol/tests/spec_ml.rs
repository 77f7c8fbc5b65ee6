//! The ML stage kinds of a job spec: their validated form with defaults, the columns each adds,
//! every error path (the message names the place, the field, the value and what is allowed),
//! and how the plan spreads records into them.

use quiver_protocol::plan::{JobPlan, OperatorKind, OutputPort, ParameterRole, Partitioning};
use quiver_protocol::spec::{
    FeatureHasherStage, FeatureInput, JobSpec, KMeansStage, LearnerColumns, LinearOptimizer,
    LinearRegressionStage, LogisticRegressionStage, MatrixFactorizationStage, MfModel, OneHotStage,
    ServingPolicy, StageKind, StandardScalerStage, UpdatePolicy, VectorAssemblerStage,
    DEFAULT_WARMUP,
};
use quiver_protocol::state_schema::StateSchema;
use quiver_protocol::{Schema, ValueType};
use std::path::Path;

/// A valid spec with every ML stage kind; each error test breaks one thing in it.
const VALID: &str = r#"
[job]
name = "ml"

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "i64", item = "string", x1 = "f64", x2 = "i64", ok = "bool", y = "i64", r = "f64" }

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "events"
columns = ["x1", "x2"]
output = "features"

[[stage]]
name = "hashed"
kind = "feature_hasher"
input = "scaled"
columns = ["item", "x2", "ok"]
categorical = ["x2"]
output = "hashed"

[[stage]]
name = "assembled"
kind = "vector_assembler"
input = "hashed"
columns = ["x1", "features", "ok"]
output = "assembled"

[[stage]]
name = "encoded"
kind = "one_hot"
input = "assembled"
column = "item"
output = "item_vec"

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "encoded"
features = "features"
label = "y"

[[stage]]
name = "reg"
kind = "linear_regression"
input = "events"
features = ["x1", "x2"]
label = "r"

[[stage]]
name = "clusters"
kind = "kmeans"
input = "scaled"
features = "features"
k = 3

[[stage]]
name = "mf"
kind = "matrix_factorization"
input = "events"
user = "user"
item = "item"
rating = "r"

[[sink]]
name = "out"
kind = "stdout"
input = "clf"
"#;

fn parse(text: &str) -> JobSpec {
    JobSpec::parse(text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}"))
}

/// The error message for `VALID` with `from` replaced by `to` (which must change it).
fn error_after(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from:?} is not in the valid spec");
    match JobSpec::parse(&VALID.replacen(from, to, 1), Path::new("/jobs")) {
        Ok(_) => panic!("{from:?} -> {to:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

fn kind_of<'s>(spec: &'s JobSpec, stage: &str) -> &'s StageKind {
    &spec
        .stages
        .iter()
        .find(|s| s.name == stage)
        .unwrap_or_else(|| panic!("no stage {stage}"))
        .kind
}

fn schema_of(spec: &JobSpec, stage: &str) -> Vec<(String, ValueType)> {
    spec.schema_of(stage)
        .unwrap_or_else(|| panic!("no stage {stage}"))
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.ty))
        .collect()
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The source's columns followed by `added`.
fn source_plus(added: &[(&str, ValueType)]) -> Vec<(String, ValueType)> {
    use ValueType::*;
    let source = [
        ("user", I64),
        ("item", Str),
        ("x1", F64),
        ("x2", I64),
        ("ok", Bool),
        ("y", I64),
        ("r", F64),
    ];
    source
        .iter()
        .chain(added)
        .map(|(n, t)| (n.to_string(), *t))
        .collect()
}

#[test]
fn every_ml_kind_parses_with_its_defaults() {
    let spec = parse(VALID);
    assert_eq!(
        kind_of(&spec, "scaled"),
        &StageKind::StandardScaler(StandardScalerStage {
            columns: FeatureInput::Columns(names(&["x1", "x2"])),
            output: "features".to_string(),
            with_mean: false,
            with_std: true,
            window: None,
        })
    );
    assert_eq!(
        kind_of(&spec, "hashed"),
        &StageKind::FeatureHasher(FeatureHasherStage {
            columns: names(&["item", "x2", "ok"]),
            categorical: names(&["x2"]),
            num_features: 262_144,
            output: "hashed".to_string(),
        })
    );
    assert_eq!(
        kind_of(&spec, "assembled"),
        &StageKind::VectorAssembler(VectorAssemblerStage {
            columns: names(&["x1", "features", "ok"]),
            output: "assembled".to_string(),
        })
    );
    assert_eq!(
        kind_of(&spec, "encoded"),
        &StageKind::OneHot(OneHotStage {
            column: "item".to_string(),
            max_categories: 1024,
            output: "item_vec".to_string(),
        })
    );
    // FTRL learning from every example, with an intercept, alpha 0.2 and beta 1 (chosen
    // against River on public data sets; Flink ML's are 0.1 and 0.1).
    assert_eq!(
        kind_of(&spec, "clf"),
        &StageKind::LogisticRegression(LogisticRegressionStage {
            features: FeatureInput::Vector("features".to_string()),
            label: "y".to_string(),
            optimizer: LinearOptimizer::Ftrl,
            learning_rate: 0.2,
            clip_gradient: 1e12,
            alpha: 0.2,
            beta: 1.0,
            reg: 0.0,
            elastic_net: 0.0,
            global_batch_size: 1,
            fit_intercept: true,
            outputs: LearnerColumns::default(),
            policy: Default::default(),
            parameter_shards: None,
        })
    );
    assert_eq!(
        kind_of(&spec, "reg"),
        &StageKind::LinearRegression(LinearRegressionStage {
            features: FeatureInput::Columns(names(&["x1", "x2"])),
            label: "r".to_string(),
            optimizer: LinearOptimizer::Sgd,
            learning_rate: 0.01,
            clip_gradient: 1e12,
            l2: 0.0,
            fit_intercept: true,
            center_label: true,
            outputs: LearnerColumns::default(),
            policy: Default::default(),
            parameter_shards: None,
        })
    );
    assert_eq!(
        kind_of(&spec, "clusters"),
        &StageKind::KMeans(KMeansStage {
            features: FeatureInput::Vector("features".to_string()),
            k: 3,
            decay_factor: 0.0,
            global_batch_size: 32,
            seed: 0,
            parameter_shards: None,
            outputs: LearnerColumns::default(),
            policy: ServingPolicy::default(),
        })
    );
    // River's reco.BiasedMF defaults, with the learning rates of its documented example.
    assert_eq!(
        kind_of(&spec, "mf"),
        &StageKind::MatrixFactorization(MatrixFactorizationStage {
            user: "user".to_string(),
            item: "item".to_string(),
            rating: "r".to_string(),
            model: MfModel::BiasedMf,
            n_factors: 10,
            bias_learning_rate: 0.025,
            latent_learning_rate: 0.025,
            l2_bias: 0.0,
            l2_latent: 0.0,
            init_std: 0.1,
            clip_gradient: 1e12,
            seed: 0,
            parameter_shards: None,
            outputs: LearnerColumns::default(),
            policy: ServingPolicy::default(),
        })
    );
}

#[test]
fn settings_override_the_defaults() {
    let spec = parse(
        &VALID
            .replace(
                "output = \"features\"",
                "output = \"features\"\nwith_mean = true\nwith_std = false\nwindow = 100",
            )
            .replace(
                "label = \"y\"",
                "label = \"y\"\nalpha = 1\nbeta = 0.5\nreg = 0.2\nelastic_net = 1.0\nglobal_batch_size = 1",
            )
            .replace("rating = \"r\"", "rating = \"r\"\nmodel = \"funk_mf\"\nseed = 7"),
    );
    let StageKind::StandardScaler(scaler) = kind_of(&spec, "scaled") else {
        panic!("a scaler")
    };
    assert_eq!(
        (scaler.with_mean, scaler.with_std, scaler.window),
        (true, false, Some(100))
    );
    let StageKind::LogisticRegression(clf) = kind_of(&spec, "clf") else {
        panic!("a classifier")
    };
    assert_eq!(
        (
            clf.alpha,
            clf.beta,
            clf.reg,
            clf.elastic_net,
            clf.global_batch_size
        ),
        (1.0, 0.5, 0.2, 1.0, 1)
    );
    // River's FunkMF learns its factors ten times faster by default.
    let StageKind::MatrixFactorization(mf) = kind_of(&spec, "mf") else {
        panic!("a recommender")
    };
    assert_eq!(
        (mf.model, mf.latent_learning_rate, mf.seed),
        (MfModel::FunkMf, 0.1, 7)
    );
}

#[test]
fn each_stage_adds_its_columns_after_its_input_columns() {
    use ValueType::*;
    let spec = parse(VALID);
    assert_eq!(
        schema_of(&spec, "scaled"),
        source_plus(&[("features", Dense)])
    );
    assert_eq!(
        schema_of(&spec, "encoded"),
        source_plus(&[
            ("features", Dense),
            ("hashed", Sparse),
            ("assembled", Dense),
            ("item_vec", Sparse)
        ])
    );
    assert_eq!(
        schema_of(&spec, "clf"),
        source_plus(&[
            ("features", Dense),
            ("hashed", Sparse),
            ("assembled", Dense),
            ("item_vec", Sparse),
            ("prediction", F64),
            ("probability", F64),
            ("model_version", I64)
        ])
    );
    assert_eq!(
        schema_of(&spec, "reg"),
        source_plus(&[("prediction", F64), ("model_version", I64)])
    );
    assert_eq!(
        schema_of(&spec, "clusters"),
        source_plus(&[
            ("features", Dense),
            ("cluster", I64),
            ("prediction", F64),
            ("model_version", I64)
        ])
    );
    assert_eq!(
        schema_of(&spec, "mf"),
        source_plus(&[("prediction", F64), ("model_version", I64)])
    );
}

#[test]
fn learners_chain_with_their_output_columns_renamed() {
    use ValueType::*;
    // A second learner on the first one's output: its columns need other names.
    let chained = format!(
        "{VALID}
[[stage]]
name = \"clf2\"
kind = \"logistic_regression\"
input = \"clf\"
features = [\"prediction\", \"x1\"]
label = \"y\"
prediction_col = \"p2\"
probability_col = \"prob2\"
model_version_col = \"v2\"

[[stage]]
name = \"clusters2\"
kind = \"kmeans\"
input = \"clusters\"
features = [\"x1\"]
k = 2
cluster_col = \"c2\"
prediction_col = \"k2\"
model_version_col = \"kv2\"
"
    );
    let spec = parse(&chained);
    let clf2 = schema_of(&spec, "clf2");
    assert_eq!(
        clf2[clf2.len() - 3..],
        [
            ("p2".to_string(), F64),
            ("prob2".to_string(), F64),
            ("v2".to_string(), I64)
        ]
    );
    let StageKind::KMeans(k) = kind_of(&spec, "clusters2") else {
        panic!("kmeans")
    };
    assert_eq!(
        k.outputs,
        LearnerColumns {
            cluster: "c2".into(),
            prediction: "k2".into(),
            model_version: "kv2".into(),
            ..LearnerColumns::default()
        }
    );
    // Without new names the second learner's columns would shadow the first's.
    let clash = JobSpec::parse(
        &chained.replace("prediction_col = \"p2\"\n", ""),
        Path::new("/jobs"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        clash.contains("a stream without a column named \"prediction\""),
        "{clash}"
    );
    // Two added columns of one name are refused, naming the field.
    let twice = error_after("k = 3\n", "k = 3\nprediction_col = \"cluster\"\n");
    assert!(
        twice.contains("prediction_col") && twice.contains("cluster_col"),
        "{twice}"
    );
    // A field of another kind's columns is unknown.
    let other = error_after(
        "rating = \"r\"\n",
        "rating = \"r\"\nprobability_col = \"p\"\n",
    );
    assert!(other.contains("probability_col"), "{other}");
}

#[test]
fn ml_stages_read_forward_at_equal_parallelism_and_rebalanced_otherwise() {
    let spec = parse(&VALID.replace(
        "name = \"reg\"\nkind = \"linear_regression\"",
        "name = \"reg\"\nkind = \"linear_regression\"\nparallelism = 2",
    ));
    let plan = JobPlan::from_spec(&spec);
    let partitioning = |name: &str| {
        plan.operators
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| o.input.as_ref())
            .map(|e| e.partitioning.clone())
    };
    assert_eq!(partitioning("scaled"), Some(Partitioning::Forward));
    assert_eq!(partitioning("clf"), Some(Partitioning::Forward));
    assert_eq!(partitioning("reg"), Some(Partitioning::Rebalance));
    let clf = plan.operators.iter().find(|o| o.name == "clf");
    assert_eq!(
        clf.and_then(|o| o.input_schema.clone()),
        spec.schema_of("encoded").cloned()
    );
    assert_ne!(spec.schema_of("encoded"), Some(&Schema::default()));
}

/// `text` with `checkpoint_interval = "1s"` in its job.
fn spec_text_with_checkpoints(text: &str) -> String {
    text.replace(
        "name = \"ml\"\n",
        "name = \"ml\"\ncheckpoint_interval = \"1s\"\n",
    )
}

#[test]
fn learners_of_a_job_with_checkpoints_expand_into_parameter_servers() {
    let text = VALID.replace(
        "name = \"reg\"\nkind = \"linear_regression\"",
        "name = \"reg\"\nkind = \"linear_regression\"\nparallelism = 3",
    );
    // Without checkpoints every partition keeps its own model: no hidden operator.
    let plan = JobPlan::from_spec(&parse(&text));
    assert!(plan.operators.iter().all(|o| !o.name.contains('/')));

    let spec = parse(&text.replace(
        "name = \"ml\"\n",
        "name = \"ml\"\ncheckpoint_interval = \"1s\"\n",
    ));
    let plan = JobPlan::from_spec(&spec);
    let find = |name: &str| plan.operators.iter().find(|o| o.name == name);
    for learner in ["clf", "reg", "clusters"] {
        let worker = find(learner).expect("learner");
        let shards = find(&format!("{learner}/params")).expect("shards");
        let feed = find(&format!("{learner}/versions")).expect("feed");
        let shard_edge = shards.input.as_ref().expect("shard input");
        assert_eq!(shard_edge.from, worker.id);
        assert_eq!(shard_edge.port, OutputPort::Params);
        assert_eq!(
            shard_edge.partitioning,
            Partitioning::Hash {
                key_columns: vec![0]
            }
        );
        assert_eq!(shards.parallelism, worker.parallelism);
        let feed_edge = feed.input.as_ref().expect("feed input");
        assert_eq!(
            (feed_edge.from, feed_edge.port, &feed_edge.partitioning),
            (shards.id, OutputPort::Main, &Partitioning::Broadcast)
        );
        assert_eq!(feed.parallelism, worker.parallelism);
        assert!(matches!(
            &shards.kind,
            OperatorKind::Parameters(p) if p.role == ParameterRole::Shard && p.learner == learner
        ));
        // Only the shards keep state: one value per parameter key.
        let schema = StateSchema::of(shards).expect("shard state");
        assert_eq!(schema.key.len(), 1);
        assert!(StateSchema::of(feed).is_none());
        // The workers' other consumers still read their main output.
        assert!(plan
            .consumers(worker.id)
            .filter(|c| c.id != shards.id)
            .all(|c| c.input.as_ref().map(|e| e.port) == Some(OutputPort::Main)));
    }
    // Other ML stages keep their models per partition, and so does matrix factorisation
    // unless it sets parameter_shards.
    assert!(find("scaled/params").is_none());
    assert!(find("mf/params").is_none());
    assert_eq!(plan.slots_needed(), 3);
    let mf = parse(
        &spec_text_with_checkpoints(&text)
            .replace("rating = \"r\"\n", "rating = \"r\"\nparameter_shards = 4\n"),
    );
    let plan = JobPlan::from_spec(&mf);
    let find_mf = |name: &str| plan.operators.iter().find(|o| o.name == name);
    assert_eq!(find_mf("mf/params").map(|o| o.parallelism), Some(4));
    assert!(find_mf("mf/versions").is_some());

    // parameter_shards sets the shards' partitions; the feed stays one per worker.
    let sharded = parse(
        &text
            .replace(
                "name = \"ml\"\n",
                "name = \"ml\"\ncheckpoint_interval = \"1s\"\n",
            )
            .replace("parallelism = 3", "parallelism = 3\nparameter_shards = 5"),
    );
    let plan = JobPlan::from_spec(&sharded);
    let find = |name: &str| plan.operators.iter().find(|o| o.name == name);
    assert_eq!(find("reg/params").map(|o| o.parallelism), Some(5));
    assert_eq!(find("reg/versions").map(|o| o.parallelism), Some(3));
    assert!(matches!(
        &find("reg/versions").unwrap().kind,
        OperatorKind::Parameters(p) if p.shards == 5 && p.workers == 3
    ));
    // More shards than key groups, or shards without checkpoints, are refused.
    let too_many = text
        .replace(
            "name = \"ml\"\n",
            "name = \"ml\"\ncheckpoint_interval = \"1s\"\n",
        )
        .replace(
            "parallelism = 3",
            "parallelism = 3\nparameter_shards = 1000",
        );
    let e = JobSpec::parse(&too_many, Path::new("/jobs"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("parameter_shards") && e.contains("max_parallelism"),
        "{e}"
    );
    let without = text.replace("parallelism = 3", "parallelism = 3\nparameter_shards = 2");
    let e = JobSpec::parse(&without, Path::new("/jobs"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("checkpoint_interval"), "{e}");
}

#[test]
fn warmup_runs_16_predictions_unless_set_within_its_bounds() {
    let spec = parse(VALID);
    let StageKind::LinearRegression(reg) = kind_of(&spec, "reg") else {
        panic!("a regression")
    };
    assert_eq!(reg.policy.warmup, DEFAULT_WARMUP);
    assert_eq!(DEFAULT_WARMUP, 16);
    let spec = parse(&VALID.replace("label = \"r\"", "label = \"r\"\nwarmup = 0"));
    let StageKind::LinearRegression(reg) = kind_of(&spec, "reg") else {
        panic!("a regression")
    };
    assert_eq!(reg.policy.warmup, 0);
    let e = error_after("label = \"y\"", "label = \"y\"\nwarmup = 2000000");
    assert!(e.contains("warmup") && e.contains("2000000"), "{e}");
    let e = error_after("label = \"y\"", "label = \"y\"\nwarmup = -1");
    assert!(e.contains("warmup"), "{e}");
}

#[test]
fn kmeans_and_mf_on_parameter_servers_take_guards_updates_and_warmup() {
    let guard = "\nguard = { max_increase = 0.5, min_records = 200 }\nwarmup = 3";
    let drift = "\nupdate = { on = \"drift\", column = \"r\" }";
    let text = spec_text_with_checkpoints(VALID)
        .replace("k = 3", &format!("k = 3{guard}"))
        .replace(
            "rating = \"r\"",
            &format!("rating = \"r\"\nparameter_shards = 1{drift}"),
        );
    let spec = parse(&text);
    let clusters = kind_of(&spec, "clusters")
        .serving_policy()
        .expect("a policy");
    assert_eq!(
        (
            clusters.guard.as_ref().map(|g| g.min_records),
            clusters.warmup
        ),
        (Some(200), 3)
    );
    let mf = kind_of(&spec, "mf").serving_policy().expect("a policy");
    assert!(matches!(&mf.update, Some(UpdatePolicy::Drift { column, .. }) if column == "r"));
    // MF without parameter servers keeps a model per partition: nothing to guard or update.
    let per_partition = text.replace("parameter_shards = 1\n", "");
    let e = JobSpec::parse(&per_partition, Path::new("/jobs"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("parameter_shards"), "{e}");
    // A drift policy watches a numeric input column.
    let e = JobSpec::parse(
        &text.replace("column = \"r\"", "column = \"item\""),
        Path::new("/jobs"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("update.column"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_field_lists_the_fields_of_the_kind() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\ncenter_label = true"),
        "stage \"clf\": unknown field \"center_label\"; allowed fields: name, kind, input, \
         parallelism, pool, checks, drift_window, features, label, optimizer, learning_rate, clip_gradient, alpha, beta, \
         reg, elastic_net, global_batch_size, fit_intercept, prediction_col, probability_col, \
         model_version_col, guard, update, warmup, parameter_shards"
    );
}

#[test]
fn misspelt_field_gets_a_suggestion() {
    assert_eq!(
        error_after("k = 3", "k = 3\ndecay_factr = 0.5"),
        "stage \"clusters\": unknown field \"decay_factr\" (did you mean \"decay_factor\"?); \
         allowed fields: name, kind, input, parallelism, pool, checks, drift_window, features, k, decay_factor, \
         global_batch_size, seed, parameter_shards, cluster_col, prediction_col, \
         model_version_col, guard, update, warmup"
    );
}

#[test]
fn late_is_refused_on_ml_stages() {
    assert_eq!(
        error_after("k = 3", "k = 3\nlate = \"out\""),
        "stage \"clusters\": field \"late\" has value \"out\"; allowed: no value on an ML stage: \
         only windowed aggregates have late records; remove `late`"
    );
}

#[test]
fn alpha_must_be_positive() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\nalpha = 0"),
        "stage \"clf\": field \"alpha\" has value 0; allowed: a number greater than 0"
    );
}

#[test]
fn elastic_net_above_one() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\nelastic_net = 1.5"),
        "stage \"clf\": field \"elastic_net\" has value 1.5; allowed: a number from 0 to 1"
    );
}

#[test]
fn a_number_written_as_text() {
    assert_eq!(
        error_after("label = \"r\"", "label = \"r\"\nlearning_rate = \"0.1\""),
        "stage \"reg\": field \"learning_rate\" has value \"0.1\"; allowed: a number greater than 0"
    );
}

#[test]
fn a_flag_written_as_text() {
    assert_eq!(
        error_after(
            "output = \"features\"",
            "output = \"features\"\nwith_mean = \"yes\""
        ),
        "stage \"scaled\": field \"with_mean\" has value \"yes\"; allowed: true or false"
    );
}

#[test]
fn scaler_window_of_one() {
    assert_eq!(
        error_after("output = \"features\"", "output = \"features\"\nwindow = 1"),
        "stage \"scaled\": field \"window\" has value 1; allowed: a whole number ≥ 2"
    );
}

#[test]
fn features_of_the_wrong_shape() {
    assert_eq!(
        error_after("features = \"features\"", "features = 3"),
        "stage \"clf\": field \"features\" has value 3; allowed: a vector column, e.g. \
         \"features\", or a non-empty list of numeric columns, e.g. [\"x1\", \"x2\"]"
    );
    assert_eq!(
        error_after("features = [\"x1\", \"x2\"]", "features = []"),
        "stage \"reg\": field \"features\" has value []; allowed: a vector column, e.g. \
         \"features\", or a non-empty list of numeric columns, e.g. [\"x1\", \"x2\"]"
    );
}

#[test]
fn features_naming_a_scalar_column_where_a_vector_is_needed() {
    assert_eq!(
        error_after("features = \"features\"", "features = \"x1\""),
        "stage \"clf\": field \"features\" has value \"x1\"; allowed: vector columns of input \
         \"encoded\": features, hashed, assembled, item_vec"
    );
}

#[test]
fn feature_columns_must_be_numeric() {
    assert_eq!(
        error_after("features = [\"x1\", \"x2\"]", "features = [\"x1\", \"item\"]"),
        "stage \"reg\": field \"features\" has value \"item\"; allowed: numeric (i64, f64 or bool) \
         columns of input \"events\": user, x1, x2, ok, y, r"
    );
}

#[test]
fn feature_columns_listed_twice() {
    assert_eq!(
        error_after("features = [\"x1\", \"x2\"]", "features = [\"x1\", \"x1\"]"),
        "stage \"reg\": field \"features\" has value \"x1\"; allowed: each column once"
    );
}

#[test]
fn label_missing() {
    assert_eq!(
        error_after("label = \"y\"\n", ""),
        "stage \"clf\": missing required field \"label\"; add label = \"COLUMN\": the 0/1 label \
         column"
    );
}

#[test]
fn label_must_be_numeric() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"item\""),
        "stage \"clf\": field \"label\" has value \"item\"; allowed: numeric (i64, f64 or bool) \
         columns of input \"encoded\": user, x1, x2, ok, y, r"
    );
}

#[test]
fn output_missing() {
    assert_eq!(
        error_after("output = \"hashed\"\n", ""),
        "stage \"hashed\": missing required field \"output\"; add output = \"NAME\" of the sparse \
         vector column this stage adds, e.g. \"features\""
    );
}

#[test]
fn output_naming_an_existing_column() {
    assert_eq!(
        error_after("output = \"features\"", "output = \"x1\""),
        "stage \"scaled\": field \"output\" has value \"x1\"; allowed: a name that is not already \
         a column of input \"events\" (user, item, x1, x2, ok, y, r)"
    );
}

#[test]
fn a_learner_after_a_learner_would_repeat_its_columns() {
    assert_eq!(
        error_after("input = \"scaled\"\nfeatures", "input = \"clf\"\nfeatures"),
        "stage \"clusters\": field \"input\" has value \"clf\"; allowed: a stream without a column \
         named \"prediction\": this stage adds cluster, prediction, model_version (or set \
         prediction_col to another name)"
    );
}

#[test]
fn hasher_categorical_not_among_columns() {
    assert_eq!(
        error_after("categorical = [\"x2\"]", "categorical = [\"x1\"]"),
        "stage \"hashed\": field \"categorical\" has value \"x1\"; allowed: columns listed in \
         `columns`: item, x2, ok"
    );
}

#[test]
fn hasher_cannot_hash_a_vector() {
    assert_eq!(
        error_after(
            "columns = [\"item\", \"x2\", \"ok\"]",
            "columns = [\"item\", \"x2\", \"features\"]"
        ),
        "stage \"hashed\": field \"columns\" has value \"features\"; allowed: i64, f64, bool or \
         string columns of input \"scaled\": user, item, x1, x2, ok, y, r"
    );
}

#[test]
fn hasher_num_features_zero() {
    assert_eq!(
        error_after(
            "output = \"hashed\"",
            "output = \"hashed\"\nnum_features = 0"
        ),
        "stage \"hashed\": field \"num_features\" has value 0; allowed: a whole number from 1 to \
         2147483647"
    );
}

#[test]
fn assembler_columns_empty() {
    assert_eq!(
        error_after("columns = [\"x1\", \"features\", \"ok\"]", "columns = []"),
        "stage \"assembled\": field \"columns\" has value []; allowed: a non-empty list of numeric \
         or vector columns, e.g. [\"x1\", \"x2\"]"
    );
}

#[test]
fn one_hot_of_a_float_column() {
    assert_eq!(
        error_after("column = \"item\"", "column = \"x1\""),
        "stage \"encoded\": field \"column\" has value \"x1\"; allowed: string or i64 columns of \
         input \"assembled\": user, item, x2, y"
    );
}

#[test]
fn one_hot_max_categories_zero() {
    assert_eq!(
        error_after(
            "output = \"item_vec\"",
            "output = \"item_vec\"\nmax_categories = 0"
        ),
        "stage \"encoded\": field \"max_categories\" has value 0; allowed: a whole number from 1 \
         to 16777216"
    );
}

#[test]
fn kmeans_without_k() {
    assert_eq!(
        error_after("k = 3\n", ""),
        "stage \"clusters\": missing required field \"k\"; add k = the number of clusters, e.g. 3"
    );
}

#[test]
fn matrix_factorization_model_unknown() {
    assert_eq!(
        error_after("rating = \"r\"", "rating = \"r\"\nmodel = \"svd\""),
        "stage \"mf\": field \"model\" has value \"svd\"; allowed: baseline, biased_mf, funk_mf"
    );
}

#[test]
fn matrix_factorization_ids_must_be_i64_or_string() {
    assert_eq!(
        error_after("user = \"user\"", "user = \"x1\""),
        "stage \"mf\": field \"user\" has value \"x1\"; allowed: i64 or string columns of input \
         \"events\": user, item, x2, y"
    );
}

// ---------------------------------------------------------------------------------------------
// Optimizers of the linear learners
// ---------------------------------------------------------------------------------------------

/// The spec's learners after adding `clf` and `reg` lines to `VALID`.
fn learners(clf: &str, reg: &str) -> (LogisticRegressionStage, LinearRegressionStage) {
    let spec = parse(
        &VALID
            .replacen("label = \"y\"", &format!("label = \"y\"\n{clf}"), 1)
            .replacen("label = \"r\"", &format!("label = \"r\"\n{reg}"), 1),
    );
    let StageKind::LogisticRegression(c) = kind_of(&spec, "clf").clone() else {
        panic!("a classifier")
    };
    let StageKind::LinearRegression(r) = kind_of(&spec, "reg").clone() else {
        panic!("a regression")
    };
    (c, r)
}

#[test]
fn each_optimizer_defaults_to_rivers_learning_rate() {
    let (c, r) = learners("optimizer = \"adam\"", "optimizer = \"adagrad\"");
    assert_eq!((c.optimizer, c.learning_rate), (LinearOptimizer::Adam, 0.1));
    assert_eq!(
        (r.optimizer, r.learning_rate),
        (LinearOptimizer::AdaGrad, 0.1)
    );
    let (c, r) = learners("optimizer = \"sgd\"", "optimizer = \"adam\"");
    assert_eq!((c.optimizer, c.learning_rate), (LinearOptimizer::Sgd, 0.01));
    assert_eq!((r.optimizer, r.learning_rate), (LinearOptimizer::Adam, 0.1));
    let (c, r) = learners("optimizer = \"ftrl\"", "optimizer = \"sgd\"");
    assert_eq!(c.optimizer, LinearOptimizer::Ftrl);
    assert_eq!((r.optimizer, r.learning_rate), (LinearOptimizer::Sgd, 0.01));
}

#[test]
fn optimizer_learning_rate_and_clip_gradient_are_read() {
    let (c, r) = learners(
        "optimizer = \"adagrad\"\nlearning_rate = 0.5\nclip_gradient = 0.25\nreg = 0.1",
        "optimizer = \"adam\"\nlearning_rate = 2\nclip_gradient = 100",
    );
    assert_eq!(
        (c.optimizer, c.learning_rate, c.clip_gradient, c.reg),
        (LinearOptimizer::AdaGrad, 0.5, 0.25, 0.1)
    );
    assert_eq!(
        (r.optimizer, r.learning_rate, r.clip_gradient),
        (LinearOptimizer::Adam, 2.0, 100.0)
    );
    // FTRL's clip_gradient is read as well.
    let (c, _) = learners("clip_gradient = 0.5", "");
    assert_eq!((c.optimizer, c.clip_gradient), (LinearOptimizer::Ftrl, 0.5));
}

#[test]
fn an_unknown_optimizer_lists_the_learners_choices() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\noptimizer = \"rmsprop\""),
        "stage \"clf\": field \"optimizer\" has value \"rmsprop\"; allowed: ftrl, sgd, adagrad, adam"
    );
    assert_eq!(
        error_after("label = \"r\"", "label = \"r\"\noptimizer = \"ftrl\""),
        "stage \"reg\": field \"optimizer\" has value \"ftrl\"; allowed: sgd, adagrad, adam"
    );
    assert_eq!(
        error_after("label = \"r\"", "label = \"r\"\noptimizer = 1"),
        "stage \"reg\": field \"optimizer\" has value 1; allowed: sgd, adagrad, adam"
    );
}

#[test]
fn learning_rate_must_be_positive_for_every_optimizer() {
    assert_eq!(
        error_after("label = \"r\"", "label = \"r\"\nlearning_rate = 0"),
        "stage \"reg\": field \"learning_rate\" has value 0; allowed: a number greater than 0"
    );
    assert_eq!(
        error_after(
            "label = \"r\"",
            "label = \"r\"\noptimizer = \"adam\"\nlearning_rate = -0.1"
        ),
        "stage \"reg\": field \"learning_rate\" has value -0.1; allowed: a number greater than 0"
    );
    assert_eq!(
        error_after(
            "label = \"y\"",
            "label = \"y\"\noptimizer = \"adagrad\"\nlearning_rate = 0"
        ),
        "stage \"clf\": field \"learning_rate\" has value 0; allowed: a number greater than 0"
    );
}

#[test]
fn clip_gradient_must_be_positive() {
    assert_eq!(
        error_after("label = \"r\"", "label = \"r\"\nclip_gradient = 0"),
        "stage \"reg\": field \"clip_gradient\" has value 0; allowed: a number greater than 0"
    );
    assert_eq!(
        error_after(
            "label = \"y\"",
            "label = \"y\"\noptimizer = \"sgd\"\nclip_gradient = -1.0"
        ),
        "stage \"clf\": field \"clip_gradient\" has value -1.0; allowed: a number greater than 0"
    );
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\nclip_gradient = 0"),
        "stage \"clf\": field \"clip_gradient\" has value 0; allowed: a number greater than 0"
    );
}

#[test]
fn learning_rate_is_not_ftrls_setting() {
    assert_eq!(
        error_after("label = \"y\"", "label = \"y\"\nlearning_rate = 0.1"),
        "stage \"clf\": field \"learning_rate\" has value 0.1; allowed: no value with optimizer \
         \"ftrl\", whose rate is `alpha`; or choose optimizer = \"sgd\", \"adagrad\" or \"adam\""
    );
}

#[test]
fn ftrls_settings_are_refused_with_another_optimizer() {
    assert_eq!(
        error_after(
            "label = \"y\"",
            "label = \"y\"\noptimizer = \"sgd\"\nalpha = 0.5"
        ),
        "stage \"clf\": field \"alpha\" has value 0.5; allowed: no value with optimizer \
         \"sgd\": `alpha` is FTRL's; remove it or set optimizer = \"ftrl\""
    );
    assert_eq!(
        error_after(
            "label = \"y\"",
            "label = \"y\"\noptimizer = \"adam\"\nelastic_net = 0.5"
        ),
        "stage \"clf\": field \"elastic_net\" has value 0.5; allowed: no value with optimizer \
         \"adam\": `elastic_net` is FTRL's; remove it or set optimizer = \"ftrl\""
    );
    assert_eq!(
        error_after(
            "label = \"y\"",
            "label = \"y\"\noptimizer = \"adagrad\"\nglobal_batch_size = 32"
        ),
        "stage \"clf\": field \"global_batch_size\" has value 32; allowed: no value with \
         optimizer \"adagrad\": `global_batch_size` is FTRL's; remove it or set optimizer = \"ftrl\""
    );
    // The values that change nothing are accepted.
    let (c, _) = learners(
        "optimizer = \"adam\"\nelastic_net = 0\nglobal_batch_size = 1",
        "",
    );
    assert_eq!(c.optimizer, LinearOptimizer::Adam);
}

//! Specs that must parse: the design's example (DESIGN.md §3), the bundled examples, and the
//! defaults, derived schemas and resolved references the validated form promises.

use quiver_protocol::plan::{JobPlan, Partitioning};
use quiver_protocol::spec::{
    AggregateCall, AggregateFunction, AggregateStage, BadRecords, ColumnCheck, FileFormat,
    FileSource, GeneratorSource, JobSpec, QualitySpec, SinkKind, SinkSpec, SourceKind, SourceSpec,
    StageKind, StageSpec, TimeUnit, WindowSpec, Workload, DEFAULT_GENERATOR_ITEMS,
};
use quiver_protocol::{Schema, ValueType};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The spec example of DESIGN.md §3, verbatim.
const DESIGN_SPEC: &str = r#"
[job]
name = "spend-per-user"
parallelism = 4                  # default for every stage
max_parallelism = 128            # key groups; fixed for the job's life
checkpoint_interval = "1s"       # omit: no checkpoints
state_ttl = "1h"                 # omit: keep forever

[[source]]
name = "events"
kind = "file"                    # file | generator | kafka
path = "events.csv"              # relative paths resolve against the spec file's folder
                                 # a folder: each of its files ending in .csv (.jsonl) is a split
format = "csv"                   # csv (with header) | jsonl
schema = { user = "string", amount = "f64", ts = "i64" }
event_time = "ts"                # milliseconds since the epoch
max_out_of_orderness = "2s"
rate = 0                         # replay speed in events/s; 0: as fast as possible
parallelism = 1                  # file sources: 1 unless set; splits (files) spread over partitions
idle_timeout = "30s"             # a split without records this long stops holding the watermark back; omit: never idle
max_drift = "1m"                 # a split this far ahead of the slowest one waits; omit: no alignment
checks = { amount = { min = 0, max = 1e6 } }   # data quality (§8): every column's nulls and NaN / ±inf,
                                 # these ranges' violations, numeric columns' drift; drift_window = 10000

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }   # tumbling | sliding (size, slide) | session (gap); omit: running
aggregates = { n = "count()", spend = "sum(amount)", top = "max(amount)" }   # count sum min max avg

[[stage]]                        # online feature scaling (running mean / variance)
name = "scaled"
kind = "standard_scaler"
input = "events"
columns = ["x1", "x2"]
output = "features"              # a dense vector column added to the row

[[stage]]                        # an online learner: predicts first, then learns (progressive)
name = "clf"
kind = "logistic_regression"     # linear_regression, kmeans, matrix_factorization, ...
input = "scaled"
features = "features"            # a vector column, or a list of numeric columns
label = "y"
# adds columns: prediction, probability, model_version

[[sink]]
name = "out"
kind = "file"                    # file | stdout | discard (benchmarks) | redis | kafka
input = "per_user"
path = "out/"                    # a folder of committed part files *.jsonl; in-progress files start with "."
"#;

/// The design's spec without its two ML stages (whose columns its source lacks).
fn design_spec_without_ml() -> String {
    let start = DESIGN_SPEC
        .find("[[stage]]                        # online")
        .expect("ML stages");
    let end = DESIGN_SPEC.find("[[sink]]").expect("sink");
    format!("{}{}", &DESIGN_SPEC[..start], &DESIGN_SPEC[end..])
}

/// A watched column: `range` its checks' (min, max); whether it drifts.
fn check(column: &str, ty: ValueType, range: Option<(f64, f64)>, drifts: bool) -> ColumnCheck {
    ColumnCheck {
        column: column.to_string(),
        ty,
        min: range.map(|r| r.0),
        max: range.map(|r| r.1),
        drifts,
    }
}

/// The validated form of the design's spec (without ML stages), written out by hand.
fn expected_design_job(base: &Path) -> JobSpec {
    let events = Schema::new([
        ("user", ValueType::Str),
        ("amount", ValueType::F64),
        ("ts", ValueType::I64),
    ]);
    let call = |function, column: Option<&str>| AggregateCall {
        function,
        column: column.map(str::to_string),
    };
    JobSpec {
        name: "spend-per-user".to_string(),
        parallelism: 4,
        max_parallelism: 128,
        checkpoint_interval: Some(Duration::from_secs(1)),
        state_ttl: Some(Duration::from_secs(3600)),
        sources: vec![SourceSpec {
            name: "events".to_string(),
            parallelism: 1,
            max_out_of_orderness: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(30)),
            max_drift: Some(Duration::from_secs(60)),
            kind: SourceKind::File(FileSource {
                path: base.join("events.csv"),
                format: FileFormat::Csv,
                columns: None,
                event_time: Some("ts".to_string()),
                event_time_unit: TimeUnit::Milliseconds,
                rate: 0,
                bad_records: BadRecords::Fail,
            }),
            schema: events,
            pool: None,
            quality: QualitySpec {
                columns: vec![
                    check("user", ValueType::Str, None, false),
                    check("amount", ValueType::F64, Some((0.0, 1e6)), true),
                    check("ts", ValueType::I64, None, false),
                ],
                drift_window: 10_000,
            },
        }],
        stages: vec![StageSpec {
            name: "per_user".to_string(),
            input: "events".to_string(),
            parallelism: 4,
            kind: StageKind::Aggregate(AggregateStage {
                key: vec!["user".to_string()],
                window: Some(WindowSpec::Tumbling {
                    size: Duration::from_secs(1),
                }),
                aggregates: vec![
                    ("n".to_string(), call(AggregateFunction::Count, None)),
                    (
                        "spend".to_string(),
                        call(AggregateFunction::Sum, Some("amount")),
                    ),
                    (
                        "top".to_string(),
                        call(AggregateFunction::Max, Some("amount")),
                    ),
                ],
            }),
            late: None,
            schema: Schema::new([
                ("user", ValueType::Str),
                ("window_start", ValueType::I64),
                ("window_end", ValueType::I64),
                ("n", ValueType::I64),
                ("spend", ValueType::F64),
                ("top", ValueType::F64),
            ]),
            pool: None,
            quality: QualitySpec::default(),
        }],
        sinks: vec![SinkSpec {
            name: "out".to_string(),
            input: "per_user".to_string(),
            late: false,
            parallelism: 4,
            kind: SinkKind::File {
                path: base.join("out/"),
                mode: quiver_protocol::spec::OutputMode::Error,
            },
            pool: None,
        }],
    }
}

#[test]
fn design_spec_ml_stages_check_their_columns_against_the_source() {
    // The design's events have no x1, x2, y: the scaler names the first missing column.
    let error = JobSpec::parse(DESIGN_SPEC, Path::new("/jobs")).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stage \"scaled\": field \"columns\" has value \"x1\"; allowed: numeric (i64, f64 or bool) \
         columns of input \"events\": amount, ts"
    );
    // With those columns in the source, the whole design spec parses.
    let with_columns = DESIGN_SPEC.replace(
        "schema = { user = \"string\", amount = \"f64\", ts = \"i64\" }",
        "schema = { user = \"string\", amount = \"f64\", ts = \"i64\", x1 = \"f64\", x2 = \"f64\", y = \"i64\" }",
    );
    let spec = JobSpec::parse(&with_columns, Path::new("/jobs")).unwrap();
    let names: Vec<&str> = spec.stages[2]
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "user",
            "amount",
            "ts",
            "x1",
            "x2",
            "y",
            "features",
            "prediction",
            "probability",
            "model_version"
        ]
    );
}

#[test]
fn design_spec_without_ml_stages_parses_to_its_validated_form() {
    let spec = JobSpec::parse(&design_spec_without_ml(), Path::new("/jobs")).unwrap();
    assert_eq!(spec, expected_design_job(Path::new("/jobs")));
}

#[test]
fn spend_per_user_example_parses_with_paths_beside_the_spec() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/spend-per-user");
    let spec = JobSpec::from_file(&folder.join("job.toml")).unwrap();
    // Resolved paths are lexically normal: no `..` left.
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("examples/spend-per-user");
    let mut expected = expected_design_job(&base);
    expected.checkpoint_interval = None;
    expected.state_ttl = None;
    expected.sources[0].idle_timeout = None;
    expected.sources[0].max_drift = None;
    if let SinkKind::File { mode, .. } = &mut expected.sinks[0].kind {
        *mode = quiver_protocol::spec::OutputMode::Overwrite;
    }
    assert_eq!(spec, expected);
    let SourceKind::File(file) = &spec.sources[0].kind else {
        panic!("file source expected")
    };
    let csv = std::fs::read_to_string(&file.path).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "user,amount,ts");
    assert_eq!(lines.len(), 21, "a header and 20 events");
}

#[test]
fn w1_example_is_the_reference_workload() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/w1/job.toml");
    let spec = JobSpec::from_file(&path).unwrap();
    assert_eq!(spec.checkpoint_interval, None);
    assert_eq!(spec.sources.len(), 1);
    let source = &spec.sources[0];
    assert_eq!(source.max_out_of_orderness, Duration::from_secs(1));
    assert_eq!(source.parallelism, spec.parallelism);
    assert_eq!(
        source.kind,
        SourceKind::Generator(GeneratorSource {
            count: Some(10_000_000),
            rate: 0,
            keys: 100_000,
            seed: 0,
            workload: Workload::W1,
            items: DEFAULT_GENERATOR_ITEMS,
        })
    );
    let count_and_sum = Schema::new([
        ("user", ValueType::I64),
        ("n", ValueType::I64),
        ("total", ValueType::F64),
    ]);
    let running = &spec.stages[0];
    assert_eq!(
        (running.input.as_str(), &running.schema),
        ("events", &count_and_sum)
    );
    let StageKind::Aggregate(aggregate) = &spec.stages[1].kind else {
        panic!("an aggregate stage expected")
    };
    assert_eq!(
        aggregate.window,
        Some(WindowSpec::Tumbling {
            size: Duration::from_secs(1)
        })
    );
    let sinks: Vec<(&str, &SinkKind)> = spec
        .sinks
        .iter()
        .map(|s| (s.input.as_str(), &s.kind))
        .collect();
    assert_eq!(
        sinks,
        [
            ("running", &SinkKind::Discard),
            ("per_second", &SinkKind::Discard)
        ]
    );
}

#[test]
fn defaults_fill_what_a_minimal_spec_leaves_out() {
    let text = r#"
        [job]
        name = "minimal"
        [[source]]
        name = "gen"
        kind = "generator"
        [[stage]]
        name = "total"
        kind = "aggregate"
        input = "gen"
        aggregates = { n = "count()" }
        [[sink]]
        name = "print"
        kind = "stdout"
        input = "total"
    "#;
    let spec = JobSpec::parse(text, Path::new("/")).unwrap();
    assert_eq!((spec.parallelism, spec.max_parallelism), (1, 128));
    assert_eq!((spec.checkpoint_interval, spec.state_ttl), (None, None));
    let source = &spec.sources[0];
    assert_eq!(source.max_out_of_orderness, Duration::ZERO);
    assert_eq!(
        source.kind,
        SourceKind::Generator(GeneratorSource {
            count: None,
            rate: 0,
            keys: 100_000,
            seed: 0,
            workload: Workload::W1,
            items: DEFAULT_GENERATOR_ITEMS,
        })
    );
    assert_eq!(
        source.schema,
        Schema::new([
            ("user", ValueType::I64),
            ("amount", ValueType::F64),
            ("ts", ValueType::I64)
        ])
    );
    // No key: one global key; no window: a running aggregate with just the aggregates.
    assert_eq!(spec.stages[0].schema, Schema::new([("n", ValueType::I64)]));
    assert_eq!(spec.sinks[0].parallelism, 1);
}

#[test]
fn parallelism_defaults_follow_the_job_and_the_input() {
    let text = r#"
        [job]
        name = "p"
        parallelism = 3
        max_parallelism = 16
        [[source]]
        name = "file"
        kind = "file"
        path = "in.jsonl"
        schema = { k = "i64" }
        [[source]]
        name = "gen"
        kind = "generator"
        parallelism = 2
        [[stage]]
        name = "wide"
        kind = "aggregate"
        input = "file"
        key = ["k"]
        parallelism = 16
        aggregates = { n = "count()" }
        [[sink]]
        name = "from_file"
        kind = "discard"
        input = "file"
        [[sink]]
        name = "from_gen"
        kind = "discard"
        input = "gen"
        [[sink]]
        name = "from_stage"
        kind = "discard"
        input = "wide"
        [[sink]]
        name = "pinned"
        kind = "discard"
        input = "wide"
        parallelism = 5
    "#;
    let spec = JobSpec::parse(text, Path::new("/")).unwrap();
    let sources: Vec<u32> = spec.sources.iter().map(|s| s.parallelism).collect();
    assert_eq!(sources, [1, 2]);
    assert_eq!(spec.stages[0].parallelism, 16);
    let sinks: Vec<u32> = spec.sinks.iter().map(|s| s.parallelism).collect();
    assert_eq!(sinks, [1, 2, 16, 5]);
    let SourceKind::File(file) = &spec.sources[0].kind else {
        panic!("file source expected")
    };
    assert_eq!(
        file.format,
        FileFormat::Jsonl,
        "format follows the .jsonl extension"
    );
    assert_eq!(file.event_time, None);
}

#[test]
fn output_schemas_follow_key_window_and_aggregate_types_in_spec_order() {
    let text = r#"
        [job]
        name = "schemas"
        [[source]]
        name = "events"
        kind = "file"
        path = "/data/e.csv"
        schema = { shop = "string", user = "i64", qty = "i64", price = "f64", ts = "i64", vip = "bool" }
        event_time = "ts"
        [[stage]]
        name = "slide"
        kind = "aggregate"
        input = "events"
        key = ["user", "shop"]
        window = { kind = "sliding", size = "10s", slide = "3s" }
        aggregates = { z_qty = "sum(qty)", a_price = "sum(price)", mean = "avg(qty)", low = "min(qty)", high = "max(price)", n = "count( )" }
        [[stage]]
        name = "sessions"
        kind = "aggregate"
        input = "slide"
        key = ["shop"]
        window = { kind = "session", gap = "500ms" }
        aggregates = { windows = "count()", best = "max(z_qty)" }
        [[sink]]
        name = "out"
        kind = "stdout"
        input = "sessions"
    "#;
    let spec = JobSpec::parse(text, Path::new("/elsewhere")).unwrap();
    use ValueType::{Str, F64, I64};
    assert_eq!(
        spec.stages[0].schema,
        Schema::new([
            ("user", I64),
            ("shop", Str),
            ("window_start", I64),
            ("window_end", I64),
            ("z_qty", I64),
            ("a_price", F64),
            ("mean", F64),
            ("low", I64),
            ("high", F64),
            ("n", I64),
        ])
    );
    assert_eq!(
        spec.stages[1].schema,
        Schema::new([
            ("shop", Str),
            ("window_start", I64),
            ("window_end", I64),
            ("windows", I64),
            ("best", I64)
        ])
    );
    let StageKind::Aggregate(aggregate) = &spec.stages[0].kind else {
        panic!("an aggregate stage expected")
    };
    assert_eq!(
        aggregate.window,
        Some(WindowSpec::Sliding {
            size: Duration::from_secs(10),
            slide: Duration::from_secs(3)
        })
    );
    let StageKind::Aggregate(aggregate) = &spec.stages[1].kind else {
        panic!("an aggregate stage expected")
    };
    assert_eq!(
        aggregate.window,
        Some(WindowSpec::Session {
            gap: Duration::from_millis(500)
        })
    );
    let SourceKind::File(file) = &spec.sources[0].kind else {
        panic!("file source expected")
    };
    assert_eq!(
        file.path,
        PathBuf::from("/data/e.csv"),
        "absolute paths stay as written"
    );
    assert_eq!(spec.schema_of("slide"), Some(&spec.stages[0].schema));
    assert_eq!(spec.schema_of("events"), Some(&spec.sources[0].schema));
    assert_eq!(spec.schema_of("out"), None);
}

#[test]
fn a_late_sink_receives_the_stage_input_rows() {
    let text = r#"
        [job]
        name = "late"
        parallelism = 2
        [[source]]
        name = "gen"
        kind = "generator"
        [[stage]]
        name = "per_user"
        kind = "aggregate"
        input = "gen"
        key = ["user"]
        parallelism = 3
        window = { kind = "tumbling", size = "1s" }
        aggregates = { n = "count()" }
        late = "late_rows"
        [[stage]]
        name = "other"
        kind = "aggregate"
        input = "gen"
        window = { kind = "tumbling", size = "1s" }
        aggregates = { n = "count()" }
        late = "other_late"
        [[sink]]
        name = "out"
        kind = "stdout"
        input = "per_user"
        [[sink]]
        name = "late_rows"
        kind = "stdout"
        [[sink]]
        name = "other_late"
        kind = "discard"
        input = "other"
    "#;
    let spec = JobSpec::parse(text, Path::new("/")).unwrap();
    let sinks: Vec<(&str, &str, bool, u32)> = spec
        .sinks
        .iter()
        .map(|s| (s.name.as_str(), s.input.as_str(), s.late, s.parallelism))
        .collect();
    assert_eq!(
        sinks,
        [
            ("out", "per_user", false, 3),
            ("late_rows", "per_user", true, 3),
            ("other_late", "other", true, 2)
        ]
    );
    assert_eq!(spec.stages[0].late.as_deref(), Some("late_rows"));
}

#[test]
fn stages_may_read_stages_declared_after_them() {
    // The design's spec with a stage "totals", declared first, reading its "per_user".
    let totals = "[[stage]]\nname = \"totals\"\nkind = \"aggregate\"\ninput = \"per_user\"\n\
                  key = [\"n\"]\naggregates = { users = \"count()\", spend = \"sum(spend)\" }\n\n";
    let text = design_spec_without_ml().replacen("[[stage]]", &format!("{totals}[[stage]]"), 1)
        + "[[sink]]\nname = \"print\"\nkind = \"stdout\"\ninput = \"totals\"\n";
    let spec = JobSpec::parse(&text, Path::new("/")).expect("valid");
    use ValueType::{Str, F64, I64};
    let per_user = Schema::new([
        ("user", Str),
        ("window_start", I64),
        ("window_end", I64),
        ("n", I64),
        ("spend", F64),
        ("top", F64),
    ]);
    let totals = Schema::new([("n", I64), ("users", I64), ("spend", F64)]);
    assert_eq!(spec.schema_of("per_user"), Some(&per_user));
    assert_eq!(spec.schema_of("totals"), Some(&totals));
    let names: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["per_user", "totals"], "each stage after its input");
    // The plan (what nodes deploy) reads each stage's input schema from its upstream.
    let plan = JobPlan::from_spec(&spec);
    let operator = |name: &str| {
        plan.operators
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no operator {name}"))
    };
    let input = operator("totals").input.as_ref().expect("an input");
    assert_eq!(input.from, operator("per_user").id);
    assert_eq!(
        input.partitioning,
        Partitioning::Hash {
            key_columns: vec![3]
        },
        "keyed by n, column 3 of per_user's rows"
    );
    assert_eq!(operator("totals").input_schema, Some(per_user.clone()));
    assert_eq!(operator("out").input_schema, Some(per_user));
    assert_eq!(operator("print").input_schema, Some(totals));
}

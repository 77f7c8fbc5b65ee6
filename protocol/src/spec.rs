//! The job spec: the TOML contract of `DESIGN.md` §3, parsed and validated into typed form.
//!
//! `JobSpec::parse` reads TOML text and returns either a spec in which every name resolves,
//! every column exists with the right type and every number is in range, or a [`SpecError`]
//! naming the field, the bad value and what is allowed. Nothing is scheduled before that.
//!
//! Reading happens in two passes. First every table is read on its own (`fields`: unknown
//! fields, types, ranges, durations; `source`, `stage`, `sink`: the kinds and their settings),
//! then `graph` checks what spans tables: unique names, `input` and `late` references, no
//! cycles, and each stage's columns against its input's schema, filling in every schema. A
//! stage may read a stage declared after it: the validated spec lists stages in dependency
//! order.

mod checks;
mod duration;
mod error;
mod fields;
mod graph;
mod ml;
mod redis;
mod sink;
mod source;
mod stage;

pub use checks::{DEFAULT_DRIFT_WINDOW, MAX_WATCHED_COLUMNS};
pub use duration::{parse_duration, DurationError};
pub use error::SpecError;
pub use ml::{
    DriftDetectorKind, FeatureHasherStage, FeatureInput, Guard, KMeansStage, LearnerColumns,
    LinearOptimizer, LinearRegressionStage, LogisticRegressionStage, MatrixFactorizationStage,
    MfModel, OneHotStage, PredictStage, PredictVersion, Predicts, RecommendStage, ServingPolicy,
    StandardScalerStage, UpdatePolicy, VectorAssemblerStage, CLUSTER, DEFAULT_CLIP_GRADIENT,
    DEFAULT_MAX_CATEGORIES, DEFAULT_NUM_FEATURES, DEFAULT_PREDICT_ALIAS, DEFAULT_WARMUP,
    MODEL_VERSION, PREDICTION, PROBABILITY, RECOMMEND_COLUMNS,
};
pub use redis::{KeyPart, KeyTemplate, RedisSink, MAX_REDIS_TTL};
pub use source::kafka::{KafkaCompression, KafkaMetadata, KafkaSource, KafkaStart};
pub use source::{generator_schema, DEFAULT_GENERATOR_ITEMS, DEFAULT_GENERATOR_KEYS};

use crate::pool::Pool;
use crate::value::{Schema, ValueType};
use fields::Fields;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::{Table, Value};

/// A validated job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// `job.name`
    pub name: String,
    /// `job.parallelism`: the default for every operator (default 1).
    pub parallelism: u32,
    /// `job.max_parallelism`: number of key groups, fixed for the job's life (default 128).
    pub max_parallelism: u32,
    /// `job.checkpoint_interval`; `None`: no checkpoints.
    pub checkpoint_interval: Option<Duration>,
    /// `job.state_ttl` (from 1 ms to [`MAX_STATE_TTL`]); `None`: keep state forever.
    pub state_ttl: Option<Duration>,
    /// `[[source]]` tables, in spec order.
    pub sources: Vec<SourceSpec>,
    /// `[[stage]]` tables, each after the stage it reads (its `input`), otherwise in spec
    /// order.
    pub stages: Vec<StageSpec>,
    /// `[[sink]]` tables, in spec order.
    pub sinks: Vec<SinkSpec>,
}

/// A `[[source]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Unique operator name.
    pub name: String,
    /// Parallelism of this source (file sources: 1 unless set; its splits are spread over
    /// the partitions).
    pub parallelism: u32,
    /// Watermark lag: `max_out_of_orderness` (default 0).
    pub max_out_of_orderness: Duration,
    /// `idle_timeout`: a split without records this long stops holding the watermark back
    /// until its records come again; `None`: a split never goes idle.
    pub idle_timeout: Option<Duration>,
    /// `max_drift`: a split whose watermark is more than this ahead of the slowest split of
    /// the source (over all its partitions) stops reading until the slowest catches up;
    /// `None`: splits read unaligned.
    pub max_drift: Option<Duration>,
    /// What kind of source, with its settings.
    pub kind: SourceKind,
    /// The schema of the records it emits.
    pub schema: Schema,
    /// `pool = "..."`; `None`: the default pool.
    pub pool: Option<Pool>,
    /// `checks`, `drift_window`: every schema column is watched.
    pub quality: QualitySpec,
}

/// What a source or stage measures of the columns it emits (`checks`, `drift_window`; §8
/// "Data quality").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualitySpec {
    /// The watched columns, in schema order (at most [`MAX_WATCHED_COLUMNS`]).
    pub columns: Vec<ColumnCheck>,
    /// Records per drift window.
    pub drift_window: u64,
}

impl Default for QualitySpec {
    fn default() -> QualitySpec {
        QualitySpec {
            columns: Vec::new(),
            drift_window: DEFAULT_DRIFT_WINDOW,
        }
    }
}

/// One watched column: its nulls, non-finite values, values outside `min..=max`, and (a
/// numeric column other than the event time) its drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnCheck {
    /// The column's name.
    pub column: String,
    /// Its type.
    pub ty: ValueType,
    /// The least value allowed (`checks.COLUMN.min`).
    pub min: Option<f64>,
    /// The greatest value allowed (`checks.COLUMN.max`).
    pub max: Option<f64>,
    /// Whether its drift statistics are kept.
    pub drifts: bool,
}

/// The kinds of source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SourceKind {
    /// `kind = "file"`.
    File(FileSource),
    /// `kind = "generator"`.
    Generator(GeneratorSource),
    /// `kind = "kafka"`.
    Kafka(KafkaSource),
}

/// `kind = "file"`: a CSV or TSV (with a header line, or `columns`) or JSON-lines file, or a
/// folder of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// The file, or a folder whose files ending in the format's extension (`.csv`, `.tsv`,
    /// `.jsonl`) are read, each as one split; relative paths are resolved against the spec
    /// file's folder.
    pub path: PathBuf,
    /// `csv`, `tsv` or `jsonl`.
    pub format: FileFormat,
    /// `columns`: the names of a CSV or TSV file's fields in file order, for a file without a
    /// header line; `None`: the first line is the header.
    pub columns: Option<Vec<String>>,
    /// The column holding event time (`event_time`); `None`: processing order, time 0.
    pub event_time: Option<String>,
    /// `event_time_unit`: what the event time column counts (default milliseconds).
    pub event_time_unit: TimeUnit,
    /// Replay speed in records/s; 0: as fast as possible.
    pub rate: u64,
    /// What to do with a malformed record.
    pub bad_records: BadRecords,
}

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileFormat {
    /// Comma-separated values with a header line (or `columns`).
    Csv,
    /// Tab-separated values, otherwise as [`FileFormat::Csv`] (MovieLens's `u.data`).
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

/// `event_time_unit` on a file source: the unit of the event time column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum TimeUnit {
    /// `"ms"` (default): milliseconds since the epoch.
    #[default]
    Milliseconds,
    /// `"s"`: seconds since the epoch (Unix timestamps, as MovieLens's); the record's event
    /// time is the value × 1000.
    Seconds,
}

/// `mode` on a file sink: what happens when its folder holds the output of another run (a
/// job that this one does not continue from a savepoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum OutputMode {
    /// `"error"` (default): the job fails at once, naming the run whose output is there.
    #[default]
    Error,
    /// `"overwrite"`: that output (the part files and Quiver's hidden files) is deleted first.
    Overwrite,
    /// `"append"`: that output stays and this run's part files are added beside it.
    Append,
}

/// `bad_records` on a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum BadRecords {
    /// `"fail"` (default): the job fails with file, line and reason.
    #[default]
    Fail,
    /// `"skip"`: count the record and go on.
    Skip,
}

/// `kind = "generator"`: a seeded, deterministic workload ([`Workload`]); `ts` is the
/// sequence number (1 event per ms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSource {
    /// Number of events; `None`: unbounded.
    pub count: Option<u64>,
    /// Events/s over all partitions; 0: flat out.
    pub rate: u64,
    /// Number of distinct users (default [`DEFAULT_GENERATOR_KEYS`]).
    pub keys: u64,
    /// Seed of the sequence (default 0).
    pub seed: u64,
    /// `workload`: what the events are (default W1).
    pub workload: Workload,
    /// `items`: number of distinct items of the behaviour workload (default
    /// [`DEFAULT_GENERATOR_ITEMS`]; W1 has none).
    pub items: u64,
}

/// `workload` on a generator: the events it emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Workload {
    /// `"w1"` (default): `user` (i64 in `[0, keys)`), `amount` (f64 in `[0, 100)`), `ts`.
    #[default]
    W1,
    /// `"behaviour"`: a recommender's user behaviour events, `user`, `item`, `action`
    /// (view, click, cart, purchase, rating), `rating`, `strength`, `clicked`, `ts`.
    Behaviour,
}

/// A `[[stage]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// Unique operator name.
    pub name: String,
    /// The operator whose output this stage reads.
    pub input: String,
    /// Parallelism of this stage.
    pub parallelism: u32,
    /// What the stage does.
    pub kind: StageKind,
    /// `late = "SINK"`: where late records go; `None`: they are counted.
    pub late: Option<String>,
    /// The schema of the rows it emits.
    pub schema: Schema,
    /// `pool = "..."` as written; `None`: its input's pool (see [`crate::plan`]).
    pub pool: Option<Pool>,
    /// `checks`, `drift_window`: only the columns `checks` names are watched.
    pub quality: QualitySpec,
}

/// The kinds of stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StageKind {
    /// `kind = "aggregate"`.
    Aggregate(AggregateStage),
    /// `kind = "standard_scaler"`.
    StandardScaler(StandardScalerStage),
    /// `kind = "feature_hasher"`.
    FeatureHasher(FeatureHasherStage),
    /// `kind = "vector_assembler"`.
    VectorAssembler(VectorAssemblerStage),
    /// `kind = "one_hot"`.
    OneHot(OneHotStage),
    /// `kind = "logistic_regression"`.
    LogisticRegression(LogisticRegressionStage),
    /// `kind = "linear_regression"`.
    LinearRegression(LinearRegressionStage),
    /// `kind = "kmeans"`.
    KMeans(KMeansStage),
    /// `kind = "matrix_factorization"`.
    MatrixFactorization(MatrixFactorizationStage),
    /// `kind = "predict"`.
    Predict(PredictStage),
    /// `kind = "recommend"`.
    Recommend(RecommendStage),
}

impl StageKind {
    /// The `parameter_shards` of a learner with additive parameters (`None`: not set, or
    /// another kind).
    pub fn parameter_shards(&self) -> Option<u32> {
        match self {
            StageKind::LogisticRegression(s) => s.parameter_shards,
            StageKind::LinearRegression(s) => s.parameter_shards,
            StageKind::KMeans(s) => s.parameter_shards,
            StageKind::MatrixFactorization(s) => s.parameter_shards,
            _ => None,
        }
    }

    /// The serving policies of a learner with additive parameters (`None` for other kinds).
    pub fn serving_policy(&self) -> Option<&ServingPolicy> {
        match self {
            StageKind::LogisticRegression(s) => Some(&s.policy),
            StageKind::LinearRegression(s) => Some(&s.policy),
            StageKind::KMeans(s) => Some(&s.policy),
            StageKind::MatrixFactorization(s) => Some(&s.policy),
            _ => None,
        }
    }
}

impl JobSpec {
    /// The stage whose model versions stage `stage` serves: a `predict` stage's `model`,
    /// else the stage itself (the name serving tables and the registry meet at).
    pub fn model_of<'a>(&'a self, stage: &'a str) -> &'a str {
        self.stages
            .iter()
            .find(|s| s.name == stage)
            .and_then(|s| match &s.kind {
                StageKind::Predict(p) => Some(p.model.as_str()),
                _ => None,
            })
            .unwrap_or(stage)
    }

    /// The `predict` stages of the job with what they serve.
    pub fn predict_stages(&self) -> impl Iterator<Item = (&str, &PredictStage)> + '_ {
        self.stages.iter().filter_map(|s| match &s.kind {
            StageKind::Predict(p) => Some((s.name.as_str(), p)),
            _ => None,
        })
    }
}

/// `kind = "aggregate"`: keyed aggregates, running or windowed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateStage {
    /// Key columns (`key`); empty: one global key.
    pub key: Vec<String>,
    /// `window`; `None`: a running aggregate, one updated row per input record.
    pub window: Option<WindowSpec>,
    /// Output column name and function, in spec order.
    pub aggregates: Vec<(String, AggregateCall)>,
}

/// Window assigners.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows of `size`.
    Tumbling {
        /// Window length.
        size: Duration,
    },
    /// Windows of `size` starting every `slide`.
    Sliding {
        /// Window length.
        size: Duration,
        /// Distance between window starts.
        slide: Duration,
    },
    /// Per-key windows closed by `gap` without records.
    Session {
        /// Inactivity that closes a session.
        gap: Duration,
    },
}

/// An aggregate function applied to a column (`count()` has none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregateCall {
    /// The function.
    pub function: AggregateFunction,
    /// Its argument column; `None` for `count()`.
    pub column: Option<String>,
}

/// Aggregate functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggregateFunction {
    /// `count()`: i64
    Count,
    /// `sum(c)`: f64 (i64 for an i64 column)
    Sum,
    /// `min(c)`: the column's type
    Min,
    /// `max(c)`: the column's type
    Max,
    /// `avg(c)`: f64
    Avg,
}

/// A `[[sink]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SinkSpec {
    /// Unique operator name.
    pub name: String,
    /// The operator whose output it writes (for a late sink: the stage whose late records it
    /// receives).
    pub input: String,
    /// `true`: this sink receives the late input rows of stage `input` (whose `late` names this
    /// sink), not its output.
    pub late: bool,
    /// Parallelism (default: the input's).
    pub parallelism: u32,
    /// Where it writes.
    pub kind: SinkKind,
    /// `pool = "..."` as written; `None`: its input's pool (see [`crate::plan`]).
    pub pool: Option<Pool>,
}

/// The kinds of sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SinkKind {
    /// A folder of committed part files `*.jsonl`; in-progress files start with ".".
    File {
        /// The folder (relative paths resolve against the spec file's folder).
        path: PathBuf,
        /// What to do when the folder holds another run's output.
        mode: OutputMode,
    },
    /// One JSON object per line on standard output.
    Stdout,
    /// Drops everything (benchmarks).
    Discard,
    /// Messages to a Kafka topic, one per row (its JSON object), exactly once per checkpoint.
    Kafka {
        /// Bootstrap brokers, `HOST:PORT` each.
        brokers: Vec<String>,
        /// The topic written.
        topic: String,
        /// The input column whose value is each message's key; `None`: no key.
        key: Option<String>,
        /// How the produced record batches are compressed.
        compression: KafkaCompression,
    },
    /// The embedded serving store: the last committed row per key, in a table of the node
    /// process, served over HTTP (`GET /{table}/{key}`).
    Serve {
        /// `table` (default: the sink's name).
        table: String,
        /// `key`: the column rows are looked up by (i64 or string).
        key: String,
        /// `listen`: the serving API's `HOST:PORT` (default `127.0.0.1:8080`).
        listen: String,
    },
    /// `SET key row` in a Redis server, per completed checkpoint with them.
    Redis(RedisSink),
}

impl ValueType {
    /// The output type of an aggregate function over a column of this type.
    pub fn aggregate_output(self, function: AggregateFunction) -> ValueType {
        match function {
            AggregateFunction::Count => ValueType::I64,
            AggregateFunction::Avg => ValueType::F64,
            AggregateFunction::Sum if self == ValueType::I64 => ValueType::I64,
            AggregateFunction::Sum => ValueType::F64,
            AggregateFunction::Min | AggregateFunction::Max => self,
        }
    }
}

/// Job-wide settings the operator tables are read against.
struct Context<'a> {
    /// `job.parallelism`: the default for every operator.
    parallelism: u32,
    /// `job.max_parallelism`: the upper bound of every parallelism.
    max_parallelism: u32,
    /// The folder relative paths resolve against.
    base_dir: &'a Path,
}

impl Context<'_> {
    /// `path` made absolute against the spec's folder.
    fn resolve_path(
        &self,
        fields: &Fields<'_>,
        key: &str,
        path: &str,
    ) -> Result<PathBuf, SpecError> {
        let invalid = || {
            fields.invalid(
                key,
                &Value::String(path.to_string()),
                "a non-empty file or folder path",
            )
        };
        if path.is_empty() {
            return Err(invalid());
        }
        std::path::absolute(self.base_dir.join(path))
            .map(|p| lexically_normal(&p))
            .map_err(|_| invalid())
    }
}

/// `path` without `.` components, each `..` taking away the component before it: resolved
/// paths compare equal when they name one folder (`out`, `out/`, `./out`, `a/../out`), without
/// following symbolic links (the folder need not exist yet).
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Default `job.max_parallelism`: the number of key groups.
pub const DEFAULT_MAX_PARALLELISM: u32 = 128;
/// Largest `job.max_parallelism`.
pub const MAX_MAX_PARALLELISM: u32 = 32768;
/// The most windows of a sliding window one record may fall in (`size / slide`, rounded up):
/// each record updates that many accumulators, so a day sliding by 10 s (8,640) is allowed, a
/// day sliding by 1 s is not.
pub const MAX_WINDOWS_PER_RECORD: u32 = 10_000;

/// The longest `job.state_ttl`: `i64::MAX` milliseconds, so a last-write time plus the TTL
/// is computed in `i64` milliseconds without overflow (saturating).
pub const MAX_STATE_TTL: Duration = Duration::from_millis(i64::MAX as u64);

impl JobSpec {
    /// Parses and validates TOML text; `base_dir` resolves relative `path`s (source file, sink
    /// folder) to absolute ones.
    pub fn parse(text: &str, base_dir: &Path) -> Result<JobSpec, SpecError> {
        let root: Table = text.parse().map_err(|e: toml::de::Error| {
            SpecError::Syntax(e.to_string().trim_end().to_string())
        })?;
        let top = Fields::new("job spec", &root);
        top.deny_unknown(&["job", "source", "stage", "sink"])?;
        let job = match root.get("job") {
            Some(Value::Table(job)) => Fields::new("[job]", job),
            Some(other) => return Err(top.invalid("job", other, "a [job] table")),
            None => {
                return Err(top.missing("job", "add a [job] table with at least name = \"...\""))
            }
        };
        job.deny_unknown(&[
            "name",
            "parallelism",
            "max_parallelism",
            "checkpoint_interval",
            "state_ttl",
        ])?;
        let name = job.required_string("name", "\"my-job\"")?;
        if name.trim().is_empty() {
            return Err(job.invalid("name", &Value::String(name.to_string()), "a non-empty name"));
        }
        let max_parallelism = job
            .parallelism("max_parallelism", MAX_MAX_PARALLELISM)?
            .unwrap_or(DEFAULT_MAX_PARALLELISM);
        let parallelism = match job.get("parallelism") {
            Some(value) => job
                .parallelism("parallelism", max_parallelism)
                .map_err(|_| {
                    job.invalid(
                        "parallelism",
                        value,
                        format!("a whole number from 1 to max_parallelism ({max_parallelism})"),
                    )
                })?,
            None => None,
        }
        .unwrap_or(1);
        let cx = Context {
            parallelism,
            max_parallelism,
            base_dir,
        };
        let sources = read_operators(&top, "source", true, |f, name| source::parse(f, name, &cx))?;
        let (mut stages, stage_checks): (Vec<StageSpec>, Vec<checks::WrittenChecks>) =
            read_operators(&top, "stage", false, |f, name| {
                Ok((stage::parse(f, name, &cx)?, checks::parse(f)?))
            })?
            .into_iter()
            .unzip();
        let sinks = read_operators(&top, "sink", true, |f, name| sink::parse(f, name, &cx))?;
        let checkpoint_interval = job.duration("checkpoint_interval", true)?;
        ml::resolve_predict(&mut stages, checkpoint_interval.is_some())?;
        let sinks = graph::resolve(&sources, &mut stages, sinks)?;
        checks::resolve_stages(&mut stages, stage_checks)?;
        if let Some(stage) = stages.iter().find(|s| {
            s.kind
                .parameter_shards()
                .is_some_and(|n| n > max_parallelism)
        }) {
            return Err(SpecError::Invalid {
                at: format!("stage \"{}\"", stage.name),
                field: "parameter_shards".into(),
                value: stage.kind.parameter_shards().unwrap_or(0).to_string(),
                allowed: format!("a whole number from 1 to max_parallelism ({max_parallelism})"),
            });
        }
        if checkpoint_interval.is_none() {
            let parameter_servers = |s: &&StageSpec| {
                s.kind.serving_policy().is_some_and(|p| p.is_set())
                    || s.kind.parameter_shards().is_some()
            };
            if let Some(stage) = stages.iter().find(parameter_servers) {
                return Err(SpecError::Invalid {
                    at: format!("stage \"{}\"", stage.name),
                    field: "guard / update / parameter_shards".into(),
                    value: "set".into(),
                    allowed: "none in a job without checkpoints: they concern parameter servers \
                              and their versions, which need job.checkpoint_interval (e.g. \"1s\")"
                        .into(),
                });
            }
        }
        Ok(JobSpec {
            name: name.to_string(),
            parallelism,
            max_parallelism,
            checkpoint_interval,
            state_ttl: job.positive_duration_at_most("state_ttl", MAX_STATE_TTL)?,
            sources,
            stages,
            sinks,
        })
    }

    /// Reads a spec file (errors name the file), resolving paths against its folder.
    pub fn from_file(path: &Path) -> Result<JobSpec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        JobSpec::parse(&text, folder).map_err(|e| e.in_file(path.to_path_buf()))
    }

    /// The schema of the rows a source or stage emits.
    pub fn schema_of(&self, operator: &str) -> Option<&Schema> {
        graph::schema_of(&self.sources, &self.stages, operator)
    }
}

/// Reads every table of a `[[what]]` array with `parse`, given the table and the operator's
/// name; `required`: at least one table must exist.
fn read_operators<T>(
    top: &Fields<'_>,
    what: &str,
    required: bool,
    parse: impl Fn(&Fields<'_>, &str) -> Result<T, SpecError>,
) -> Result<Vec<T>, SpecError> {
    let shape = format!("one or more [[{what}]] tables (double brackets)");
    let items = match top.get(what) {
        None if required => {
            return Err(top.missing(what, format!("add at least one [[{what}]] table")));
        }
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(top.invalid(what, other, shape)),
    };
    let mut operators = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Value::Table(table) = item else {
            return Err(top.invalid(what, item, shape));
        };
        let name = graph::operator_name(table, what, index)?;
        operators.push(parse(
            &Fields::new(&format!("{what} \"{name}\""), table),
            &name,
        )?);
    }
    Ok(operators)
}

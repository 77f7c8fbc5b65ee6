//! The job spec: the TOML contract of `DESIGN.md` §3, parsed and validated into typed form.
//!
//! `JobSpec::parse` reads TOML text and returns either a spec in which every name resolves,
//! every column exists with the right type and every number is in range, or a [`SpecError`]
//! naming the field, the bad value and what is allowed. Nothing is scheduled before that.

use crate::value::{Schema, ValueType};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

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
    /// `job.state_ttl`; `None`: keep state forever.
    pub state_ttl: Option<Duration>,
    /// `[[source]]` tables, in spec order.
    pub sources: Vec<SourceSpec>,
    /// `[[stage]]` tables, in spec order.
    pub stages: Vec<StageSpec>,
    /// `[[sink]]` tables, in spec order.
    pub sinks: Vec<SinkSpec>,
}

/// A `[[source]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceSpec {
    /// Unique operator name.
    pub name: String,
    /// Parallelism of this source (file sources: 1).
    pub parallelism: u32,
    /// Watermark lag: `max_out_of_orderness` (default 0).
    pub max_out_of_orderness: Duration,
    /// What kind of source, with its settings.
    pub kind: SourceKind,
    /// The schema of the records it emits.
    pub schema: Schema,
}

/// The kinds of source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SourceKind {
    /// `kind = "file"`.
    File(FileSource),
    /// `kind = "generator"`.
    Generator(GeneratorSource),
}

/// `kind = "file"`: a CSV (with header) or JSON-lines file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileSource {
    /// The file; relative paths are resolved against the spec file's folder.
    pub path: PathBuf,
    /// `csv` or `jsonl`.
    pub format: FileFormat,
    /// The column holding event time in ms (`event_time`); `None`: processing order, time 0.
    pub event_time: Option<String>,
    /// Replay speed in records/s; 0: as fast as possible.
    pub rate: u64,
    /// What to do with a malformed record.
    pub bad_records: BadRecords,
}

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
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

/// `kind = "generator"`: the seeded, deterministic W1 workload. Emits `user` (i64 in
/// `[0, keys)`), `amount` (f64 in `[0, 100)`) and `ts` (= sequence number, 1 per ms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorSource {
    /// Number of events; `None`: unbounded.
    pub count: Option<u64>,
    /// Events/s over all partitions; 0: flat out.
    pub rate: u64,
    /// Number of distinct users.
    pub keys: u64,
    /// Seed of the sequence.
    pub seed: u64,
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
}

/// The kinds of stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StageKind {
    /// `kind = "aggregate"`.
    Aggregate(AggregateStage),
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
    /// The operator whose output it writes.
    pub input: String,
    /// Parallelism (default: the input's).
    pub parallelism: u32,
    /// Where it writes.
    pub kind: SinkKind,
}

/// The kinds of sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SinkKind {
    /// A folder of committed part files `*.jsonl`; in-progress files start with ".".
    File {
        /// The folder (relative paths resolve against the spec file's folder).
        path: PathBuf,
    },
    /// One JSON object per line on standard output.
    Stdout,
    /// Drops everything (benchmarks).
    Discard,
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

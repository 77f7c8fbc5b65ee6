//! Helpers of the ML stage tests: a stage read from a spec table over a given input schema,
//! rows, and running rows through an operator in batches.

use quiver_node::operator::{Operator, Output};
use quiver_node::operators::{build_stage, StageContext};
use quiver_protocol::batch::{self, Batch};
use quiver_protocol::spec::{JobSpec, StageKind, StageSpec};
use quiver_protocol::{Record, Row, Schema, Value, ValueType};
use std::path::Path;
use std::sync::Arc;

/// The job settings every test stage is built with: 128 key groups, no state TTL.
pub(crate) const CONTEXT: StageContext = StageContext {
    max_parallelism: 128,
    state_ttl: None,
    checkpoints: true,
};

/// The validated stage `s` (`table` holds its kind and settings, `parallelism` its
/// partitions) reading a source with the inline TOML `schema`, and its input schema.
pub(crate) fn stage_spec(schema: &str, table: &str, parallelism: u32) -> (StageSpec, Schema) {
    let text = format!(
        "[job]\nname = \"t\"\nmax_parallelism = 128\n\n\
         [[source]]\nname = \"events\"\nkind = \"file\"\npath = \"e.csv\"\nformat = \"csv\"\nschema = {schema}\n\n\
         [[stage]]\nname = \"s\"\ninput = \"events\"\nparallelism = {parallelism}\n{table}\n\n\
         [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"s\"\n"
    );
    let spec = JobSpec::parse(&text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}"));
    let input = spec.sources[0].schema.clone();
    (spec.stages[0].clone(), input)
}

/// Partition 0 of stage `s` (parallelism 1).
pub(crate) fn build(schema: &str, table: &str) -> Box<dyn Operator> {
    let (stage, input) = stage_spec(schema, table, 1);
    build_stage(&stage, &input, &CONTEXT).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `rows` through `op` in batches of `batch` rows; returns the output rows in order.
pub(crate) fn run(op: &mut dyn Operator, rows: &[Row], batch: usize) -> Vec<Row> {
    let mut out_rows = Vec::new();
    for (b, chunk) in rows.chunks(batch).enumerate() {
        let records: Vec<Record> = chunk
            .iter()
            .enumerate()
            .map(|(i, row)| Record {
                event_time: (b * batch + i) as i64,
                row: row.clone(),
            })
            .collect();
        let mut out = Output::default();
        op.process_batch(&batch_of(&records), &mut out)
            .unwrap_or_else(|e| panic!("{e}"));
        out_rows.extend(
            out.records
                .iter()
                .flat_map(batch::to_records)
                .map(|r| r.row),
        );
    }
    out_rows
}

/// Records as a batch, each column of the type of its first value that is not null (i64
/// when all are null).
pub(crate) fn batch_of(records: &[Record]) -> Batch {
    let width = records.iter().map(|r| r.row.len()).max().unwrap_or(0);
    let names: Vec<String> = (0..width).map(|c| format!("c{c}")).collect();
    let schema = Schema::new(names.iter().enumerate().map(|(c, name)| {
        let ty = records
            .iter()
            .find_map(|r| r.row.get(c).and_then(Value::value_type))
            .unwrap_or(ValueType::I64);
        (name.as_str(), ty)
    }));
    batch::from_records(&schema, records).unwrap_or_else(|e| panic!("{e}"))
}

/// Partition 0 of a stage of `kind` (parallelism 1) reading rows of `input`: for inputs with
/// vector columns, which a spec's sources cannot declare.
pub(crate) fn build_kind(kind: StageKind, input: &[(&str, ValueType)]) -> Box<dyn Operator> {
    let stage = StageSpec {
        name: "s".to_string(),
        input: "events".to_string(),
        parallelism: 1,
        kind,
        late: None,
        schema: Schema::default(),
        pool: None,
        quality: Default::default(),
    };
    build_stage(&stage, &Schema::new(input.iter().copied()), &CONTEXT)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A dense vector value.
pub(crate) fn dense(x: &[f64]) -> Value {
    Value::Dense(Arc::from(x))
}

/// A seeded generator (SplitMix64) for test data.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number, uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }
}

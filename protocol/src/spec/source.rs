//! `[[source]]` tables: file, generator and Kafka sources, with their settings and schemas.

use super::error::SpecError;
use super::fields::Fields;
use super::Context;
use crate::spec::{
    BadRecords, FileFormat, FileSource, GeneratorSource, SourceKind, SourceSpec, TimeUnit, Workload,
};
use crate::value::{Column, Schema, ValueType};
use std::time::Duration;
use toml::Value;

pub(super) mod kafka;

/// Source kinds this version runs.
const KINDS: &str = "file, generator, kafka";
/// Column types a file can hold.
const FILE_TYPES: &str = "i64, f64, string, bool";
/// Default number of distinct users of a generator (the W1 workload's 100k).
pub const DEFAULT_GENERATOR_KEYS: u64 = 100_000;
/// Default number of distinct items of the behaviour workload.
pub const DEFAULT_GENERATOR_ITEMS: u64 = 10_000;
/// The fewest items the behaviour workload takes: one per taste category.
const MIN_GENERATOR_ITEMS: u64 = 16;

/// Fields every source accepts.
const COMMON_FIELDS: [&str; 9] = [
    "name",
    "kind",
    "parallelism",
    "pool",
    "max_out_of_orderness",
    "idle_timeout",
    "max_drift",
    super::checks::FIELDS[0],
    super::checks::FIELDS[1],
];
/// Fields of `kind = "file"` beyond the common ones.
const FILE_FIELDS: [&str; 8] = [
    "path",
    "format",
    "columns",
    "schema",
    "event_time",
    "event_time_unit",
    "rate",
    "bad_records",
];
/// Fields of `kind = "generator"` beyond the common ones.
const GENERATOR_FIELDS: [&str; 6] = ["count", "rate", "keys", "seed", "workload", "items"];

/// The fixed schema of a generator's workload: W1's `user` (i64), `amount` (f64), `ts` (i64,
/// event time); the behaviour workload's `user`, `item` (i64), `action` (string), `rating`,
/// `strength`, `clicked` (f64) and `ts`.
pub fn generator_schema(workload: Workload) -> Schema {
    match workload {
        Workload::W1 => Schema::new([
            ("user", ValueType::I64),
            ("amount", ValueType::F64),
            ("ts", ValueType::I64),
        ]),
        Workload::Behaviour => Schema::new([
            ("user", ValueType::I64),
            ("item", ValueType::I64),
            ("action", ValueType::Str),
            ("rating", ValueType::F64),
            ("strength", ValueType::F64),
            ("clicked", ValueType::F64),
            ("ts", ValueType::I64),
        ]),
    }
}

/// Reads one `[[source]]` table named `name`.
pub(super) fn parse(
    fields: &Fields<'_>,
    name: &str,
    cx: &Context<'_>,
) -> Result<SourceSpec, SpecError> {
    let kind = fields.required_string("kind", &format!("one of {KINDS}"))?;
    let (kind, schema, parallelism) = match kind {
        "file" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &FILE_FIELDS].concat())?;
            let (file, schema) = file_source(fields, cx)?;
            // Not the job's default: one file is one split, read by one partition.
            let parallelism = fields
                .parallelism("parallelism", cx.max_parallelism)?
                .unwrap_or(1);
            (SourceKind::File(file), schema, parallelism)
        }
        "generator" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &GENERATOR_FIELDS].concat())?;
            let generator = generator_source(fields)?;
            let parallelism = fields
                .parallelism("parallelism", cx.max_parallelism)?
                .unwrap_or(cx.parallelism);
            let schema = generator_schema(generator.workload);
            (SourceKind::Generator(generator), schema, parallelism)
        }
        "kafka" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &kafka::FIELDS].concat())?;
            let (kafka, schema) = kafka::parse(fields)?;
            // One split per topic partition: read by the job's default parallelism.
            let parallelism = fields
                .parallelism("parallelism", cx.max_parallelism)?
                .unwrap_or(cx.parallelism);
            (SourceKind::Kafka(kafka), schema, parallelism)
        }
        other => {
            return Err(SpecError::UnknownKind {
                at: fields.at().to_string(),
                what: "source",
                kind: other.to_string(),
                allowed: KINDS.to_string(),
            })
        }
    };
    let max_drift = fields.event_time_span("max_drift", true)?;
    let event_time = match &kind {
        SourceKind::File(FileSource { event_time, .. })
        | SourceKind::Kafka(kafka::KafkaSource { event_time, .. }) => event_time.as_deref(),
        SourceKind::Generator(_) => Some("ts"),
    };
    let no_event_time = event_time.is_none();
    let quality = super::checks::resolve(super::checks::parse(fields)?, &schema, true, event_time)?;
    if let (Some(value), true) = (fields.get("max_drift"), no_event_time) {
        return Err(fields.invalid(
            "max_drift",
            value,
            "only with event_time (alignment compares the event times of splits): add \
             event_time = \"<an i64 column>\" or remove max_drift",
        ));
    }
    Ok(SourceSpec {
        name: name.to_string(),
        parallelism,
        max_out_of_orderness: fields
            .event_time_span("max_out_of_orderness", false)?
            .unwrap_or(Duration::ZERO),
        idle_timeout: fields.duration("idle_timeout", true)?,
        max_drift,
        kind,
        schema,
        pool: fields.pool()?,
        quality,
    })
}

/// The settings of a `kind = "generator"` source.
fn generator_source(fields: &Fields<'_>) -> Result<GeneratorSource, SpecError> {
    let workload = fields
        .choice(
            "workload",
            &[("w1", Workload::W1), ("behaviour", Workload::Behaviour)],
        )?
        .unwrap_or_default();
    let items = fields.integer("items", MIN_GENERATOR_ITEMS, u64::MAX)?;
    if let (Some(_), Workload::W1, Some(value)) = (items, workload, fields.get("items")) {
        return Err(fields.invalid(
            "items",
            value,
            "only with workload = \"behaviour\" (W1 has no items): remove it or add that",
        ));
    }
    Ok(GeneratorSource {
        count: fields.integer("count", 0, u64::MAX)?,
        rate: fields.integer("rate", 0, u64::MAX)?.unwrap_or(0),
        keys: fields
            .integer("keys", 1, u64::MAX)?
            .unwrap_or(DEFAULT_GENERATOR_KEYS),
        seed: fields.integer("seed", 0, u64::MAX)?.unwrap_or(0),
        workload,
        items: items.unwrap_or(DEFAULT_GENERATOR_ITEMS),
    })
}

/// The settings and schema of a `kind = "file"` source.
fn file_source(fields: &Fields<'_>, cx: &Context<'_>) -> Result<(FileSource, Schema), SpecError> {
    let path = fields.required_string("path", "\"events.csv\" (relative to the spec's folder)")?;
    let path = cx.resolve_path(fields, "path", path)?;
    let format =
        match fields.choice(
            "format",
            &[
                ("csv", FileFormat::Csv),
                ("tsv", FileFormat::Tsv),
                ("jsonl", FileFormat::Jsonl),
            ],
        )? {
            Some(format) => format,
            None => match path.extension().and_then(|e| e.to_str()) {
                Some("csv") => FileFormat::Csv,
                Some("tsv") => FileFormat::Tsv,
                Some("jsonl") => FileFormat::Jsonl,
                _ => return Err(fields.missing(
                    "format",
                    "the file name does not end in .csv, .tsv or .jsonl: add format = \"csv\", \
                     \"tsv\" or \"jsonl\"",
                )),
            },
        };
    let schema = file_schema(fields)?;
    let columns = file_columns(fields, format, &schema, &[])?;
    let event_time = event_time(fields, &schema)?;
    let bad_records = bad_records(fields)?;
    let event_time_unit = fields
        .choice(
            "event_time_unit",
            &[("ms", TimeUnit::Milliseconds), ("s", TimeUnit::Seconds)],
        )?
        .unwrap_or_default();
    if let (Some(value), None) = (fields.get("event_time_unit"), event_time) {
        return Err(fields.invalid(
            "event_time_unit",
            value,
            "only with event_time (it is the unit of that column): add event_time or remove it",
        ));
    }
    let file = FileSource {
        path,
        format,
        columns,
        event_time: event_time.map(str::to_string),
        event_time_unit,
        rate: fields.integer("rate", 0, u64::MAX)?.unwrap_or(0),
        bad_records,
    };
    Ok((file, schema))
}

/// `event_time`: the name of an i64 column of `schema`, if set.
fn event_time<'a>(fields: &Fields<'a>, schema: &Schema) -> Result<Option<&'a str>, SpecError> {
    let event_time = fields.string("event_time", "the name of an i64 column of the schema")?;
    if let Some(column) = event_time {
        let is_i64 = schema
            .index_of(column)
            .is_some_and(|i| schema.columns[i].ty == ValueType::I64);
        if !is_i64 {
            return Err(fields.invalid(
                "event_time",
                &Value::String(column.to_string()),
                format!(
                    "an i64 column of the schema (milliseconds since the epoch): {}",
                    i64_columns(schema)
                ),
            ));
        }
    }
    Ok(event_time)
}

/// `bad_records = "fail" | "skip"` (default fail).
fn bad_records(fields: &Fields<'_>) -> Result<BadRecords, SpecError> {
    Ok(fields
        .choice(
            "bad_records",
            &[("fail", BadRecords::Fail), ("skip", BadRecords::Skip)],
        )?
        .unwrap_or_default())
}

/// `columns = ["user", ...]`: the fields of a CSV or TSV file without a header line, in file
/// order. Every schema column must be one of them; the others are read and ignored.
fn file_columns(
    fields: &Fields<'_>,
    format: FileFormat,
    schema: &Schema,
    filled_elsewhere: &[&str],
) -> Result<Option<Vec<String>>, SpecError> {
    let what = "the names of the file's fields in file order, e.g. [\"user\", \"item\", \
                \"rating\", \"timestamp\"]";
    let Some(columns) = fields.string_list("columns", what)? else {
        return Ok(None);
    };
    let value = fields
        .get("columns")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    if format == FileFormat::Jsonl {
        return Err(fields.invalid(
            "columns",
            &value,
            "only with format = \"csv\" or \"tsv\" (JSON lines name their fields)",
        ));
    }
    if let Some((at, name)) = columns
        .iter()
        .enumerate()
        .find(|(at, name)| columns[..*at].contains(name))
    {
        return Err(fields.invalid(
            "columns",
            &value,
            format!(
                "{what}, each name once (\"{name}\" is field {} and {})",
                columns.iter().position(|c| c == name).unwrap_or(0) + 1,
                at + 1
            ),
        ));
    }
    if let Some(named) = columns
        .iter()
        .find(|c| filled_elsewhere.contains(&c.as_str()))
    {
        return Err(fields.invalid(
            "columns",
            &value,
            format!("{what}, without \"{named}\": `metadata` fills it"),
        ));
    }
    let unfilled = |c: &&crate::value::Column| {
        !columns.contains(&c.name) && !filled_elsewhere.contains(&c.name.as_str())
    };
    if let Some(missing) = schema.columns.iter().find(unfilled) {
        return Err(fields.invalid(
            "columns",
            &value,
            format!(
                "{what}, naming every schema column (\"{}\" is missing)",
                missing.name
            ),
        ));
    }
    Ok(Some(columns))
}

/// `schema = { column = "type", ... }` of a file source, in written order.
fn file_schema(fields: &Fields<'_>) -> Result<Schema, SpecError> {
    let what =
        "a table of column = \"type\", e.g. { user = \"string\", amount = \"f64\", ts = \"i64\" }";
    let table = fields
        .table("schema", what)?
        .ok_or_else(|| fields.missing("schema", format!("add schema = {what}")))?;
    let mut columns = Vec::new();
    for (name, value) in table.entries() {
        let ty = value
            .as_str()
            .and_then(ValueType::parse)
            .filter(|ty| !matches!(ty, ValueType::Dense | ValueType::Sparse));
        let Some(ty) = ty else {
            return Err(table.invalid(
                name,
                value,
                format!("{FILE_TYPES} (vector columns cannot be read from files)"),
            ));
        };
        columns.push(Column {
            name: name.clone(),
            ty,
        });
    }
    if columns.is_empty() {
        return Err(fields.invalid(
            "schema",
            &Value::Table(Default::default()),
            format!("at least one column: {what}"),
        ));
    }
    Ok(Schema { columns })
}

/// The i64 columns of a schema, for messages.
fn i64_columns(schema: &Schema) -> String {
    let names: Vec<&str> = schema
        .columns
        .iter()
        .filter(|c| c.ty == ValueType::I64)
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        "none in this schema; add one".to_string()
    } else {
        names.join(", ")
    }
}

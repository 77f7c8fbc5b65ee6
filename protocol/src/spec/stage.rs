//! `[[stage]]` tables: the stage kinds (`aggregate` here, the ML kinds in `ml`), windows and
//! aggregate calls, and each stage's output schema from its input schema.

use super::error::SpecError;
use super::fields::{show, Fields};
use super::ml;
use super::{Context, MAX_WINDOWS_PER_RECORD};
use crate::spec::{
    AggregateCall, AggregateFunction, AggregateStage, StageKind, StageSpec, WindowSpec,
};
use crate::value::{Column, Schema, ValueType};
use toml::Value;

/// Stage kinds this version runs.
const KINDS: [&str; 10] = [
    "aggregate",
    ml::KINDS[0],
    ml::KINDS[1],
    ml::KINDS[2],
    ml::KINDS[3],
    ml::KINDS[4],
    ml::KINDS[5],
    ml::KINDS[6],
    ml::KINDS[7],
    ml::KINDS[8],
];
/// Fields every stage accepts.
const COMMON_FIELDS: [&str; 8] = [
    "name",
    "kind",
    "input",
    "parallelism",
    "late",
    "pool",
    super::checks::FIELDS[0],
    super::checks::FIELDS[1],
];
/// Fields of `kind = "aggregate"` beyond the common ones.
const AGGREGATE_FIELDS: [&str; 3] = ["key", "window", "aggregates"];
/// Columns a windowed aggregate adds after its key columns.
pub(super) const WINDOW_COLUMNS: [&str; 2] = ["window_start", "window_end"];
/// The aggregate functions by name.
const FUNCTIONS: [(&str, AggregateFunction); 5] = [
    ("count", AggregateFunction::Count),
    ("sum", AggregateFunction::Sum),
    ("min", AggregateFunction::Min),
    ("max", AggregateFunction::Max),
    ("avg", AggregateFunction::Avg),
];
/// What an `aggregates` entry looks like.
const CALL_FORMAT: &str = "\"count()\", or \"sum(COLUMN)\", \"min(COLUMN)\", \"max(COLUMN)\", \
                           \"avg(COLUMN)\" over a numeric column";

/// Reads one `[[stage]]` table named `name`; its schema is filled in later by [`output_schema`].
pub(super) fn parse(
    fields: &Fields<'_>,
    name: &str,
    cx: &Context<'_>,
) -> Result<StageSpec, SpecError> {
    let kind = fields.required_string("kind", &format!("one of {}", KINDS.join(", ")))?;
    let kind = match kind {
        "aggregate" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &AGGREGATE_FIELDS].concat())?;
            let aggregate = aggregate(fields)?;
            if let (Some(late), None) = (fields.get("late"), &aggregate.window) {
                return Err(fields.invalid(
                    "late",
                    late,
                    "no value on a running aggregate: only windowed aggregates have late records; \
                     remove `late` or add a window",
                ));
            }
            StageKind::Aggregate(aggregate)
        }
        other => match ml::parse(other, fields) {
            Some(kind) => kind?,
            None => {
                return Err(SpecError::UnknownKind {
                    at: fields.at().to_string(),
                    what: "stage",
                    kind: other.to_string(),
                    allowed: KINDS.join(", "),
                })
            }
        },
    };
    Ok(StageSpec {
        name: name.to_string(),
        input: fields
            .required_string("input", "\"NAME\" of a source or stage")?
            .to_string(),
        parallelism: fields
            .parallelism("parallelism", cx.max_parallelism)?
            .unwrap_or(cx.parallelism),
        kind,
        late: fields
            .string("late", "\"NAME\" of a sink")?
            .map(str::to_string),
        schema: Schema::default(),
        pool: fields.pool()?,
        quality: Default::default(),
    })
}

/// The settings of a `kind = "aggregate"` stage (columns are checked by [`output_schema`]).
fn aggregate(fields: &Fields<'_>) -> Result<AggregateStage, SpecError> {
    let key = fields
        .string_list(
            "key",
            "a list of column names, e.g. [\"user\"] ([] or omitted: one global key)",
        )?
        .unwrap_or_default();
    let window = match fields.table(
        "window",
        "a table, e.g. { kind = \"tumbling\", size = \"1s\" }",
    )? {
        Some(window) => Some(window_spec(&window)?),
        None => None,
    };
    let what = format!("a table of output name = call, e.g. {{ n = \"count()\", spend = \"sum(amount)\" }}; calls: {CALL_FORMAT}");
    let table = fields
        .table("aggregates", &what)?
        .ok_or_else(|| fields.missing("aggregates", format!("add aggregates = {what}")))?;
    let mut aggregates = Vec::new();
    for (output, value) in table.entries() {
        let call = value.as_str().and_then(parse_call);
        let Some(call) = call else {
            return Err(table.invalid(output, value, CALL_FORMAT));
        };
        if key.contains(output) || WINDOW_COLUMNS.contains(&output.as_str()) {
            return Err(table.invalid(
                output,
                value,
                format!(
                    "an output name other than the key columns ({}) and window_start, window_end: rename \"{output}\"",
                    key.join(", ")
                ),
            ));
        }
        aggregates.push((output.clone(), call));
    }
    if aggregates.is_empty() {
        return Err(fields.invalid(
            "aggregates",
            &Value::Table(Default::default()),
            format!("at least one aggregate: {what}"),
        ));
    }
    Ok(AggregateStage {
        key,
        window,
        aggregates,
    })
}

/// `window = { kind = ..., ... }`.
fn window_spec(window: &Fields<'_>) -> Result<WindowSpec, SpecError> {
    #[derive(Clone, Copy)]
    enum Kind {
        Tumbling,
        Sliding,
        Session,
    }
    let kinds = [
        ("tumbling", Kind::Tumbling),
        ("sliding", Kind::Sliding),
        ("session", Kind::Session),
    ];
    let kind = window.choice("kind", &kinds)?.ok_or_else(|| {
        window.missing(
            "kind",
            "add kind = \"tumbling\", \"sliding\" or \"session\"",
        )
    })?;
    let required = |key: &str| {
        window
            .event_time_span(key, true)?
            .ok_or_else(|| window.missing(key, format!("add {key} = a duration such as \"1s\"")))
    };
    Ok(match kind {
        Kind::Tumbling => {
            window.deny_unknown(&["kind", "size"])?;
            WindowSpec::Tumbling {
                size: required("size")?,
            }
        }
        Kind::Sliding => {
            window.deny_unknown(&["kind", "size", "slide"])?;
            let size = required("size")?;
            let slide = required("slide")?;
            let shown = |key: &str| window.get(key).map(show).unwrap_or_default();
            let invalid_slide = |allowed: String| SpecError::Invalid {
                at: window.at().to_string(),
                field: window.path("slide"),
                value: shown("slide"),
                allowed,
            };
            if slide > size {
                return Err(invalid_slide(format!(
                    "a duration no longer than the window's size {} (a longer slide would skip records)",
                    shown("size")
                )));
            }
            // A record is in ceil(size / slide) windows.
            let min_slide = size
                .as_millis()
                .div_ceil(u128::from(MAX_WINDOWS_PER_RECORD));
            if slide.as_millis() < min_slide {
                return Err(invalid_slide(format!(
                    "a duration of at least {min_slide}ms for the window's size {}: a record is in \
                     size / slide windows, at most {MAX_WINDOWS_PER_RECORD}",
                    shown("size")
                )));
            }
            WindowSpec::Sliding { size, slide }
        }
        Kind::Session => {
            window.deny_unknown(&["kind", "gap"])?;
            WindowSpec::Session {
                gap: required("gap")?,
            }
        }
    })
}

/// The spec name of an aggregate function.
fn function_name(function: AggregateFunction) -> &'static str {
    FUNCTIONS
        .iter()
        .find(|(_, f)| *f == function)
        .map_or("?", |(n, _)| *n)
}

/// Parses `fn(column)` / `count()`; `None` when the text is not a well-formed call.
fn parse_call(text: &str) -> Option<AggregateCall> {
    let (function, rest) = text.trim().split_once('(')?;
    let column = rest.strip_suffix(')')?.trim();
    let function = FUNCTIONS.iter().find(|(n, _)| *n == function.trim())?.1;
    match (function, column.is_empty()) {
        (AggregateFunction::Count, true) => Some(AggregateCall {
            function,
            column: None,
        }),
        (AggregateFunction::Count, false) | (_, true) => None,
        (_, false) => Some(AggregateCall {
            function,
            column: Some(column.to_string()),
        }),
    }
}

/// Checks a stage's columns against its input schema and returns the rows it emits.
pub(super) fn output_schema(stage: &StageSpec, input: &Schema) -> Result<Schema, SpecError> {
    match &stage.kind {
        StageKind::Aggregate(aggregate) => aggregate_schema(stage, aggregate, input),
        _ => ml::output_schema(stage, input),
    }
}

impl StageSpec {
    /// The schema of the rows the stage emits when it reads rows of `input` (what validation
    /// stores in [`StageSpec::schema`]); an error names a column that does not fit.
    pub fn output_schema(&self, input: &Schema) -> Result<Schema, SpecError> {
        output_schema(self, input)
    }
}

/// The output schema of an aggregate: key columns, window bounds when windowed, aggregates.
fn aggregate_schema(
    stage: &StageSpec,
    aggregate: &AggregateStage,
    input: &Schema,
) -> Result<Schema, SpecError> {
    let at = format!("stage \"{}\"", stage.name);
    let mut columns = Vec::new();
    for key in &aggregate.key {
        let column = input.index_of(key).map(|i| &input.columns[i]);
        let Some(column) = column.filter(|c| !matches!(c.ty, ValueType::Dense | ValueType::Sparse))
        else {
            return Err(SpecError::Invalid {
                at,
                field: "key".to_string(),
                value: format!("{key:?}"),
                allowed: format!(
                    "non-vector columns of input \"{}\": {}",
                    stage.input,
                    input.names()
                ),
            });
        };
        if columns.iter().any(|c: &Column| c.name == *key) {
            return Err(SpecError::Invalid {
                at,
                field: "key".to_string(),
                value: format!("{key:?}"),
                allowed: "each column once".to_string(),
            });
        }
        columns.push(column.clone());
    }
    if aggregate.window.is_some() {
        columns.extend(WINDOW_COLUMNS.map(|name| Column {
            name: name.to_string(),
            ty: ValueType::I64,
        }));
    }
    for (output, call) in &aggregate.aggregates {
        let ty = match &call.column {
            None => ValueType::I64,
            Some(name) => {
                let column = input.index_of(name).map(|i| &input.columns[i]);
                let Some(column) = column.filter(|c| c.ty.is_numeric()) else {
                    return Err(SpecError::Invalid {
                        at,
                        field: format!("aggregates.{output}"),
                        value: format!("\"{}({name})\"", function_name(call.function)),
                        allowed: format!(
                            "a numeric (i64 or f64) column of input \"{}\": {}",
                            stage.input,
                            numeric_columns(input)
                        ),
                    });
                };
                column.ty.aggregate_output(call.function)
            }
        };
        columns.push(Column {
            name: output.clone(),
            ty,
        });
    }
    Ok(Schema { columns })
}

/// The numeric columns of a schema, for messages.
fn numeric_columns(schema: &Schema) -> String {
    let names: Vec<&str> = schema
        .columns
        .iter()
        .filter(|c| c.ty.is_numeric())
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

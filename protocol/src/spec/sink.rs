//! `[[sink]]` tables: file, stdout, discard, serve, Kafka and Redis sinks.

use super::error::SpecError;
use super::fields::Fields;
use super::Context;
use crate::host_port::HostPort;
use crate::spec::{OutputMode, SinkKind};
use crate::value::{Schema, ValueType};

/// Sink kinds this version runs.
const KINDS: &str = "file, stdout, discard, serve, redis, kafka";
/// Where a `serve` sink's API listens unless it says.
pub(super) const DEFAULT_SERVE_LISTEN: &str = "127.0.0.1:8080";
/// Fields every sink accepts.
const COMMON_FIELDS: [&str; 5] = ["name", "kind", "input", "parallelism", "pool"];

/// A sink as written, before its input is resolved against the other operators.
pub(super) struct WrittenSink {
    /// Its name.
    pub(super) name: String,
    /// `input`, absent for a sink that only receives a stage's late records.
    pub(super) input: Option<String>,
    /// `parallelism`; absent: the input's.
    pub(super) parallelism: Option<u32>,
    /// Where it writes.
    pub(super) kind: SinkKind,
    /// A file sink's `path` as written, for messages.
    pub(super) written_path: Option<String>,
    /// `pool`, if set.
    pub(super) pool: Option<crate::pool::Pool>,
}

/// Reads one `[[sink]]` table named `name`.
pub(super) fn parse(
    fields: &Fields<'_>,
    name: &str,
    cx: &Context<'_>,
) -> Result<WrittenSink, SpecError> {
    let kind = fields.required_string("kind", &format!("one of {KINDS}"))?;
    let mut written_path = None;
    let kind = match kind {
        "file" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &["path", "mode"]].concat())?;
            let path = fields
                .required_string("path", "\"out/\" (a folder, relative to the spec's folder)")?;
            written_path = Some(path.to_string());
            let mode = fields
                .choice(
                    "mode",
                    &[
                        ("error", OutputMode::Error),
                        ("overwrite", OutputMode::Overwrite),
                        ("append", OutputMode::Append),
                    ],
                )?
                .unwrap_or_default();
            SinkKind::File {
                path: cx.resolve_path(fields, "path", path)?,
                mode,
            }
        }
        "redis" => {
            fields.deny_unknown(&[COMMON_FIELDS.as_slice(), &super::redis::FIELDS].concat())?;
            SinkKind::Redis(super::redis::parse(fields)?)
        }
        "stdout" | "discard" => {
            fields.deny_unknown(&COMMON_FIELDS)?;
            if kind == "stdout" {
                SinkKind::Stdout
            } else {
                SinkKind::Discard
            }
        }
        "kafka" => {
            fields.deny_unknown(
                &[
                    COMMON_FIELDS.as_slice(),
                    &["brokers", "topic", "key", "compression"],
                ]
                .concat(),
            )?;
            SinkKind::Kafka {
                brokers: super::source::kafka::brokers(fields)?,
                topic: super::source::kafka::topic(fields, "write")?,
                key: fields
                    .string(
                        "key",
                        "the name of an input column, whose value keys each message",
                    )?
                    .map(str::to_string),
                compression: super::source::kafka::compression(fields)?,
            }
        }
        "serve" => {
            fields
                .deny_unknown(&[COMMON_FIELDS.as_slice(), &["table", "key", "listen"]].concat())?;
            let table = fields
                .string("table", "\"NAME\": the table rows are served from")?
                .unwrap_or(name);
            if table.is_empty() || table.contains('/') {
                return Err(fields.invalid(
                    "table",
                    &toml::Value::String(table.to_string()),
                    "a non-empty name without '/', e.g. \"recommendations\"",
                ));
            }
            let key = fields.required_string("key", "\"COLUMN\" the rows are looked up by")?;
            let listen = fields
                .string("listen", "\"HOST:PORT\" of the serving API")?
                .unwrap_or(DEFAULT_SERVE_LISTEN);
            if let Err(e) = listen.parse::<HostPort>() {
                return Err(fields.invalid(
                    "listen",
                    &toml::Value::String(listen.to_string()),
                    e.to_string(),
                ));
            }
            SinkKind::Serve {
                table: table.to_string(),
                key: key.to_string(),
                listen: listen.to_string(),
            }
        }
        other => {
            return Err(SpecError::UnknownKind {
                at: fields.at().to_string(),
                what: "sink",
                kind: other.to_string(),
                allowed: KINDS.to_string(),
            })
        }
    };
    Ok(WrittenSink {
        name: name.to_string(),
        input: fields
            .string("input", "\"NAME\" of a source or stage")?
            .map(str::to_string),
        parallelism: fields.parallelism("parallelism", cx.max_parallelism)?,
        kind,
        written_path,
        pool: fields.pool()?,
    })
}

/// Checks the columns a sink of `kind` at `at` names against its input schema `input`, the
/// rows of operator `input_name`.
pub(super) fn check_columns(
    at: &str,
    input_name: &str,
    kind: &SinkKind,
    input: &Schema,
) -> Result<(), SpecError> {
    match kind {
        SinkKind::Serve { key, .. } => {
            let ty = input.index_of(key).map(|i| input.columns[i].ty);
            if !matches!(ty, Some(ValueType::I64 | ValueType::Str)) {
                return Err(SpecError::Invalid {
                    at: at.to_string(),
                    field: "key".to_string(),
                    value: format!("{key:?}"),
                    allowed: format!("an i64 or string column of its input ({})", input.names()),
                });
            }
            Ok(())
        }
        SinkKind::Redis(redis) => super::redis::check_key(at, redis, input_name, input),
        _ => Ok(()),
    }
}

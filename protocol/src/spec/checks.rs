//! `checks` and `drift_window` of a source or stage: which of the columns it emits are watched
//! for data quality (nulls, NaN / ±inf, values outside a declared range, drift), and the
//! ranges. Read with the table (`parse`), then resolved against the operator's schema once
//! that is known (`resolve`): a source's straight away, a stage's when the graph fills it in.

use super::error::SpecError;
use super::fields::{show, Fields};
use crate::spec::{ColumnCheck, QualitySpec, StageSpec};
use crate::value::{Schema, ValueType};
use toml::Value;

/// The fields this module reads, accepted by every source and stage.
pub(super) const FIELDS: [&str; 2] = ["checks", "drift_window"];
/// Records per drift window unless `drift_window` says otherwise.
pub const DEFAULT_DRIFT_WINDOW: u64 = 10_000;
/// The bounds of `drift_window`: enough records for ten bins, few enough to see a change.
const DRIFT_WINDOW_RANGE: (u64, u64) = (10, 10_000_000);
/// The most columns one operator watches (the heartbeat carries one entry per column).
pub const MAX_WATCHED_COLUMNS: usize = 64;
/// What a `checks` entry looks like.
const CHECK_FORMAT: &str =
    "a table of column = { min = X, max = Y } (both optional, numbers), e.g. { amount = { min = 0, max = 1e6 } }";

/// `checks` and `drift_window` as written, before the schema is known.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct WrittenChecks {
    /// Where the table is, for messages.
    at: String,
    /// Column name, range, and the range as written, in written order.
    ranges: Vec<(String, Option<f64>, Option<f64>, Value)>,
    drift_window: u64,
}

/// Reads `checks` and `drift_window` of a source or stage table.
pub(super) fn parse(fields: &Fields<'_>) -> Result<WrittenChecks, SpecError> {
    let mut ranges = Vec::new();
    if let Some(checks) = fields.table("checks", CHECK_FORMAT)? {
        for (column, value) in checks.entries() {
            let Value::Table(range) = value else {
                return Err(checks.invalid(column, value, CHECK_FORMAT));
            };
            let range = Fields::new(fields.at(), range);
            range
                .deny_unknown(&["min", "max"])
                .map_err(|_| checks.invalid(column, value, CHECK_FORMAT))?;
            let bound = |key: &str| match range.get(key) {
                None => Ok(None),
                Some(Value::Integer(n)) => Ok(Some(*n as f64)),
                Some(Value::Float(x)) if x.is_finite() => Ok(Some(*x)),
                Some(_) => Err(checks.invalid(
                    column,
                    value,
                    format!("finite numbers as {key}: {CHECK_FORMAT}"),
                )),
            };
            let (min, max) = (bound("min")?, bound("max")?);
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    return Err(checks.invalid(column, value, "min ≤ max"));
                }
            }
            ranges.push((column.clone(), min, max, value.clone()));
        }
    }
    let (lo, hi) = DRIFT_WINDOW_RANGE;
    Ok(WrittenChecks {
        at: fields.at().to_string(),
        ranges,
        drift_window: fields
            .integer("drift_window", lo, hi)?
            .unwrap_or(DEFAULT_DRIFT_WINDOW),
    })
}

/// The watched columns of an operator emitting `schema`: every column (`all`, a source) or
/// those `checks` names (a stage), in schema order. A checked column must be in the schema,
/// and one with a range numeric. Drift is kept for the numeric columns `checks` names, but
/// `event_time` (a source's), so a source's unnamed columns cost only their counts.
pub(super) fn resolve(
    written: WrittenChecks,
    schema: &Schema,
    all: bool,
    event_time: Option<&str>,
) -> Result<QualitySpec, SpecError> {
    let invalid = |column: &str, value: &Value, allowed: String| SpecError::Invalid {
        at: written.at.clone(),
        field: format!("checks.{column}"),
        value: show(value),
        allowed,
    };
    for (column, min, max, value) in &written.ranges {
        let Some(i) = schema.index_of(column) else {
            return Err(invalid(
                column,
                value,
                format!("a column this emits: {}", schema.names()),
            ));
        };
        let numeric = matches!(schema.columns[i].ty, ValueType::I64 | ValueType::F64);
        if (min.is_some() || max.is_some()) && !numeric {
            return Err(invalid(
                column,
                value,
                format!(
                    "{{}} (a range only on an i64 or f64 column; \"{column}\" is {})",
                    schema.columns[i].ty
                ),
            ));
        }
    }
    let columns: Vec<ColumnCheck> = schema
        .columns
        .iter()
        .filter_map(|c| {
            let range = written.ranges.iter().find(|r| r.0 == c.name);
            if range.is_none() && !all {
                return None;
            }
            Some(ColumnCheck {
                column: c.name.clone(),
                ty: c.ty,
                min: range.and_then(|r| r.1),
                max: range.and_then(|r| r.2),
                drifts: range.is_some()
                    && matches!(c.ty, ValueType::I64 | ValueType::F64)
                    && event_time != Some(c.name.as_str()),
            })
        })
        .take(MAX_WATCHED_COLUMNS)
        .collect();
    Ok(QualitySpec {
        columns,
        drift_window: written.drift_window,
    })
}

/// Resolves each stage's `checks` (`written`, in spec order, named as the stages) against
/// its output schema, filled in by the graph.
pub(super) fn resolve_stages(
    stages: &mut [StageSpec],
    written: Vec<WrittenChecks>,
) -> Result<(), SpecError> {
    for checks in written {
        let stage_at = |s: &&mut StageSpec| checks.at == format!("stage \"{}\"", s.name);
        if let Some(stage) = stages.iter_mut().find(stage_at) {
            stage.quality = resolve(checks, &stage.schema, false, None)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::JobSpec;
    use std::path::Path;

    fn source(extra: &str) -> Result<JobSpec, SpecError> {
        JobSpec::parse(
            &format!(
            "[job]\nname = \"j\"\n[[source]]\nname = \"events\"\nkind = \"generator\"\n{extra}\n\
             [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"events\"\n"
        ),
            Path::new("/"),
        )
    }

    #[test]
    fn a_source_watches_every_column_and_ranges_what_checks_names() {
        let spec = source(
            "checks = { amount = { min = 0, max = 1e6 }, user = {}, ts = {} }\ndrift_window = 500",
        )
        .expect("valid");
        let quality = &spec.sources[0].quality;
        assert_eq!(quality.drift_window, 500);
        let names: Vec<_> = quality.columns.iter().map(|c| c.column.as_str()).collect();
        assert_eq!(names, ["user", "amount", "ts"]);
        let amount = &quality.columns[1];
        assert_eq!((amount.min, amount.max), (Some(0.0), Some(1e6)));
        assert!(quality.columns[0].min.is_none() && quality.columns[0].drifts);
        assert!(
            !quality.columns[2].drifts,
            "the event time column does not drift"
        );
        let unnamed = &source("").expect("valid").sources[0].quality;
        assert_eq!(unnamed.columns.len(), 3, "a source watches every column");
        assert!(
            unnamed.columns.iter().all(|c| !c.drifts),
            "drift only where checks names"
        );
    }

    #[test]
    fn bad_checks_name_the_field_and_what_is_allowed() {
        let cases = [
            (
                "checks = { nope = {} }",
                "checks.nope",
                "a column this emits",
            ),
            (
                "checks = { amount = { min = 2, max = 1 } }",
                "checks.amount",
                "min ≤ max",
            ),
            (
                "checks = { amount = { low = 2 } }",
                "checks.amount",
                "min = X",
            ),
            (
                "checks = { amount = { min = \"0\" } }",
                "checks.amount",
                "finite numbers",
            ),
            (
                "checks = { amount = 3 }",
                "checks.amount",
                "a table of column",
            ),
            ("drift_window = 5", "drift_window", "from 10 to 10000000"),
        ];
        for (extra, field, allowed) in cases {
            let error = source(extra).expect_err(extra).to_string();
            assert!(
                error.contains(&format!("\"{field}\"")) && error.contains(allowed),
                "{extra}: {error}"
            );
        }
    }

    #[test]
    fn a_stage_watches_only_what_checks_names_in_its_output() {
        let spec = JobSpec::parse(
            "[job]\nname = \"j\"\n[[source]]\nname = \"events\"\nkind = \"generator\"\n\
             [[stage]]\nname = \"per_user\"\nkind = \"aggregate\"\ninput = \"events\"\nkey = [\"user\"]\n\
             aggregates = { spend = \"sum(amount)\" }\nchecks = { spend = { max = 100 } }\n\
             [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"per_user\"\n",
            Path::new("/"),
        )
        .expect("valid");
        let quality = &spec.stages[0].quality;
        assert_eq!(quality.columns.len(), 1);
        assert_eq!(quality.columns[0].column, "spend");
        assert_eq!(quality.columns[0].max, Some(100.0));
        assert!(spec.stages[0].quality.drift_window == DEFAULT_DRIFT_WINDOW);
        let error = JobSpec::parse(
            "[job]\nname = \"j\"\n[[source]]\nname = \"events\"\nkind = \"generator\"\n\
             [[stage]]\nname = \"per_user\"\nkind = \"aggregate\"\ninput = \"events\"\nkey = [\"user\"]\n\
             aggregates = { spend = \"sum(amount)\" }\nchecks = { amount = {} }\n\
             [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"per_user\"\n",
            Path::new("/"),
        )
        .expect_err("amount is not an output column")
        .to_string();
        assert!(
            error.contains("stage \"per_user\"") && error.contains("checks.amount"),
            "{error}"
        );
    }
}

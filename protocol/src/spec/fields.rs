//! Reading one TOML table of a spec field by field, with errors that name the place, the
//! field path, the value as written and what is allowed.

use super::duration::{parse_duration, show_duration, DURATION_FORMAT};
use super::error::SpecError;
use crate::record::MAX_EVENT_TIME_SPAN_MS;
use std::time::Duration;
use toml::{Table, Value};

/// One table of the spec (`[job]`, a `[[source]]`, a stage's `window`, ...) being read.
pub(crate) struct Fields<'a> {
    /// Where the table is, for messages: `[job]`, `stage "per_user"`.
    at: &'a str,
    /// Prefix of nested field paths: `""` or `"window."`.
    prefix: String,
    table: &'a Table,
}

impl<'a> Fields<'a> {
    /// A top-level table of the spec.
    pub(crate) fn new(at: &'a str, table: &'a Table) -> Fields<'a> {
        Fields {
            at,
            prefix: String::new(),
            table,
        }
    }

    /// Where this table is.
    pub(crate) fn at(&self) -> &'a str {
        self.at
    }

    /// The full path of a field of this table (`window.size`).
    pub(crate) fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Rejects every field not in `allowed`, suggesting the nearest allowed name.
    pub(crate) fn deny_unknown(&self, allowed: &[&str]) -> Result<(), SpecError> {
        match self.table.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(key) => Err(SpecError::UnknownField {
                at: self.at.to_string(),
                field: self.path(key),
                suggestion: suggest(key, allowed)
                    .map(|s| format!(" (did you mean \"{}\"?)", self.path(s)))
                    .unwrap_or_default(),
                allowed: allowed.join(", "),
            }),
        }
    }

    /// The error for a field whose value is not allowed.
    pub(crate) fn invalid(
        &self,
        key: &str,
        value: &Value,
        allowed: impl Into<String>,
    ) -> SpecError {
        SpecError::Invalid {
            at: self.at.to_string(),
            field: self.path(key),
            value: show(value),
            allowed: allowed.into(),
        }
    }

    /// The error for a field that is required but absent.
    pub(crate) fn missing(&self, key: &str, hint: impl Into<String>) -> SpecError {
        SpecError::Missing {
            at: self.at.to_string(),
            field: self.path(key),
            hint: hint.into(),
        }
    }

    /// The raw value of a field.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.table.get(key)
    }

    /// A string field; `what` describes the allowed values for the error message.
    pub(crate) fn string(&self, key: &str, what: &str) -> Result<Option<&'a str>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.invalid(key, other, what)),
        }
    }

    /// A string field that must be present; `what` says what to write.
    pub(crate) fn required_string(&self, key: &str, what: &str) -> Result<&'a str, SpecError> {
        self.string(key, what)?
            .ok_or_else(|| self.missing(key, format!("add {key} = {what}")))
    }

    /// A string field that must be one of `options`.
    pub(crate) fn choice<T: Copy>(
        &self,
        key: &str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, SpecError> {
        let allowed = options
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let Some(name) = self.string(key, &allowed)? else {
            return Ok(None);
        };
        options
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| Some(*t))
            .ok_or_else(|| self.invalid(key, &Value::String(name.to_string()), allowed))
    }

    /// The `pool` field every source, stage and sink takes.
    pub(crate) fn pool(&self) -> Result<Option<crate::pool::Pool>, SpecError> {
        self.choice("pool", &crate::pool::Pool::NAMES)
    }

    /// An integer field within `min..=max`.
    pub(crate) fn integer(&self, key: &str, min: u64, max: u64) -> Result<Option<u64>, SpecError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let allowed = if max == u64::MAX {
            format!("a whole number ≥ {min}")
        } else {
            format!("a whole number from {min} to {max}")
        };
        match value {
            Value::Integer(n) => u64::try_from(*n)
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(Some)
                .ok_or_else(|| self.invalid(key, value, allowed)),
            other => Err(self.invalid(key, other, allowed)),
        }
    }

    /// An integer field within `1..=max` that fits a `u32` (parallelism settings).
    pub(crate) fn parallelism(&self, key: &str, max: u32) -> Result<Option<u32>, SpecError> {
        // `max` is a u32, so the checked value fits one.
        Ok(self
            .integer(key, 1, u64::from(max))?
            .map(|n| u32::try_from(n).unwrap_or(max)))
    }

    /// A duration field (`"500ms"`, `"1s"`, ...); `positive`: zero is refused too.
    pub(crate) fn duration(
        &self,
        key: &str,
        positive: bool,
    ) -> Result<Option<Duration>, SpecError> {
        self.duration_up_to(key, positive, None)
    }

    /// A duration greater than zero and at most `max`.
    pub(crate) fn positive_duration_at_most(
        &self,
        key: &str,
        max: Duration,
    ) -> Result<Option<Duration>, SpecError> {
        self.duration_up_to(key, true, Some(max))
    }

    /// A duration added to or subtracted from event times (window size, slide and gap,
    /// `max_out_of_orderness`): at most [`MAX_EVENT_TIME_SPAN_MS`], so no arithmetic on valid
    /// event times overflows; `positive`: zero is refused too.
    pub(crate) fn event_time_span(
        &self,
        key: &str,
        positive: bool,
    ) -> Result<Option<Duration>, SpecError> {
        let max = Duration::from_millis(MAX_EVENT_TIME_SPAN_MS.unsigned_abs());
        self.duration_up_to(key, positive, Some(max))
    }

    /// A duration field, at most `max` when given; `positive`: zero is refused too.
    fn duration_up_to(
        &self,
        key: &str,
        positive: bool,
        max: Option<Duration>,
    ) -> Result<Option<Duration>, SpecError> {
        let allowed = match (positive, max) {
            (true, None) => format!("a duration greater than zero: {DURATION_FORMAT}"),
            (false, None) => format!("a duration: {DURATION_FORMAT}"),
            (true, Some(max)) => format!(
                "a duration greater than zero and at most {}: {DURATION_FORMAT}",
                show_duration(max)
            ),
            (false, Some(max)) => {
                format!(
                    "a duration of at most {}: {DURATION_FORMAT}",
                    show_duration(max)
                )
            }
        };
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::String(text) = value else {
            return Err(self.invalid(key, value, allowed));
        };
        match parse_duration(text) {
            Ok(d) if (positive && d.is_zero()) || max.is_some_and(|max| d > max) => {
                Err(self.invalid(key, value, allowed))
            }
            Ok(d) => Ok(Some(d)),
            Err(_) => Err(self.invalid(key, value, allowed)),
        }
    }

    /// A list of strings (`key = ["user"]`); `what` describes it for the error message.
    pub(crate) fn string_list(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<Vec<String>>, SpecError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(self.invalid(key, value, what));
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(self.invalid(key, value, what)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A nested table (`window = { ... }`), read with paths prefixed by `key.`.
    pub(crate) fn table(&self, key: &str, what: &str) -> Result<Option<Fields<'a>>, SpecError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Table(table)) => Ok(Some(Fields {
                at: self.at,
                prefix: format!("{}.", self.path(key)),
                table,
            })),
            Some(other) => Err(self.invalid(key, other, what)),
        }
    }

    /// The fields of this table in written order (with `preserve_order`).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.table.iter()
    }
}

/// A value as the user wrote it: strings quoted, tables and arrays in TOML syntax.
pub(crate) fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// The allowed name closest to `key`, if it is a plausible typo (edit distance ≤ 2).
fn suggest<'n>(key: &str, allowed: &[&'n str]) -> Option<&'n str> {
    allowed
        .iter()
        .map(|name| (edit_distance(key, name), *name))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

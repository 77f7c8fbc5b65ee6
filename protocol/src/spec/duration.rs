//! Durations as job specs write them: a whole number followed by a unit, e.g. `"500ms"`,
//! `"1s"`, `"2m"`, `"1h"`, `"1d"`.

use std::time::Duration;

/// The units a duration may use, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// What a duration field accepts (used in error messages).
pub(crate) const DURATION_FORMAT: &str =
    "a whole number followed by a unit ms, s, m, h or d, e.g. \"500ms\", \"1s\", \"2m\", \"1h\"";

/// A string that is not a duration.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("\"{input}\" is not a duration; write {DURATION_FORMAT}")]
pub struct DurationError {
    /// The text that did not parse.
    pub input: String,
}

/// Parses `"500ms"`, `"1s"`, `"2m"`, `"1h"`, `"1d"`: digits, then one unit, no spaces or signs.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let error = || DurationError {
        input: s.to_string(),
    };
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(error)?;
    let (number, unit) = s.split_at(digits_end);
    if number.is_empty() {
        return Err(error());
    }
    let number: u64 = number.parse().map_err(|_| error())?;
    let unit_ms = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, ms)| *ms)
        .ok_or_else(error)?;
    let ms = number.checked_mul(unit_ms).ok_or_else(error)?;
    Ok(Duration::from_millis(ms))
}

/// A duration in the largest unit that divides it, as a spec would write it (`"90s"`,
/// `"100000d"`; sub-millisecond parts are dropped).
pub(crate) fn show_duration(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let (unit, unit_ms) = UNITS
        .iter()
        .rev()
        .find(|(_, unit_ms)| ms % unit_ms == 0)
        .copied()
        .unwrap_or(UNITS[0]);
    format!("{}{unit}", ms / unit_ms)
}

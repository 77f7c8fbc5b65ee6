//! `kind = "redis"` sinks: the server's URL, the key template and the optional TTL, read from
//! the table; the template is checked against the sink's input schema once inputs are
//! resolved ([`check_key`]).

use super::error::SpecError;
use super::fields::Fields;
use crate::value::{Schema, ValueType};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use toml::Value;

/// The fields a Redis sink takes besides the common ones.
pub(super) const FIELDS: [&str; 3] = ["url", "key", "ttl"];
/// What `url` accepts.
const URL_FORMAT: &str = "\"redis://HOST:PORT\" or \"redis://HOST:PORT/DB\" (DB a whole \
                          number), e.g. \"redis://127.0.0.1:6379/0\"";
/// What `key` accepts.
const KEY_FORMAT: &str = "a template of text and input columns in braces, naming at least one \
                          column, e.g. \"rec:{user}\" (\"{{\" and \"}}\" write a brace)";
/// The longest `ttl`: 100,000 days, far below what Redis's millisecond expiry times hold.
pub const MAX_REDIS_TTL: Duration = Duration::from_secs(100_000 * 86_400);

/// `kind = "redis"`: every row is stored with `SET key row-as-JSON`, the key rendered from the
/// row by [`KeyTemplate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedisSink {
    /// `url`: `redis://HOST:PORT[/DB]`.
    pub url: String,
    /// `key`: the key of each row's value.
    pub key: KeyTemplate,
    /// `ttl`: keys expire this long after their last write; `None`: never.
    pub ttl: Option<Duration>,
}

/// A key template such as `rec:{user}`: literal text and input columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTemplate {
    /// The pieces, in order.
    pub parts: Vec<KeyPart>,
}

/// One piece of a [`KeyTemplate`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyPart {
    /// Literal text.
    Text(String),
    /// The value of the named input column.
    Column(String),
}

/// The column types a key may contain: their text form is exact and unique.
const KEY_TYPES: [ValueType; 3] = [ValueType::Str, ValueType::I64, ValueType::Bool];

impl KeyTemplate {
    /// Parses `rec:{user}`; `{{` and `}}` stand for literal braces. The error says what is
    /// wrong with the text.
    pub fn parse(text: &str) -> Result<KeyTemplate, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err("a \"}\" closes no \"{\"".into()),
                '{' => {
                    let mut column = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => return Err("a \"{\" is not closed".into()),
                            Some(c) => column.push(c),
                        }
                    }
                    if column.is_empty() {
                        return Err("\"{}\" names no column".into());
                    }
                    if !literal.is_empty() {
                        parts.push(KeyPart::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(KeyPart::Column(column));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(KeyPart::Text(literal));
        }
        let template = KeyTemplate { parts };
        if template.columns().next().is_none() {
            return Err("it names no column, so every row would overwrite one key".into());
        }
        Ok(template)
    }

    /// The columns the template names, in order (a column may appear twice).
    pub fn columns(&self) -> impl Iterator<Item = &str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            KeyPart::Column(c) => Some(c.as_str()),
            KeyPart::Text(_) => None,
        })
    }
}

impl fmt::Display for KeyTemplate {
    /// The template as a spec writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                KeyPart::Text(t) => f.write_str(&t.replace('{', "{{").replace('}', "}}"))?,
                KeyPart::Column(c) => write!(f, "{{{c}}}")?,
            }
        }
        Ok(())
    }
}

/// Reads the fields of a `kind = "redis"` sink table.
pub(super) fn parse(fields: &Fields<'_>) -> Result<RedisSink, SpecError> {
    let url = fields.required_string("url", URL_FORMAT)?;
    if !valid_url(url) {
        return Err(fields.invalid("url", &Value::String(url.into()), URL_FORMAT));
    }
    let key = fields.required_string("key", KEY_FORMAT)?;
    let key = KeyTemplate::parse(key).map_err(|why| {
        fields.invalid(
            "key",
            &Value::String(key.into()),
            format!("{KEY_FORMAT}; here {why}"),
        )
    })?;
    Ok(RedisSink {
        url: url.to_string(),
        key,
        ttl: fields.positive_duration_at_most("ttl", MAX_REDIS_TTL)?,
    })
}

/// `redis://HOST:PORT` or `redis://HOST:PORT/DB`: a host of letters, digits, '.', '-' and
/// '_' (or an IPv6 address in brackets), a port from 1 to 65535, a database number.
fn valid_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("redis://") else {
        return false;
    };
    let (address, db) = rest.split_once('/').unwrap_or((rest, "0"));
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        }
    };
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    host_ok
        && number(port)
        && port.parse::<u16>().is_ok_and(|p| p > 0)
        && number(db)
        && db.parse::<u32>().is_ok()
}

/// Checks that every column the key template of the sink at `at` names is a column of its
/// `input` schema (the rows of operator `input_name`) of a type a key can hold.
pub(super) fn check_key(
    at: &str,
    redis: &RedisSink,
    input_name: &str,
    input: &Schema,
) -> Result<(), SpecError> {
    let invalid = |allowed: String| SpecError::Invalid {
        at: at.to_string(),
        field: "key".into(),
        value: format!("{:?}", redis.key.to_string()),
        allowed,
    };
    for column in redis.key.columns() {
        let Some(i) = input.index_of(column) else {
            return Err(invalid(format!(
                "a template over the columns of its input \"{input_name}\" ({}); it has no \
                 column \"{column}\"",
                input.names()
            )));
        };
        let ty = input.columns[i].ty;
        if !KEY_TYPES.contains(&ty) {
            return Err(invalid(format!(
                "columns of type string, i64 or bool in braces; column \"{column}\" of \
                 \"{input_name}\" is a {ty}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_text_and_columns() {
        let t = KeyTemplate::parse("rec:{user}:{{x}}{day}").expect("valid");
        assert_eq!(
            t.parts,
            vec![
                KeyPart::Text("rec:".into()),
                KeyPart::Column("user".into()),
                KeyPart::Text(":{x}".into()),
                KeyPart::Column("day".into()),
            ]
        );
        assert_eq!(t.to_string(), "rec:{user}:{{x}}{day}");
        assert_eq!(t.columns().collect::<Vec<_>>(), ["user", "day"]);
    }

    #[test]
    fn urls() {
        for good in [
            "redis://127.0.0.1:6379",
            "redis://localhost:1/15",
            "redis://[::1]:6379/0",
            "redis://cache-1.internal:6380",
        ] {
            assert!(valid_url(good), "{good}");
        }
        for bad in [
            "127.0.0.1:6379",
            "redis://127.0.0.1",
            "redis://:6379",
            "redis://h:0",
            "redis://h:65536",
            "redis://h:6379/x",
            "redis://h:6379/",
            "rediss://h:6379",
            "redis://user:pw@h:6379",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
    }
}

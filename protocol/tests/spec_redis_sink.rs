//! Every error path of a `kind = "redis"` sink: its URL, its key template (checked against
//! the sink's input schema) and its TTL; what a valid one parses into; and how its rows are
//! spread over its partitions (each Redis key written by one partition).

mod common;

use common::DURATION;
use quiver_protocol::plan::{JobPlan, Partitioning};
use quiver_protocol::spec::{JobSpec, KeyPart, SinkKind};
use std::path::Path;
use std::time::Duration;

/// A valid spec; each test breaks one thing in it.
const VALID: &str = r#"
[job]
name = "t"
checkpoint_interval = "1s"

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64", vip = "bool" }

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", spend = "sum(amount)" }

[[sink]]
name = "out"
kind = "redis"
input = "per_user"
url = "redis://127.0.0.1:6379/2"
key = "rec:{user}"
ttl = "1h"
"#;

fn error_after(from: &str, to: &str) -> String {
    common::error_in(VALID, from, to)
}

const KEY_FORMAT: &str = "a template of text and input columns in braces, naming at least one \
                          column, e.g. \"rec:{user}\" (\"{{\" and \"}}\" write a brace)";
const URL_FORMAT: &str = "\"redis://HOST:PORT\" or \"redis://HOST:PORT/DB\" (DB a whole number), \
                          e.g. \"redis://127.0.0.1:6379/0\"";

#[test]
fn valid_redis_sink_parses_into_url_key_and_ttl() {
    let spec = JobSpec::parse(VALID, Path::new("/jobs")).expect("valid");
    let SinkKind::Redis(redis) = &spec.sinks[0].kind else {
        panic!("not a redis sink: {:?}", spec.sinks[0].kind)
    };
    assert_eq!(redis.url, "redis://127.0.0.1:6379/2");
    assert_eq!(
        redis.key.parts,
        [KeyPart::Text("rec:".into()), KeyPart::Column("user".into())]
    );
    assert_eq!(redis.ttl, Some(Duration::from_secs(3600)));
}

#[test]
fn url_missing() {
    assert_eq!(
        error_after("url = \"redis://127.0.0.1:6379/2\"\n", ""),
        format!("sink \"out\": missing required field \"url\"; add url = {URL_FORMAT}")
    );
}

#[test]
fn url_without_a_port() {
    assert_eq!(
        error_after("redis://127.0.0.1:6379/2", "redis://127.0.0.1"),
        format!(
            "sink \"out\": field \"url\" has value \"redis://127.0.0.1\"; allowed: {URL_FORMAT}"
        )
    );
}

#[test]
fn url_of_another_scheme() {
    assert_eq!(
        error_after("redis://127.0.0.1:6379/2", "http://127.0.0.1:6379"),
        format!(
            "sink \"out\": field \"url\" has value \"http://127.0.0.1:6379\"; allowed: {URL_FORMAT}"
        )
    );
}

#[test]
fn key_missing() {
    assert_eq!(
        error_after("key = \"rec:{user}\"\n", ""),
        format!("sink \"out\": missing required field \"key\"; add key = {KEY_FORMAT}")
    );
}

#[test]
fn key_naming_no_column() {
    assert_eq!(
        error_after("rec:{user}", "rec:all"),
        format!(
            "sink \"out\": field \"key\" has value \"rec:all\"; allowed: {KEY_FORMAT}; here it \
             names no column, so every row would overwrite one key"
        )
    );
}

#[test]
fn key_with_an_unclosed_brace() {
    assert_eq!(
        error_after("rec:{user}", "rec:{user"),
        format!(
            "sink \"out\": field \"key\" has value \"rec:{{user\"; allowed: {KEY_FORMAT}; here a \
             \"{{\" is not closed"
        )
    );
}

#[test]
fn key_with_an_unknown_column() {
    assert_eq!(
        error_after("rec:{user}", "rec:{usr}"),
        "sink \"out\": field \"key\" has value \"rec:{usr}\"; allowed: a template over the \
         columns of its input \"per_user\" (user, n, spend); it has no column \"usr\""
    );
}

#[test]
fn key_with_a_float_column() {
    assert_eq!(
        error_after("rec:{user}", "rec:{user}:{spend}"),
        "sink \"out\": field \"key\" has value \"rec:{user}:{spend}\"; allowed: columns of type \
         string, i64 or bool in braces; column \"spend\" of \"per_user\" is a f64"
    );
}

#[test]
fn late_sink_key_is_checked_against_the_stage_input() {
    let windowed = VALID
        .replace(
            "aggregates = { n = \"count()\", spend = \"sum(amount)\" }",
            "aggregates = { n = \"count()\" }\nwindow = { kind = \"tumbling\", size = \"1s\" }\nlate = \"out\"",
        )
        .replace("input = \"per_user\"\n", "");
    // The late rows are the stage's input rows: `vip` is a column of them, `n` is not.
    let vip = windowed.replace("rec:{user}", "late:{user}:{vip}");
    assert!(JobSpec::parse(&vip, Path::new("/jobs")).is_ok());
    assert_eq!(
        common::error_in(&windowed, "rec:{user}", "rec:{n}"),
        "sink \"out\": field \"key\" has value \"rec:{n}\"; allowed: a template over the columns \
         of its input \"events\" (user, amount, ts, vip); it has no column \"n\""
    );
    assert_eq!(
        common::error_in(&windowed, "rec:{user}", "rec:{amount}"),
        "sink \"out\": field \"key\" has value \"rec:{amount}\"; allowed: columns of type string, \
         i64 or bool in braces; column \"amount\" of \"events\" is a f64"
    );
}

#[test]
fn ttl_zero() {
    assert_eq!(
        error_after("ttl = \"1h\"", "ttl = \"0s\""),
        format!(
            "sink \"out\": field \"ttl\" has value \"0s\"; allowed: a duration greater than zero \
             and at most 100000d: {DURATION}"
        )
    );
}

#[test]
fn unknown_field_gets_a_suggestion() {
    assert_eq!(
        error_after("ttl = \"1h\"", "tll = \"1h\""),
        "sink \"out\": unknown field \"tll\" (did you mean \"ttl\"?); allowed fields: name, kind, \
         input, parallelism, pool, url, key, ttl"
    );
}

/// How the plan of `VALID` at job parallelism 2, edited by `edit`, feeds sink "out".
fn sink_partitioning(edit: impl Fn(String) -> String) -> Partitioning {
    let text = edit(VALID.replace("name = \"t\"", "name = \"t\"\nparallelism = 2"));
    let spec = JobSpec::parse(&text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}"));
    let plan = JobPlan::from_spec(&spec);
    let sink = plan
        .operators
        .iter()
        .find(|o| o.name == "out")
        .expect("the sink");
    sink.input.as_ref().expect("an input").partitioning.clone()
}

#[test]
fn each_redis_key_has_one_writing_partition() {
    // Keyed by the aggregate's key at its parallelism: forward keeps each key in one partition.
    assert_eq!(sink_partitioning(|s| s), Partitioning::Forward);
    // A template without the aggregate's key: rows of one Redis key may come from any
    // aggregate partition, so they are hashed by the template's columns (n is column 1).
    assert_eq!(
        sink_partitioning(|s| s.replace("rec:{user}", "rec:{n}")),
        Partitioning::Hash {
            key_columns: vec![1]
        }
    );
    // Another parallelism than the input's: hashed by the template's columns.
    assert_eq!(
        sink_partitioning(|s| s.replace("ttl = \"1h\"", "parallelism = 3")),
        Partitioning::Hash {
            key_columns: vec![0]
        }
    );
    // A source at the sink's parallelism is not keyed: hashed.
    let from_source = |s: String| {
        s.replace("input = \"per_user\"", "input = \"events\"")
            .replace("format = \"csv\"", "format = \"csv\"\nparallelism = 2")
    };
    assert_eq!(
        sink_partitioning(from_source),
        Partitioning::Hash {
            key_columns: vec![0]
        }
    );
}

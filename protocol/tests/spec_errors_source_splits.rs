//! `[[source]]` fields for reading splits side by side: the `parallelism` of a file source,
//! `idle_timeout` and `max_drift`. Each message names the place, the field, the bad value and
//! what is allowed.

mod common;

use common::DURATION;
use quiver_protocol::spec::{JobSpec, SourceKind};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A valid spec; each test changes one thing in it.
const VALID: &str = r#"
[job]
name = "t"
parallelism = 2

[[source]]
name = "events"
kind = "file"
path = "events/"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64" }
event_time = "ts"

[[sink]]
name = "out"
kind = "stdout"
input = "events"
"#;

fn parse(spec: &str) -> JobSpec {
    JobSpec::parse(spec, Path::new("/jobs")).expect("valid")
}

/// `VALID` with `extra` added to the source.
fn with(extra: &str) -> String {
    VALID.replace(
        "event_time = \"ts\"",
        &format!("event_time = \"ts\"\n{extra}"),
    )
}

/// The error message for `VALID` with `extra` added to the source.
fn error_with(extra: &str) -> String {
    common::error_in(
        VALID,
        "event_time = \"ts\"",
        &format!("event_time = \"ts\"\n{extra}"),
    )
}

#[test]
fn a_file_source_reads_a_folder_at_parallelism_1_unless_set() {
    let spec = parse(VALID);
    let source = &spec.sources[0];
    assert_eq!(
        source.parallelism, 1,
        "not the job's 2: one file is one split"
    );
    assert_eq!((source.idle_timeout, source.max_drift), (None, None));
    let SourceKind::File(file) = &source.kind else {
        panic!("a file source")
    };
    assert_eq!(file.path, PathBuf::from("/jobs/events"));
    assert_eq!(parse(&with("parallelism = 4")).sources[0].parallelism, 4);
}

#[test]
fn file_source_parallelism_beyond_max_parallelism() {
    for bad in ["0", "129", "\"2\""] {
        assert_eq!(
            error_with(&format!("parallelism = {bad}")),
            format!(
                "source \"events\": field \"parallelism\" has value {bad}; allowed: a whole number \
                 from 1 to 128"
            )
        );
    }
}

#[test]
fn idle_timeout_and_max_drift_parse_for_file_and_generator_sources() {
    let source = &parse(&with("idle_timeout = \"500ms\"\nmax_drift = \"1m\"")).sources[0];
    assert_eq!(source.idle_timeout, Some(Duration::from_millis(500)));
    assert_eq!(source.max_drift, Some(Duration::from_secs(60)));
    let file = "kind = \"file\"\npath = \"events/\"\nformat = \"csv\"\n\
                schema = { user = \"string\", amount = \"f64\", ts = \"i64\" }\nevent_time = \"ts\"";
    let generator = VALID.replace(
        file,
        "kind = \"generator\"\nparallelism = 3\nidle_timeout = \"2s\"\nmax_drift = \"10s\"",
    );
    let source = &parse(&generator).sources[0];
    assert_eq!(source.idle_timeout, Some(Duration::from_secs(2)));
    assert_eq!(source.max_drift, Some(Duration::from_secs(10)));
}

#[test]
fn idle_timeout_and_max_drift_zero_or_out_of_range_or_not_durations() {
    let positive = "a duration greater than zero";
    let cases = [
        ("idle_timeout", "\"0s\"", positive.to_string()),
        ("idle_timeout", "5", positive.to_string()),
        ("idle_timeout", "\"soon\"", positive.to_string()),
        (
            "max_drift",
            "\"0ms\"",
            format!("{positive} and at most 100000d"),
        ),
        (
            "max_drift",
            "\"100001d\"",
            format!("{positive} and at most 100000d"),
        ),
        ("max_drift", "1", format!("{positive} and at most 100000d")),
    ];
    for (field, bad, allowed) in cases {
        assert_eq!(
            error_with(&format!("{field} = {bad}")),
            format!(
                "source \"events\": field \"{field}\" has value {bad}; allowed: {allowed}: \
                 {DURATION}"
            )
        );
    }
    common::assert_parses(&with("max_drift = \"100000d\""));
}

#[test]
fn max_drift_without_event_time() {
    assert_eq!(
        common::error_in(&with("max_drift = \"5s\""), "event_time = \"ts\"\n", ""),
        "source \"events\": field \"max_drift\" has value \"5s\"; allowed: only with event_time \
         (alignment compares the event times of splits): add event_time = \"<an i64 column>\" or \
         remove max_drift"
    );
}

//! Every error path of the spec as a whole, of `[job]`, of `[[sink]]` tables and of the
//! references between operators (names, inputs, cycles, late sinks), and of reading spec files.

mod common;

use common::DURATION;
use quiver_protocol::spec::{parse_duration, JobSpec, SpecError};
use std::path::Path;
use std::time::Duration;

/// A valid spec; each test breaks one thing in it.
const VALID: &str = r#"
[job]
name = "t"
parallelism = 2

[[source]]
name = "events"
kind = "generator"

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()" }

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"
"#;

/// The error message for `VALID` with `from` replaced by `to` (which must change it).
fn error_after(from: &str, to: &str) -> String {
    common::error_in(VALID, from, to)
}

#[test]
fn valid_spec_parses() {
    common::assert_parses(VALID);
}

// ---------------------------------------------------------------------------------------------
// The document and [job]
// ---------------------------------------------------------------------------------------------

#[test]
fn toml_syntax_error_names_line_and_column() {
    let error = error_after("name = \"t\"", "name = \"t");
    assert!(
        error.starts_with("the job spec is not valid TOML: TOML parse error at line 3, column "),
        "{error}"
    );
}

#[test]
fn duplicate_toml_key_is_a_syntax_error() {
    let error = error_after("parallelism = 2", "parallelism = 2\nparallelism = 3");
    assert!(
        error.starts_with("the job spec is not valid TOML: TOML parse error at line 5, column 1"),
        "{error}"
    );
}

#[test]
fn unknown_top_level_table() {
    assert_eq!(
        error_after("[job]", "[model]\nkind = \"x\"\n\n[job]"),
        "job spec: unknown field \"model\"; allowed fields: job, source, stage, sink"
    );
}

#[test]
fn job_table_missing() {
    assert_eq!(
        error_after("[job]\nname = \"t\"\nparallelism = 2\n", ""),
        "job spec: missing required field \"job\"; add a [job] table with at least name = \"...\""
    );
}

#[test]
fn job_as_an_array_of_tables() {
    let error = error_after("[job]", "[[job]]");
    assert!(
        error.starts_with("job spec: field \"job\" has value [{"),
        "{error}"
    );
    assert!(error.ends_with("; allowed: a [job] table"), "{error}");
}

#[test]
fn job_unknown_field_gets_a_suggestion() {
    assert_eq!(
        error_after("parallelism = 2", "parallelizm = 2"),
        "[job]: unknown field \"parallelizm\" (did you mean \"parallelism\"?); allowed fields: name, \
         parallelism, max_parallelism, checkpoint_interval, state_ttl"
    );
}

#[test]
fn job_name_missing() {
    assert_eq!(
        error_after("name = \"t\"\n", ""),
        "[job]: missing required field \"name\"; add name = \"my-job\""
    );
}

#[test]
fn job_name_empty() {
    assert_eq!(
        error_after("name = \"t\"", "name = \"  \""),
        "[job]: field \"name\" has value \"  \"; allowed: a non-empty name"
    );
}

#[test]
fn job_parallelism_zero() {
    assert_eq!(
        error_after("parallelism = 2", "parallelism = 0"),
        "[job]: field \"parallelism\" has value 0; allowed: a whole number from 1 to max_parallelism (128)"
    );
}

#[test]
fn job_parallelism_above_max_parallelism() {
    assert_eq!(
        error_after("parallelism = 2", "parallelism = 9\nmax_parallelism = 8"),
        "[job]: field \"parallelism\" has value 9; allowed: a whole number from 1 to max_parallelism (8)"
    );
}

#[test]
fn job_parallelism_a_string() {
    assert_eq!(
        error_after("parallelism = 2", "parallelism = \"2\""),
        "[job]: field \"parallelism\" has value \"2\"; allowed: a whole number from 1 to max_parallelism (128)"
    );
}

#[test]
fn job_max_parallelism_too_large() {
    assert_eq!(
        error_after("parallelism = 2", "max_parallelism = 40000"),
        "[job]: field \"max_parallelism\" has value 40000; allowed: a whole number from 1 to 32768"
    );
}

#[test]
fn job_checkpoint_interval_zero() {
    assert_eq!(
        error_after("parallelism = 2", "checkpoint_interval = \"0s\""),
        format!("[job]: field \"checkpoint_interval\" has value \"0s\"; allowed: a duration greater than zero: {DURATION}")
    );
}

#[test]
fn job_checkpoint_interval_a_number() {
    assert_eq!(
        error_after("parallelism = 2", "checkpoint_interval = 1000"),
        format!("[job]: field \"checkpoint_interval\" has value 1000; allowed: a duration greater than zero: {DURATION}")
    );
}

#[test]
fn job_state_ttl_in_words() {
    assert_eq!(
        error_after("parallelism = 2", "state_ttl = \"1 hour\""),
        format!("[job]: field \"state_ttl\" has value \"1 hour\"; allowed: a duration greater than zero and at most 9223372036854775807ms: {DURATION}")
    );
}

#[test]
fn job_state_ttl_beyond_the_clock() {
    // One millisecond past i64::MAX ms: expiry times would overflow.
    assert_eq!(
        error_after("parallelism = 2", "state_ttl = \"9223372036854775808ms\""),
        format!("[job]: field \"state_ttl\" has value \"9223372036854775808ms\"; allowed: a duration greater than zero and at most 9223372036854775807ms: {DURATION}")
    );
}

#[test]
fn job_state_ttl_zero() {
    assert_eq!(
        error_after("parallelism = 2", "state_ttl = \"0ms\""),
        format!("[job]: field \"state_ttl\" has value \"0ms\"; allowed: a duration greater than zero and at most 9223372036854775807ms: {DURATION}")
    );
}

// ---------------------------------------------------------------------------------------------
// Operator arrays and names
// ---------------------------------------------------------------------------------------------

#[test]
fn no_source() {
    assert_eq!(
        error_after("[[source]]\nname = \"events\"\nkind = \"generator\"\n", ""),
        "job spec: missing required field \"source\"; add at least one [[source]] table"
    );
}

#[test]
fn source_written_as_a_single_table() {
    assert_eq!(
        error_after("[[source]]", "[source]"),
        "job spec: field \"source\" has value { name = \"events\", kind = \"generator\" }; allowed: one or \
         more [[source]] tables (double brackets)"
    );
}

#[test]
fn no_sink() {
    assert_eq!(
        error_after(
            "[[sink]]\nname = \"out\"\nkind = \"file\"\ninput = \"per_user\"\npath = \"out/\"\n",
            ""
        ),
        "job spec: missing required field \"sink\"; add at least one [[sink]] table"
    );
}

#[test]
fn stage_array_holding_a_number() {
    let spec = VALID.replace("[[stage]]", "stage = [1]\n[[unused]]");
    let error = JobSpec::parse(&spec, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "job spec: unknown field \"unused\"; allowed fields: job, source, stage, sink"
    );
    let spec = format!(
        "stage = [1]\n{}",
        VALID.split("[[stage]]").next().unwrap_or_default()
    );
    let error = JobSpec::parse(&spec, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "job spec: field \"stage\" has value 1; allowed: one or more [[stage]] tables (double brackets)"
    );
}

#[test]
fn name_used_twice() {
    assert_eq!(
        error_after("name = \"out\"", "name = \"per_user\""),
        "the name \"per_user\" is used by both stage #1 and sink #1; every source, stage and sink needs its \
         own name: rename one of them"
    );
}

#[test]
fn stages_in_a_cycle() {
    let spec = VALID.replace("input = \"events\"", "input = \"c\"")
        + "[[stage]]\nname = \"b\"\nkind = \"aggregate\"\ninput = \"per_user\"\naggregates = { m = \"count()\" }\n\
           [[stage]]\nname = \"c\"\nkind = \"aggregate\"\ninput = \"b\"\naggregates = { k = \"count()\" }\n";
    let error = JobSpec::parse(&spec, Path::new("/")).unwrap_err();
    assert_eq!(
        error,
        SpecError::Cycle {
            cycle: "per_user -> b -> c -> per_user".to_string()
        }
    );
    assert_eq!(
        error.to_string(),
        "the stages form a cycle: per_user -> b -> c -> per_user; a stage cannot read its own output, \
         directly or through other stages: point one of these inputs at a source or at a stage outside \
         the loop"
    );
}

#[test]
fn stages_in_a_cycle_fed_by_a_stage_declared_after_them() {
    // feed reads a source; a and b read each other; c, declared last, reads a.
    let spec = VALID.replace("input = \"events\"", "input = \"c\"")
        + "[[stage]]\nname = \"a\"\nkind = \"aggregate\"\ninput = \"b\"\naggregates = { m = \"count()\" }\n\
           [[stage]]\nname = \"b\"\nkind = \"aggregate\"\ninput = \"a\"\naggregates = { k = \"count()\" }\n\
           [[stage]]\nname = \"c\"\nkind = \"aggregate\"\ninput = \"a\"\naggregates = { j = \"count()\" }\n";
    assert_eq!(
        JobSpec::parse(&spec, Path::new("/")).unwrap_err().to_string(),
        "the stages form a cycle: a -> b -> a; a stage cannot read its own output, directly or \
         through other stages: point one of these inputs at a source or at a stage outside the loop"
    );
}

#[test]
fn stage_reading_itself() {
    assert_eq!(
        error_after("input = \"events\"", "input = \"per_user\""),
        "the stages form a cycle: per_user -> per_user; a stage cannot read its own output, directly or \
         through other stages: point one of these inputs at a source or at a stage outside the loop"
    );
}

#[test]
fn stage_reading_a_sink() {
    assert_eq!(
        error_after("input = \"events\"", "input = \"out\""),
        "stage \"per_user\": field \"input\" has value \"out\"; allowed: the name of a source or stage: events, \
         per_user"
    );
}

#[test]
fn two_stages_send_late_records_to_one_sink() {
    let spec = VALID.replace(
        "aggregates = { n = \"count()\" }",
        "aggregates = { n = \"count()\" }\nlate = \"late\"",
    )
        + "[[stage]]\nname = \"b\"\nkind = \"aggregate\"\ninput = \"events\"\nlate = \"late\"\n\
           window = { kind = \"session\", gap = \"5s\" }\naggregates = { m = \"count()\" }\n\
           [[sink]]\nname = \"late\"\nkind = \"discard\"\n";
    let error = JobSpec::parse(&spec, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "stage \"b\": field \"late\" has value \"late\"; allowed: a sink no other stage sends late records to; \
         sink \"late\" already receives those of stage \"per_user\": add another sink"
    );
}

// ---------------------------------------------------------------------------------------------
// Sinks
// ---------------------------------------------------------------------------------------------

#[test]
fn sink_kind_unknown() {
    assert_eq!(
        error_after("kind = \"file\"", "kind = \"s3\""),
        "sink \"out\": unknown sink kind \"s3\"; allowed: file, stdout, discard, serve, redis, kafka"
    );
}

#[test]
fn sink_name_missing() {
    assert_eq!(
        error_after("name = \"out\"\n", ""),
        "sink #1: missing required field \"name\"; add name = \"...\" (a non-empty name of letters, digits, \
         '_', '-' and '.', unique in the job)"
    );
}

#[test]
fn file_sink_path_missing() {
    assert_eq!(
        error_after("path = \"out/\"\n", ""),
        "sink \"out\": missing required field \"path\"; add path = \"out/\" (a folder, relative to the spec's \
         folder)"
    );
}

#[test]
fn file_sink_mode_unknown() {
    assert_eq!(
        error_after("path = \"out/\"", "path = \"out/\"\nmode = \"replace\""),
        "sink \"out\": field \"mode\" has value \"replace\"; allowed: error, overwrite, append"
    );
}

#[test]
fn stdout_sink_with_a_path() {
    assert_eq!(
        error_after("kind = \"file\"", "kind = \"stdout\""),
        "sink \"out\": unknown field \"path\"; allowed fields: name, kind, input, parallelism, pool"
    );
}

#[test]
fn sink_input_missing() {
    assert_eq!(
        error_after("input = \"per_user\"\n", ""),
        "sink \"out\": missing required field \"input\"; add input = the name of a source or stage: events, \
         per_user"
    );
}

#[test]
fn sink_input_names_nothing() {
    assert_eq!(
        error_after("input = \"per_user\"", "input = \"per-user\""),
        "sink \"out\": field \"input\" has value \"per-user\"; allowed: the name of a source or stage: events, \
         per_user"
    );
}

#[test]
fn sink_parallelism_zero() {
    assert_eq!(
        error_after("path = \"out/\"", "path = \"out/\"\nparallelism = 0"),
        "sink \"out\": field \"parallelism\" has value 0; allowed: a whole number from 1 to 128"
    );
}

#[test]
fn two_file_sinks_writing_to_one_folder() {
    // VALID's sink "out" writes to "out/" in the spec's folder, /jobs.
    let with_copy = |path: &str| {
        format!(
            "{VALID}[[sink]]\nname = \"copy\"\nkind = \"file\"\ninput = \"events\"\npath = \"{path}\"\n"
        )
    };
    for written in [
        "out",
        "out/",
        "./out",
        "out/.",
        "a/../out",
        "../jobs/out",
        "/jobs/out",
        "/jobs//out/",
    ] {
        assert_eq!(
            JobSpec::parse(&with_copy(written), Path::new("/jobs"))
                .unwrap_err()
                .to_string(),
            format!(
                "sink \"copy\": field \"path\" has value {written:?}; allowed: a folder no other sink \
                 writes to; sink \"out\" writes to /jobs/out: give each file sink its own folder"
            )
        );
    }
    for elsewhere in ["out2", "out/sub", "../out", "/out"] {
        common::assert_parses(&with_copy(elsewhere));
    }
}

#[test]
fn late_sink_reading_another_input() {
    let spec = VALID.replace(
        "aggregates = { n = \"count()\" }",
        "aggregates = { n = \"count()\" }\nlate = \"late\"",
    ) + "[[sink]]\nname = \"late\"\nkind = \"discard\"\ninput = \"events\"\n";
    let error = JobSpec::parse(&spec, Path::new("/"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "sink \"late\": field \"input\" has value \"events\"; allowed: \"per_user\" or no input: this sink \
         receives the late records of stage \"per_user\" (its late = \"late\"); use another sink for other rows"
    );
}

// ---------------------------------------------------------------------------------------------
// Spec files and durations
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_spec_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    let error = JobSpec::from_file(&path).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "cannot read job spec {}: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[test]
fn errors_in_a_spec_file_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, VALID.replace("parallelism = 2", "parallelism = 0")).unwrap();
    assert_eq!(
        JobSpec::from_file(&path).unwrap_err().to_string(),
        format!(
            "{}: [job]: field \"parallelism\" has value 0; allowed: a whole number from 1 to max_parallelism (128)",
            path.display()
        )
    );
}

#[test]
fn spec_file_paths_resolve_against_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, VALID).unwrap();
    let spec = JobSpec::from_file(&path).unwrap();
    assert_eq!(
        spec.sinks[0].kind,
        quiver_protocol::spec::SinkKind::File {
            path: dir.path().join("out/"),
            mode: quiver_protocol::spec::OutputMode::Error,
        }
    );
}

#[test]
fn durations_in_every_unit() {
    let cases = [
        ("500ms", Duration::from_millis(500)),
        ("0ms", Duration::ZERO),
        ("1s", Duration::from_secs(1)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("1d", Duration::from_secs(86_400)),
        ("90s", Duration::from_secs(90)),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_duration(text), Ok(expected), "{text}");
    }
}

#[test]
fn durations_that_do_not_parse() {
    for text in [
        "",
        "1",
        "s",
        "1.5s",
        "-1s",
        "1 s",
        "1sec",
        "1S",
        "5w",
        "99999999999999999999ms",
        "213503982334602d",
    ] {
        let error = parse_duration(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("\"{text}\" is not a duration; write {DURATION}"),
            "{text}"
        );
    }
}

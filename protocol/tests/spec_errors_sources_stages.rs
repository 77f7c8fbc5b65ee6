//! Every error path of `[[source]]` and `[[stage]]` tables: each message names the place, the
//! field, the bad value and what is allowed.

mod common;

use common::DURATION;
use quiver_protocol::spec::JobSpec;
use std::path::Path;

/// A valid spec; each test breaks one thing in it.
const VALID: &str = r#"
[job]
name = "t"
parallelism = 2

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64", ok = "bool" }
event_time = "ts"

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()", spend = "sum(amount)" }

[[sink]]
name = "out"
kind = "stdout"
input = "per_user"
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
// Sources
// ---------------------------------------------------------------------------------------------

#[test]
fn source_name_missing() {
    assert_eq!(
        error_after("name = \"events\"\n", ""),
        "source #1: missing required field \"name\"; add name = \"...\" (a non-empty name of letters, \
         digits, '_', '-' and '.', unique in the job)"
    );
}

#[test]
fn source_name_with_a_space() {
    assert_eq!(
        error_after("name = \"events\"", "name = \"my events\""),
        "source #1: field \"name\" has value \"my events\"; allowed: a non-empty name of letters, digits, \
         '_', '-' and '.'"
    );
}

#[test]
fn source_kind_missing() {
    assert_eq!(
        error_after("kind = \"file\"\n", ""),
        "source \"events\": missing required field \"kind\"; add kind = one of file, generator, kafka"
    );
}

#[test]
fn source_kind_unknown() {
    assert_eq!(
        error_after("kind = \"file\"", "kind = \"socket\""),
        "source \"events\": unknown source kind \"socket\"; allowed: file, generator, kafka"
    );
}

#[test]
fn source_unknown_field_lists_the_fields_of_its_kind() {
    assert_eq!(
        error_after("format = \"csv\"", "format = \"csv\"\nkeys = 10"),
        "source \"events\": unknown field \"keys\"; allowed fields: name, kind, parallelism, \
         pool, max_out_of_orderness, idle_timeout, max_drift, checks, drift_window, path, format, columns, schema, event_time, \
         event_time_unit, rate, bad_records"
    );
}

#[test]
fn source_misspelt_field_gets_a_suggestion() {
    assert_eq!(
        error_after("event_time = \"ts\"", "event_tme = \"ts\""),
        "source \"events\": unknown field \"event_tme\" (did you mean \"event_time\"?); allowed fields: \
         name, kind, parallelism, pool, max_out_of_orderness, idle_timeout, max_drift, checks, drift_window, path, format, \
         columns, schema, event_time, event_time_unit, rate, bad_records"
    );
}

#[test]
fn file_path_missing() {
    assert_eq!(
        error_after("path = \"events.csv\"\n", ""),
        "source \"events\": missing required field \"path\"; add path = \"events.csv\" (relative to the \
         spec's folder)"
    );
}

#[test]
fn file_path_empty() {
    assert_eq!(
        error_after("path = \"events.csv\"", "path = \"\""),
        "source \"events\": field \"path\" has value \"\"; allowed: a non-empty file or folder path"
    );
}

#[test]
fn file_path_not_a_string() {
    assert_eq!(
        error_after("path = \"events.csv\"", "path = 7"),
        "source \"events\": field \"path\" has value 7; allowed: \"events.csv\" (relative to the spec's folder)"
    );
}

#[test]
fn file_format_unknown() {
    assert_eq!(
        error_after("format = \"csv\"", "format = \"parquet\""),
        "source \"events\": field \"format\" has value \"parquet\"; allowed: csv, tsv, jsonl"
    );
}

#[test]
fn file_format_not_a_string() {
    assert_eq!(
        error_after("format = \"csv\"", "format = 1"),
        "source \"events\": field \"format\" has value 1; allowed: csv, tsv, jsonl"
    );
}

#[test]
fn file_format_missing_and_not_implied_by_the_extension() {
    let spec = VALID
        .replace("format = \"csv\"\n", "")
        .replace("events.csv", "events.txt");
    let error = JobSpec::parse(&spec, Path::new("/jobs"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "source \"events\": missing required field \"format\"; the file name does not end in .csv, \
         .tsv or .jsonl: add format = \"csv\", \"tsv\" or \"jsonl\""
    );
}

#[test]
fn file_schema_missing() {
    assert_eq!(
        error_after("schema = { user = \"string\", amount = \"f64\", ts = \"i64\", ok = \"bool\" }\n", ""),
        "source \"events\": missing required field \"schema\"; add schema = a table of column = \"type\", \
         e.g. { user = \"string\", amount = \"f64\", ts = \"i64\" }"
    );
}

#[test]
fn file_schema_empty() {
    assert_eq!(
        error_after("schema = { user = \"string\", amount = \"f64\", ts = \"i64\", ok = \"bool\" }", "schema = {}"),
        "source \"events\": field \"schema\" has value {}; allowed: at least one column: a table of \
         column = \"type\", e.g. { user = \"string\", amount = \"f64\", ts = \"i64\" }"
    );
}

#[test]
fn file_schema_unknown_type() {
    assert_eq!(
        error_after("amount = \"f64\"", "amount = \"float\""),
        "source \"events\": field \"schema.amount\" has value \"float\"; allowed: i64, f64, string, bool \
         (vector columns cannot be read from files)"
    );
}

#[test]
fn file_schema_vector_type() {
    assert_eq!(
        error_after("amount = \"f64\"", "amount = \"vector\""),
        "source \"events\": field \"schema.amount\" has value \"vector\"; allowed: i64, f64, string, bool \
         (vector columns cannot be read from files)"
    );
}

#[test]
fn file_event_time_not_an_i64_column() {
    assert_eq!(
        error_after("event_time = \"ts\"", "event_time = \"user\""),
        "source \"events\": field \"event_time\" has value \"user\"; allowed: an i64 column of the schema \
         (milliseconds since the epoch): ts"
    );
}

#[test]
fn file_event_time_not_a_column() {
    assert_eq!(
        error_after("event_time = \"ts\"", "event_time = \"time\""),
        "source \"events\": field \"event_time\" has value \"time\"; allowed: an i64 column of the schema \
         (milliseconds since the epoch): ts"
    );
}

#[test]
fn file_rate_negative() {
    assert_eq!(
        error_after("event_time = \"ts\"", "event_time = \"ts\"\nrate = -5"),
        "source \"events\": field \"rate\" has value -5; allowed: a whole number ≥ 0"
    );
}

#[test]
fn file_bad_records_unknown() {
    assert_eq!(
        error_after(
            "event_time = \"ts\"",
            "event_time = \"ts\"\nbad_records = \"ignore\""
        ),
        "source \"events\": field \"bad_records\" has value \"ignore\"; allowed: fail, skip"
    );
}

#[test]
fn file_max_out_of_orderness_not_a_duration() {
    assert_eq!(
        error_after("event_time = \"ts\"", "event_time = \"ts\"\nmax_out_of_orderness = \"2 s\""),
        format!(
            "source \"events\": field \"max_out_of_orderness\" has value \"2 s\"; allowed: a duration of at \
             most 100000d: {DURATION}"
        )
    );
}

#[test]
fn file_max_out_of_orderness_beyond_100000_days() {
    let lag = |d: &str| format!("event_time = \"ts\"\nmax_out_of_orderness = \"{d}\"");
    common::assert_parses(&VALID.replace("event_time = \"ts\"", &lag("100000d")));
    common::assert_parses(&VALID.replace("event_time = \"ts\"", &lag("8640000000000ms")));
    for too_long in ["100001d", "8640000000001ms", "18446744073709551615ms"] {
        assert_eq!(
            error_after("event_time = \"ts\"", &lag(too_long)),
            format!(
                "source \"events\": field \"max_out_of_orderness\" has value \"{too_long}\"; allowed: a \
                 duration of at most 100000d: {DURATION}"
            )
        );
    }
}

/// `VALID` with a generator source in place of the file source.
fn generator_error(settings: &str) -> String {
    let file = "kind = \"file\"\npath = \"events.csv\"\nformat = \"csv\"\n\
                schema = { user = \"string\", amount = \"f64\", ts = \"i64\", ok = \"bool\" }\nevent_time = \"ts\"";
    error_after(file, &format!("kind = \"generator\"\n{settings}"))
}

#[test]
fn generator_unknown_field_schema() {
    assert_eq!(
        generator_error("schema = { user = \"string\" }"),
        "source \"events\": unknown field \"schema\"; allowed fields: name, kind, parallelism, \
         pool, max_out_of_orderness, idle_timeout, max_drift, checks, drift_window, count, rate, keys, seed, workload, items"
    );
}

#[test]
fn generator_keys_zero() {
    assert_eq!(
        generator_error("keys = 0"),
        "source \"events\": field \"keys\" has value 0; allowed: a whole number ≥ 1"
    );
}

#[test]
fn generator_count_not_a_number() {
    assert_eq!(
        generator_error("count = \"many\""),
        "source \"events\": field \"count\" has value \"many\"; allowed: a whole number ≥ 0"
    );
}

#[test]
fn generator_seed_negative() {
    assert_eq!(
        generator_error("seed = -1"),
        "source \"events\": field \"seed\" has value -1; allowed: a whole number ≥ 0"
    );
}

#[test]
fn generator_parallelism_above_max_parallelism() {
    assert_eq!(
        generator_error("parallelism = 129"),
        "source \"events\": field \"parallelism\" has value 129; allowed: a whole number from 1 to 128"
    );
}

// ---------------------------------------------------------------------------------------------
// Stages
// ---------------------------------------------------------------------------------------------

#[test]
fn stage_kind_unknown() {
    assert_eq!(
        error_after("kind = \"aggregate\"", "kind = \"neural_net\""),
        "stage \"per_user\": unknown stage kind \"neural_net\"; allowed: aggregate, standard_scaler, \
         feature_hasher, vector_assembler, one_hot, logistic_regression, linear_regression, kmeans, \
         matrix_factorization, predict"
    );
}

#[test]
fn stage_kind_missing() {
    assert_eq!(
        error_after("kind = \"aggregate\"\n", ""),
        "stage \"per_user\": missing required field \"kind\"; add kind = one of aggregate, \
         standard_scaler, feature_hasher, vector_assembler, one_hot, logistic_regression, \
         linear_regression, kmeans, matrix_factorization, predict"
    );
}

#[test]
fn stage_misspelt_field_gets_a_suggestion() {
    assert_eq!(
        error_after("window =", "windw ="),
        "stage \"per_user\": unknown field \"windw\" (did you mean \"window\"?); allowed fields: name, kind, \
         input, parallelism, late, pool, checks, drift_window, key, window, aggregates"
    );
}

#[test]
fn stage_input_missing() {
    assert_eq!(
        error_after("input = \"events\"\nkey", "key"),
        "stage \"per_user\": missing required field \"input\"; add input = \"NAME\" of a source or stage"
    );
}

#[test]
fn stage_input_names_nothing() {
    assert_eq!(
        error_after("input = \"events\"", "input = \"evnts\""),
        "stage \"per_user\": field \"input\" has value \"evnts\"; allowed: the name of a source or stage: \
         events, per_user"
    );
}

#[test]
fn stage_parallelism_zero() {
    assert_eq!(
        error_after("key = [", "parallelism = 0\nkey = ["),
        "stage \"per_user\": field \"parallelism\" has value 0; allowed: a whole number from 1 to 128"
    );
}

#[test]
fn key_not_a_list() {
    assert_eq!(
        error_after("key = [\"user\"]", "key = \"user\""),
        "stage \"per_user\": field \"key\" has value \"user\"; allowed: a list of column names, e.g. \
         [\"user\"] ([] or omitted: one global key)"
    );
}

#[test]
fn key_list_holding_a_number() {
    assert_eq!(
        error_after("key = [\"user\"]", "key = [\"user\", 1]"),
        "stage \"per_user\": field \"key\" has value [\"user\", 1]; allowed: a list of column names, e.g. \
         [\"user\"] ([] or omitted: one global key)"
    );
}

#[test]
fn key_column_missing_from_the_input() {
    assert_eq!(
        error_after("key = [\"user\"]", "key = [\"usr\"]"),
        "stage \"per_user\": field \"key\" has value \"usr\"; allowed: non-vector columns of input \
         \"events\": user, amount, ts, ok"
    );
}

#[test]
fn key_column_twice() {
    assert_eq!(
        error_after("key = [\"user\"]", "key = [\"user\", \"user\"]"),
        "stage \"per_user\": field \"key\" has value \"user\"; allowed: each column once"
    );
}

#[test]
fn window_kind_unknown() {
    assert_eq!(
        error_after("kind = \"tumbling\"", "kind = \"hopping\""),
        "stage \"per_user\": field \"window.kind\" has value \"hopping\"; allowed: tumbling, sliding, session"
    );
}

#[test]
fn window_kind_missing() {
    assert_eq!(
        error_after("kind = \"tumbling\", ", ""),
        "stage \"per_user\": missing required field \"window.kind\"; add kind = \"tumbling\", \"sliding\" \
         or \"session\""
    );
}

#[test]
fn window_not_a_table() {
    assert_eq!(
        error_after("window = { kind = \"tumbling\", size = \"1s\" }", "window = \"1s\""),
        "stage \"per_user\": field \"window\" has value \"1s\"; allowed: a table, e.g. { kind = \"tumbling\", \
         size = \"1s\" }"
    );
}

#[test]
fn tumbling_size_missing() {
    assert_eq!(
        error_after(", size = \"1s\"", ""),
        "stage \"per_user\": missing required field \"window.size\"; add size = a duration such as \"1s\""
    );
}

#[test]
fn tumbling_size_zero() {
    assert_eq!(
        error_after("size = \"1s\"", "size = \"0ms\""),
        format!(
            "stage \"per_user\": field \"window.size\" has value \"0ms\"; allowed: a duration greater than \
             zero and at most 100000d: {DURATION}"
        )
    );
}

#[test]
fn window_durations_beyond_100000_days() {
    let windows = [
        ("size", "kind = \"tumbling\", size = \"D\""),
        (
            "size",
            "kind = \"sliding\", size = \"D\", slide = \"100000d\"",
        ),
        (
            "slide",
            "kind = \"sliding\", size = \"100000d\", slide = \"D\"",
        ),
        ("gap", "kind = \"session\", gap = \"D\""),
    ];
    for (field, window) in windows {
        let tumbling = "kind = \"tumbling\", size = \"1s\"";
        common::assert_parses(&VALID.replace(tumbling, &window.replace('D', "100000d")));
        assert_eq!(
            error_after(tumbling, &window.replace('D', "100001d")),
            format!(
                "stage \"per_user\": field \"window.{field}\" has value \"100001d\"; allowed: a duration \
                 greater than zero and at most 100000d: {DURATION}"
            ),
            "{window}"
        );
    }
}

#[test]
fn tumbling_window_with_a_gap_field() {
    assert_eq!(
        error_after("size = \"1s\"", "size = \"1s\", gap = \"1s\""),
        "stage \"per_user\": unknown field \"window.gap\"; allowed fields: kind, size"
    );
}

#[test]
fn sliding_slide_missing() {
    assert_eq!(
        error_after("kind = \"tumbling\"", "kind = \"sliding\""),
        "stage \"per_user\": missing required field \"window.slide\"; add slide = a duration such as \"1s\""
    );
}

#[test]
fn sliding_slide_longer_than_size() {
    assert_eq!(
        error_after("kind = \"tumbling\", size = \"1s\"", "kind = \"sliding\", size = \"1s\", slide = \"2s\""),
        "stage \"per_user\": field \"window.slide\" has value \"2s\"; allowed: a duration no longer than the \
         window's size \"1s\" (a longer slide would skip records)"
    );
}

#[test]
fn sliding_window_holding_a_record_more_than_10000_times() {
    let tumbling = "kind = \"tumbling\", size = \"1s\"";
    let sliding = |size: &str, slide: &str| {
        format!("kind = \"sliding\", size = \"{size}\", slide = \"{slide}\"")
    };
    // A day is 86,400,000 ms: a slide of 8,640 ms puts each record in 10,000 windows.
    common::assert_parses(&VALID.replace(tumbling, &sliding("1d", "8640ms")));
    common::assert_parses(&VALID.replace(tumbling, &sliding("10s", "1ms")));
    assert_eq!(
        error_after(tumbling, &sliding("1d", "8639ms")),
        "stage \"per_user\": field \"window.slide\" has value \"8639ms\"; allowed: a duration of at least \
         8640ms for the window's size \"1d\": a record is in size / slide windows, at most 10000"
    );
    assert_eq!(
        error_after(tumbling, &sliding("10001ms", "1ms")),
        "stage \"per_user\": field \"window.slide\" has value \"1ms\"; allowed: a duration of at least \
         2ms for the window's size \"10001ms\": a record is in size / slide windows, at most 10000"
    );
}

#[test]
fn session_gap_missing() {
    assert_eq!(
        error_after("kind = \"tumbling\", size = \"1s\"", "kind = \"session\""),
        "stage \"per_user\": missing required field \"window.gap\"; add gap = a duration such as \"1s\""
    );
}

const AGGREGATES_SHAPE: &str = "a table of output name = call, e.g. { n = \"count()\", spend = \"sum(amount)\" }; \
     calls: \"count()\", or \"sum(COLUMN)\", \"min(COLUMN)\", \"max(COLUMN)\", \"avg(COLUMN)\" over a numeric column";
const CALL_FORMAT: &str =
    "\"count()\", or \"sum(COLUMN)\", \"min(COLUMN)\", \"max(COLUMN)\", \"avg(COLUMN)\" over a numeric column";

#[test]
fn aggregates_missing() {
    assert_eq!(
        error_after("aggregates = { n = \"count()\", spend = \"sum(amount)\" }\n", ""),
        format!("stage \"per_user\": missing required field \"aggregates\"; add aggregates = {AGGREGATES_SHAPE}")
    );
}

#[test]
fn aggregates_empty() {
    assert_eq!(
        error_after("aggregates = { n = \"count()\", spend = \"sum(amount)\" }", "aggregates = {}"),
        format!(
            "stage \"per_user\": field \"aggregates\" has value {{}}; allowed: at least one aggregate: \
             {AGGREGATES_SHAPE}"
        )
    );
}

#[test]
fn aggregate_function_unknown() {
    assert_eq!(
        error_after("sum(amount)", "median(amount)"),
        format!("stage \"per_user\": field \"aggregates.spend\" has value \"median(amount)\"; allowed: {CALL_FORMAT}")
    );
}

#[test]
fn aggregate_count_with_a_column() {
    assert_eq!(
        error_after("count()", "count(amount)"),
        format!("stage \"per_user\": field \"aggregates.n\" has value \"count(amount)\"; allowed: {CALL_FORMAT}")
    );
}

#[test]
fn aggregate_sum_without_a_column() {
    assert_eq!(
        error_after("sum(amount)", "sum()"),
        format!("stage \"per_user\": field \"aggregates.spend\" has value \"sum()\"; allowed: {CALL_FORMAT}")
    );
}

#[test]
fn aggregate_not_a_string() {
    assert_eq!(
        error_after("\"sum(amount)\"", "3"),
        format!(
            "stage \"per_user\": field \"aggregates.spend\" has value 3; allowed: {CALL_FORMAT}"
        )
    );
}

#[test]
fn aggregate_over_a_string_column() {
    assert_eq!(
        error_after("sum(amount)", "sum(user)"),
        "stage \"per_user\": field \"aggregates.spend\" has value \"sum(user)\"; allowed: a numeric (i64 or \
         f64) column of input \"events\": amount, ts"
    );
}

#[test]
fn aggregate_min_over_a_bool_column() {
    assert_eq!(
        error_after("sum(amount)", "min(ok)"),
        "stage \"per_user\": field \"aggregates.spend\" has value \"min(ok)\"; allowed: a numeric (i64 or \
         f64) column of input \"events\": amount, ts"
    );
}

#[test]
fn aggregate_over_a_missing_column() {
    assert_eq!(
        error_after("sum(amount)", "avg(price)"),
        "stage \"per_user\": field \"aggregates.spend\" has value \"avg(price)\"; allowed: a numeric (i64 or \
         f64) column of input \"events\": amount, ts"
    );
}

#[test]
fn aggregate_output_named_like_a_key_column() {
    assert_eq!(
        error_after("n = \"count()\"", "user = \"count()\""),
        "stage \"per_user\": field \"aggregates.user\" has value \"count()\"; allowed: an output name other \
         than the key columns (user) and window_start, window_end: rename \"user\""
    );
}

#[test]
fn aggregate_output_named_window_end() {
    assert_eq!(
        error_after("n = \"count()\"", "window_end = \"count()\""),
        "stage \"per_user\": field \"aggregates.window_end\" has value \"count()\"; allowed: an output name \
         other than the key columns (user) and window_start, window_end: rename \"window_end\""
    );
}

#[test]
fn late_on_a_running_aggregate() {
    assert_eq!(
        error_after("window = { kind = \"tumbling\", size = \"1s\" }", "late = \"out\""),
        "stage \"per_user\": field \"late\" has value \"out\"; allowed: no value on a running aggregate: only \
         windowed aggregates have late records; remove `late` or add a window"
    );
}

#[test]
fn late_names_no_sink() {
    assert_eq!(
        error_after("key = [", "late = \"events\"\nkey = ["),
        "stage \"per_user\": field \"late\" has value \"events\"; allowed: the name of a sink (it receives \
         the stage's late input rows): out"
    );
}

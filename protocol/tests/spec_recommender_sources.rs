//! `[[source]]` fields for the recommender's inputs: the generator's `workload` and `items`,
//! and a file source's `format = "tsv"`, `columns` (a file without a header line) and
//! `event_time_unit`. Each message names the place, the field, the bad value and what is
//! allowed.

mod common;

use quiver_protocol::spec::{
    generator_schema, FileFormat, JobSpec, SourceKind, TimeUnit, Workload, DEFAULT_GENERATOR_ITEMS,
};
use quiver_protocol::{Schema, ValueType};
use std::path::Path;

/// A MovieLens `u.data` replay; each test changes one thing in it.
const MOVIELENS: &str = r#"
[job]
name = "t"

[[source]]
name = "ratings"
kind = "file"
path = "u.data"
format = "tsv"
columns = ["user", "item", "rating", "timestamp"]
schema = { user = "i64", item = "i64", rating = "f64", timestamp = "i64" }
event_time = "timestamp"
event_time_unit = "s"

[[sink]]
name = "out"
kind = "stdout"
input = "ratings"
"#;

/// A behaviour generator; each test changes one thing in it.
const BEHAVIOUR: &str = r#"
[job]
name = "t"

[[source]]
name = "events"
kind = "generator"
workload = "behaviour"

[[sink]]
name = "out"
kind = "stdout"
input = "events"
"#;

fn parse(spec: &str) -> JobSpec {
    JobSpec::parse(spec, Path::new("/jobs")).expect("valid")
}

#[test]
fn a_movielens_file_is_tsv_without_header_in_seconds() {
    let spec = parse(MOVIELENS);
    let SourceKind::File(file) = &spec.sources[0].kind else {
        panic!("a file source")
    };
    assert_eq!(file.format, FileFormat::Tsv);
    assert_eq!(
        file.columns.as_deref(),
        Some(
            ["user", "item", "rating", "timestamp"]
                .map(String::from)
                .as_slice()
        )
    );
    assert_eq!(file.event_time_unit, TimeUnit::Seconds);
    // Without the new fields: a header line, milliseconds; `.tsv` names the format.
    let plain = MOVIELENS
        .replace(
            "columns = [\"user\", \"item\", \"rating\", \"timestamp\"]\n",
            "",
        )
        .replace("event_time_unit = \"s\"\n", "")
        .replace("format = \"tsv\"\n", "")
        .replace("u.data", "ratings.tsv");
    let SourceKind::File(file) = &parse(&plain).sources[0].kind else {
        panic!("a file source")
    };
    assert_eq!(
        (file.format, file.columns.clone(), file.event_time_unit),
        (FileFormat::Tsv, None, TimeUnit::Milliseconds)
    );
}

#[test]
fn columns_must_name_every_schema_column_once_and_only_for_delimited_files() {
    let columns = "columns = [\"user\", \"item\", \"rating\", \"timestamp\"]";
    let what = "the names of the file's fields in file order, e.g. [\"user\", \"item\", \
                \"rating\", \"timestamp\"]";
    assert_eq!(
        common::error_in(
            MOVIELENS,
            columns,
            "columns = [\"user\", \"item\", \"rating\"]"
        ),
        format!(
            "source \"ratings\": field \"columns\" has value [\"user\", \"item\", \"rating\"]; \
             allowed: {what}, naming every schema column (\"timestamp\" is missing)"
        )
    );
    assert_eq!(
        common::error_in(
            MOVIELENS,
            columns,
            "columns = [\"user\", \"item\", \"rating\", \"item\", \"timestamp\"]"
        ),
        format!(
            "source \"ratings\": field \"columns\" has value [\"user\", \"item\", \"rating\", \
             \"item\", \"timestamp\"]; allowed: {what}, each name once (\"item\" is field 2 and 4)"
        )
    );
    assert_eq!(
        common::error_in(MOVIELENS, "format = \"tsv\"", "format = \"jsonl\""),
        "source \"ratings\": field \"columns\" has value [\"user\", \"item\", \"rating\", \
         \"timestamp\"]; allowed: only with format = \"csv\" or \"tsv\" (JSON lines name their \
         fields)"
    );
    // Extra fields are read and ignored, as a header's are.
    common::assert_parses(&MOVIELENS.replace(
        columns,
        "columns = [\"user\", \"item\", \"rating\", \"timestamp\", \"note\"]",
    ));
}

#[test]
fn event_time_unit_is_ms_or_s_and_needs_event_time() {
    assert_eq!(
        common::error_in(
            MOVIELENS,
            "event_time_unit = \"s\"",
            "event_time_unit = \"us\""
        ),
        "source \"ratings\": field \"event_time_unit\" has value \"us\"; allowed: ms, s"
    );
    assert_eq!(
        common::error_in(MOVIELENS, "event_time = \"timestamp\"\n", ""),
        "source \"ratings\": field \"event_time_unit\" has value \"s\"; allowed: only with \
         event_time (it is the unit of that column): add event_time or remove it"
    );
}

#[test]
fn a_behaviour_generator_emits_the_recommender_schema() {
    let spec = parse(BEHAVIOUR);
    let source = &spec.sources[0];
    let SourceKind::Generator(g) = &source.kind else {
        panic!("a generator")
    };
    assert_eq!(
        (g.workload, g.items),
        (Workload::Behaviour, DEFAULT_GENERATOR_ITEMS)
    );
    assert_eq!(
        source.schema,
        Schema::new([
            ("user", ValueType::I64),
            ("item", ValueType::I64),
            ("action", ValueType::Str),
            ("rating", ValueType::F64),
            ("strength", ValueType::F64),
            ("clicked", ValueType::F64),
            ("ts", ValueType::I64),
        ])
    );
    assert_eq!(source.schema, generator_schema(Workload::Behaviour));
    let with_items = parse(&BEHAVIOUR.replace("workload", "items = 500\nworkload"));
    let SourceKind::Generator(g) = &with_items.sources[0].kind else {
        panic!("a generator")
    };
    assert_eq!(g.items, 500);
}

#[test]
fn workload_and_items_errors() {
    assert_eq!(
        common::error_in(BEHAVIOUR, "\"behaviour\"", "\"clicks\""),
        "source \"events\": field \"workload\" has value \"clicks\"; allowed: w1, behaviour"
    );
    assert_eq!(
        common::error_in(BEHAVIOUR, "workload = \"behaviour\"", "items = 100"),
        "source \"events\": field \"items\" has value 100; allowed: only with workload = \
         \"behaviour\" (W1 has no items): remove it or add that"
    );
    assert_eq!(
        common::error_in(BEHAVIOUR, "workload", "items = 15\nworkload"),
        "source \"events\": field \"items\" has value 15; allowed: a whole number ≥ 16"
    );
}

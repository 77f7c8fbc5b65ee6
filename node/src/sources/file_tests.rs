//! CSV and JSON-lines sources: typed parsing, every malformed case's message, skipping,
//! position and seek.

use super::build_source;
use crate::operator::{Source, SourcePosition};
use quiver_protocol::batch::{self, Batch, Column};
use quiver_protocol::spec::{BadRecords, FileFormat, FileSource, SourceKind, SourceSpec, TimeUnit};
use quiver_protocol::{Record, Schema, Value, ValueType};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn schema() -> Schema {
    Schema::new([
        ("user", ValueType::Str),
        ("amount", ValueType::F64),
        ("ts", ValueType::I64),
        ("ok", ValueType::Bool),
    ])
}

pub(crate) fn spec(path: &Path, format: FileFormat, bad_records: BadRecords) -> SourceSpec {
    SourceSpec {
        name: "events".to_string(),
        parallelism: 1,
        max_out_of_orderness: Duration::ZERO,
        idle_timeout: None,
        max_drift: None,
        kind: SourceKind::File(FileSource {
            path: path.to_path_buf(),
            format,
            columns: None,
            event_time: Some("ts".to_string()),
            event_time_unit: TimeUnit::Milliseconds,
            rate: 0,
            bad_records,
        }),
        schema: schema(),
        pool: None,
        quality: Default::default(),
    }
}

pub(crate) fn write(dir: &tempfile::TempDir, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// The records of a batch a source of `schema` read, after checking its columns have the
/// schema's types.
pub(super) fn records_of(schema: &Schema, b: &Batch) -> Vec<Record> {
    assert_eq!(
        b.columns().iter().map(Column::ty).collect::<Vec<_>>(),
        batch::column_types(schema),
        "the batch's columns follow the schema"
    );
    batch::to_records(b)
}

/// Every record the source reads in batches of `batch`, or the error that stops it.
pub(super) fn drain(
    source: &mut dyn Source,
    schema: &Schema,
    batch: usize,
) -> Result<Vec<Record>, String> {
    let mut all = Vec::new();
    while let Some(b) = source.poll_batch(batch).map_err(|e| e.to_string())? {
        all.extend(records_of(schema, &b));
    }
    Ok(all)
}

pub(super) fn rec(user: &str, amount: Option<f64>, ts: i64, ok: Option<bool>) -> Record {
    Record {
        event_time: ts,
        row: vec![
            Value::from(user),
            amount.map_or(Value::Null, Value::F64),
            Value::I64(ts),
            ok.map_or(Value::Null, Value::Bool),
        ],
    }
}

/// Reads `text` as `format` and returns the records or the error message, the number of
/// records skipped, and the file's path.
pub(super) fn read(
    format: FileFormat,
    text: &str,
    bad: BadRecords,
) -> (Result<Vec<Record>, String>, u64, PathBuf) {
    read_as(schema(), format, text, bad)
}

/// [`read`] with another schema; the event time is column `ts` if the schema has one.
pub(super) fn read_as(
    schema: Schema,
    format: FileFormat,
    text: &str,
    bad: BadRecords,
) -> (Result<Vec<Record>, String>, u64, PathBuf) {
    let (result, skipped, path) =
        read_with(schema, format, text, bad, |s, schema| drain(s, schema, 2));
    (result.and_then(|records| records), skipped, path)
}

/// Opens a source of `schema` (the event time is column `ts` if it has one) on a file holding
/// `text` as `format` and reads it with `read`: what `read` returns, or the error opening the
/// source; the records skipped; the file's path.
pub(super) fn read_with<T>(
    schema: Schema,
    format: FileFormat,
    text: &str,
    bad: BadRecords,
    read: impl FnOnce(&mut dyn Source, &Schema) -> T,
) -> (Result<T, String>, u64, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = if format == FileFormat::Csv {
        "events.csv"
    } else {
        "events.jsonl"
    };
    let path = write(&dir, name, text.as_bytes());
    let mut spec = spec(&path, format, bad);
    if let SourceKind::File(f) = &mut spec.kind {
        f.event_time = schema.index_of("ts").map(|_| "ts".to_string());
    }
    spec.schema = schema;
    match build_source(&spec, 0, 1) {
        Err(e) => (Err(e.to_string()), 0, path),
        Ok(mut s) => {
            let result = read(s.as_mut(), &spec.schema);
            (Ok(result), s.skipped(), path)
        }
    }
}

#[test]
fn csv_columns_by_name_with_extra_and_quoted_fields() {
    let text = "ts,extra,amount,user,ok\n1000,zz,1.5,alice,true\n\n2000,,\"2\",\"b,\"\"ob\"\"\",FALSE\r\n3000,x,,carol,\n";
    let (records, skipped, _) = read(FileFormat::Csv, text, BadRecords::Fail);
    assert_eq!(
        records.expect("read"),
        vec![
            rec("alice", Some(1.5), 1000, Some(true)),
            rec("b,\"ob\"", Some(2.0), 2000, Some(false)),
            rec("carol", None, 3000, None),
        ]
    );
    assert_eq!(skipped, 0);
}

#[test]
fn csv_malformed_records_name_file_line_and_reason() {
    let header = "user,amount,ts,ok\n";
    let cases = [
        (
            "a,1.0,5,true\nb,abc,6,true\n",
            "line 3: column \"amount\": \"abc\" is not a f64",
        ),
        (
            "a,1.0,5,true\nb,1.0,6\n",
            "line 3: expected 4 fields (as in the header), found 3",
        ),
        (
            "a,1.0,,true\n",
            "line 2: column \"ts\" (event time) is missing",
        ),
        (
            "a,1.0,5.5,true\n",
            "line 2: column \"ts\": \"5.5\" is not an i64",
        ),
        (
            "a,1.0,5,yes\n",
            "line 2: column \"ok\": \"yes\" is not a bool",
        ),
        (
            "a,1.0,5,true\n\"x\ny\",1,2,true\nb,1,99999999999999999999,true\n",
            "line 5: column \"ts\": \"99999999999999999999\" is not an i64",
        ),
    ];
    for (body, reason) in cases {
        let (result, _, path) = read(
            FileFormat::Csv,
            &format!("{header}{body}"),
            BadRecords::Fail,
        );
        assert_eq!(
            result,
            Err(format!("{} {reason}", path.display())),
            "{body:?}"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "bad.csv", b"user,amount,ts,ok\n\xff\xfe,1,2,true\n");
    let mut s = build_source(&spec(&path, FileFormat::Csv, BadRecords::Fail), 0, 1).expect("open");
    assert_eq!(
        drain(s.as_mut(), &schema(), 10),
        Err(format!(
            "{} line 2: column \"user\": not valid UTF-8",
            path.display()
        ))
    );
}

#[test]
fn csv_skip_counts_bad_records_and_goes_on() {
    let text = "user,amount,ts,ok\na,1,1,true\nb,x,2,true\nc,3\nd,4,4,false\n";
    let (records, skipped, _) = read(FileFormat::Csv, text, BadRecords::Skip);
    assert_eq!(
        records.expect("read"),
        vec![
            rec("a", Some(1.0), 1, Some(true)),
            rec("d", Some(4.0), 4, Some(false))
        ]
    );
    assert_eq!(skipped, 2);
}

#[test]
fn csv_header_problems_are_errors_at_open() {
    let (result, _, path) = read(
        FileFormat::Csv,
        "user,amount,ok\na,1,true\n",
        BadRecords::Fail,
    );
    assert_eq!(
        result,
        Err(format!(
            "{} line 1: the header has no column \"ts\" (header columns: user, amount, ok)",
            path.display()
        ))
    );
    let (result, _, path) = read(FileFormat::Csv, "", BadRecords::Fail);
    assert_eq!(
        result,
        Err(format!(
            "{}: the file is empty; a header line naming the columns (user, amount, ts, ok) is \
             required, or the source's columns = [...] for a file without one",
            path.display()
        ))
    );
    let missing = Path::new("/nonexistent/events.csv");
    let e = build_source(&spec(missing, FileFormat::Csv, BadRecords::Fail), 0, 1)
        .err()
        .expect("missing file");
    assert!(
        e.to_string()
            .starts_with("cannot open /nonexistent/events.csv: "),
        "{e}"
    );
}

#[test]
fn jsonl_fields_by_name_null_and_missing() {
    let text = concat!(
        "{\"user\":\"a\",\"amount\":1.5,\"ts\":10,\"ok\":true,\"other\":{\"deep\":[1,2]}}\n",
        "\n",
        "{\"ts\":20,\"user\":\"b\\\"q\\u00e9\",\"amount\":null}\r\n",
        "  {\"user\":\"c\",\"amount\":3,\"ts\":30,\"ok\":false}",
    );
    let (records, _, _) = read(FileFormat::Jsonl, text, BadRecords::Fail);
    assert_eq!(
        records.expect("read"),
        vec![
            rec("a", Some(1.5), 10, Some(true)),
            rec("b\"qé", None, 20, None),
            rec("c", Some(3.0), 30, Some(false)),
        ]
    );
}

#[test]
fn jsonl_malformed_records_name_file_line_and_reason() {
    let good = "{\"user\":\"a\",\"amount\":1,\"ts\":1}\n";
    let cases = [
        (
            "{\"user\":\"a\",\"amount\":\"abc\",\"ts\":1}",
            "line 2: column \"amount\": \"abc\" is not a f64",
        ),
        (
            "{\"user\":\"a\",\"amount\":1,\"ts\":1.5}",
            "line 2: column \"ts\": 1.5 is not an i64",
        ),
        (
            "{\"user\":\"a\",\"amount\":1}",
            "line 2: column \"ts\" (event time) is missing",
        ),
        (
            "{\"user\":\"a\",\"amount\":1,\"ts\":null}",
            "line 2: column \"ts\" (event time) is missing",
        ),
        (
            "{\"user\":5,\"amount\":1,\"ts\":1}",
            "line 2: column \"user\": 5 is not a string",
        ),
        (
            "{\"user\":\"a\",\"amount\":[1],\"ts\":1}",
            "line 2: column \"amount\": an array is not a f64",
        ),
        (
            "{\"user\":\"a\",\"ts\":18446744073709551615}",
            "line 2: column \"ts\": 18446744073709551615 is not an i64",
        ),
        (
            "[1,2]",
            "line 2: invalid type: sequence, expected a JSON object",
        ),
        (
            "{\"user\":\"a\",",
            "line 2: invalid JSON at column 12: EOF while parsing a value",
        ),
        (
            "{\"user\" \"a\"}",
            "line 2: invalid JSON at column 9: expected `:`",
        ),
        (
            "{\"ts\":1} x",
            "line 2: invalid JSON at column 10: trailing characters",
        ),
    ];
    for (line, reason) in cases {
        let (result, _, path) = read(
            FileFormat::Jsonl,
            &format!("{good}{line}\n{good}"),
            BadRecords::Fail,
        );
        assert_eq!(
            result,
            Err(format!("{} {reason}", path.display())),
            "{line}"
        );
    }
}

#[test]
fn jsonl_skip_counts_bad_records_and_goes_on() {
    let text = "{\"user\":\"a\",\"ts\":1}\nnot json\n{\"ts\":\"x\"}\n{\"user\":\"d\",\"ts\":4}\n";
    let (records, skipped, _) = read(FileFormat::Jsonl, text, BadRecords::Skip);
    assert_eq!(
        records.expect("read"),
        vec![rec("a", None, 1, None), rec("d", None, 4, None)]
    );
    assert_eq!(skipped, 2);
}

/// Reads two records, remembers the position, reads on, seeks back: the same records again.
fn check_seek(format: FileFormat, text: &str, expected_after_two: SourcePosition) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "events", text.as_bytes());
    let mut s = build_source(&spec(&path, format, BadRecords::Fail), 0, 1).expect("open");
    let first = s.poll_batch(2).expect("poll").expect("records");
    assert_eq!(first.len(), 2);
    let pos = s.position();
    assert_eq!(pos, expected_after_two);
    let rest = drain(s.as_mut(), &schema(), 1).expect("rest");
    assert_eq!(rest.len(), 2);
    s.seek(pos).expect("seek");
    assert_eq!(drain(s.as_mut(), &schema(), 5).expect("again"), rest);
    let mut fresh = build_source(&spec(&path, format, BadRecords::Fail), 0, 1).expect("open");
    fresh.seek(pos).expect("seek a fresh source");
    assert_eq!(drain(fresh.as_mut(), &schema(), 5).expect("fresh"), rest);
    assert!(fresh.seek(SourcePosition::Sequence(3)).is_err());
}

#[test]
fn csv_position_and_seek() {
    let text = "user,amount,ts,ok\na,1,1,true\nb,2,2,true\nc,3,3,true\nd,4,4,true\n";
    // Offset 40 is the start of "c,3,3,true", on line 4.
    check_seek(
        FileFormat::Csv,
        text,
        SourcePosition::File {
            offset: 40,
            line: 4,
        },
    );
}

#[test]
fn jsonl_position_and_seek() {
    let line = |u: &str, t: i64| format!("{{\"user\":\"{u}\",\"ts\":{t}}}\n");
    let text = [line("a", 1), line("b", 2), line("c", 3), line("d", 4)].concat();
    let len = line("a", 1).len() as u64;
    check_seek(
        FileFormat::Jsonl,
        &text,
        SourcePosition::File {
            offset: 2 * len,
            line: 3,
        },
    );
}

#[test]
fn build_source_opens_a_partition_of_exactly_one_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "e.csv", b"user,amount,ts,ok\n");
    let e = build_source(&spec(&path, FileFormat::Csv, BadRecords::Fail), 1, 2)
        .err()
        .expect("one file, two partitions: partition 1 reads nothing");
    assert_eq!(
        e.to_string(),
        "source \"events\": partition 1 of 2 reads 0 splits, not one"
    );
    write(&dir, "f.csv", b"user,amount,ts,ok\n");
    let folder = spec(dir.path(), FileFormat::Csv, BadRecords::Fail);
    assert!(build_source(&folder, 1, 2).is_ok(), "f.csv");
    let e = build_source(&folder, 0, 1).err().expect("two splits");
    assert_eq!(
        e.to_string(),
        "source \"events\": partition 0 of 1 reads 2 splits, not one"
    );
}

#[test]
fn jsonl_vectors_and_csv_refusing_them() {
    let schema = Schema::new([("d", ValueType::Dense), ("s", ValueType::Sparse)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let text = concat!(
        "{\"d\":[1,2.5],\"s\":{\"dim\":4,\"indices\":[0,3],\"values\":[1.0,-2.0]}}\n",
        "{\"d\":null}\n",
        "{\"d\":[1,\"x\"]}\n",
        "{\"d\":[null]}\n",
    );
    let path = write(&dir, "v.jsonl", text.as_bytes());
    let mut spec = spec(&path, FileFormat::Jsonl, BadRecords::Fail);
    spec.schema = schema;
    if let SourceKind::File(f) = &mut spec.kind {
        f.event_time = None;
    }
    let mut s = build_source(&spec, 0, 1).expect("open");
    let first = records_of(
        &spec.schema,
        &s.poll_batch(2).expect("poll").expect("records"),
    );
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].event_time, 0, "no event time column: time 0");
    assert_eq!(
        first[0].row,
        vec![
            Value::Dense(vec![1.0, 2.5].into()),
            Value::Sparse(std::sync::Arc::new(quiver_protocol::SparseVector {
                dim: 4,
                indices: vec![0, 3],
                values: vec![1.0, -2.0],
            })),
        ]
    );
    assert_eq!(first[1].row, vec![Value::Null, Value::Null]);
    let e = s.poll_batch(2).expect_err("bad element");
    assert_eq!(
        e.to_string(),
        format!(
            "{} line 3: column \"d\": \"x\" is not a f64",
            path.display()
        )
    );
    s.seek(SourcePosition::File {
        offset: text.find("{\"d\":[null").unwrap_or(0) as u64,
        line: 4,
    })
    .expect("seek");
    let e = s.poll_batch(2).expect_err("null element");
    assert_eq!(
        e.to_string(),
        format!(
            "{} line 4: column \"d\": a null element is not a f64",
            path.display()
        )
    );
    if let SourceKind::File(f) = &mut spec.kind {
        f.format = FileFormat::Csv;
    }
    let e = build_source(&spec, 0, 1)
        .err()
        .expect("csv cannot hold vectors");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: column \"d\" of type vector cannot be read from csv (allowed: i64, f64, string, bool)",
            path.display()
        )
    );
}

/// A source of MovieLens's `u.data` layout: tab-separated, no header, seconds.
fn movielens(path: &Path) -> SourceSpec {
    let mut spec = spec(path, FileFormat::Tsv, BadRecords::Fail);
    spec.schema = Schema::new([
        ("user", ValueType::I64),
        ("item", ValueType::I64),
        ("rating", ValueType::F64),
        ("timestamp", ValueType::I64),
    ]);
    if let SourceKind::File(f) = &mut spec.kind {
        f.columns = Some(
            ["user", "item", "rating", "timestamp"]
                .map(String::from)
                .to_vec(),
        );
        f.event_time = Some("timestamp".to_string());
        f.event_time_unit = TimeUnit::Seconds;
    }
    spec
}

#[test]
fn tsv_without_header_reads_named_columns_with_event_time_in_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        &dir,
        "u.data",
        b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n\n22\t377\t1\t878887116\n",
    );
    let spec = movielens(&path);
    let mut s = build_source(&spec, 0, 1).expect("open");
    let records = drain(s.as_mut(), &spec.schema, 2).expect("read");
    let rec = |user, item, rating, seconds: i64| Record {
        event_time: seconds * 1000,
        row: vec![
            Value::I64(user),
            Value::I64(item),
            Value::F64(rating),
            Value::I64(seconds),
        ],
    };
    assert_eq!(
        records,
        [
            rec(196, 242, 3.0, 881_250_949),
            rec(186, 302, 3.0, 891_717_742),
            rec(22, 377, 1.0, 878_887_116)
        ]
    );
    // Seek to the second record's position and read on: no header to skip.
    let mut s = build_source(&spec, 0, 1).expect("open");
    s.poll_batch(1).expect("first");
    let at = s.position();
    let rest = drain(s.as_mut(), &spec.schema, 5).expect("rest");
    s.seek(at).expect("seek");
    assert_eq!(drain(s.as_mut(), &spec.schema, 5).expect("again"), rest);
}

#[test]
fn tsv_errors_name_the_line_and_the_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&[u8], &str); 3] = [
        (
            b"1\t2\t3\t4\n1\t2\t3\n",
            "line 2: expected 4 fields (as the source's columns name), found 3",
        ),
        (
            b"1,2,3,4\n",
            "line 1: expected 4 fields (as the source's columns name), found 1",
        ),
        (
            b"1\t2\t3\t9000000000000000\n",
            "line 1: column \"timestamp\" (event time): 9000000000000000 s is outside the valid \
             range, -8640000000000000 to 8640000000000000 ms since the epoch",
        ),
    ];
    for (text, reason) in cases {
        let path = write(&dir, "u.data", text);
        let spec = movielens(&path);
        let mut s = build_source(&spec, 0, 1).expect("open");
        let e = drain(s.as_mut(), &spec.schema, 10).expect_err("malformed");
        assert_eq!(e, format!("{} {reason}", path.display()));
    }
}

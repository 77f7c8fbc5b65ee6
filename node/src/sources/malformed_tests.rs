//! Malformed and extreme values at the file sources: non-finite numbers, event times outside
//! the valid range, whole numbers written as decimals, duplicate fields and byte-order marks.
//! Each malformed record follows `bad_records`: it fails the job naming file, line, column and
//! the value as written, or is skipped and counted, leaving nothing of it in the batch.

use super::build_source;
use super::file_tests::{drain, read, read_as, read_with, rec, records_of, schema, spec, write};
use crate::operator::SourcePosition;
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::{BadRecords, FileFormat};
use quiver_protocol::{Record, Schema, Value, ValueType};

#[test]
fn event_times_outside_the_valid_range_are_malformed_records() {
    // The valid range is ±8.64e15 ms (ECMAScript's time values), bounds included.
    let (lo, hi) = (-8_640_000_000_000_000_i64, 8_640_000_000_000_000_i64);
    let times = [lo, hi, lo - 1, hi + 1, i64::MIN, i64::MAX, 0];
    let reason = |t: i64| {
        format!(
            "column \"ts\" (event time): {t} is outside the valid range, -8640000000000000 to \
             8640000000000000 ms since the epoch"
        )
    };
    for format in [FileFormat::Csv, FileFormat::Jsonl] {
        let text = match format {
            FileFormat::Jsonl => times
                .iter()
                .map(|t| format!("{{\"user\":\"a\",\"amount\":1,\"ts\":{t},\"ok\":true}}\n"))
                .collect(),
            _ => {
                let rows: String = times.iter().map(|t| format!("a,1,{t},true\n")).collect();
                format!("user,amount,ts,ok\n{rows}")
            }
        };
        let (records, skipped, _) = read(format, &text, BadRecords::Skip);
        let kept = [lo, hi, 0].map(|t| rec("a", Some(1.0), t, Some(true)));
        assert_eq!(records.expect("read"), kept, "{format:?}");
        assert_eq!(skipped, 4, "{format:?}");
        // Line 1 is the CSV header.
        let first_bad = if format == FileFormat::Csv { 4 } else { 3 };
        let (result, _, path) = read(format, &text, BadRecords::Fail);
        assert_eq!(
            result,
            Err(format!(
                "{} line {first_bad}: {}",
                path.display(),
                reason(lo - 1)
            )),
            "{format:?}"
        );
    }
}

#[test]
fn csv_non_finite_f64_values_are_malformed_records() {
    let header = "user,amount,ts,ok\n";
    for text in [
        "NaN",
        "nan",
        "inf",
        "-inf",
        "+inf",
        "infinity",
        "-Infinity",
        "1e400",
        "-1e400",
        " NaN ",
    ] {
        let (result, _, path) = read(
            FileFormat::Csv,
            &format!("{header}a,1,1,true\nb,{text},2,true\n"),
            BadRecords::Fail,
        );
        assert_eq!(
            result,
            Err(format!(
                "{} line 3: column \"amount\": {text:?} is not a finite f64",
                path.display()
            ))
        );
    }
    let text = format!("{header}a,NaN,1,true\nb,1e-400,2,true\nc,inf,3,true\nd,-0,4,true\n");
    let (records, skipped, _) = read(FileFormat::Csv, &text, BadRecords::Skip);
    let records = records.expect("read");
    assert_eq!(
        records,
        vec![
            rec("b", Some(0.0), 2, Some(true)),
            rec("d", Some(-0.0), 4, Some(true))
        ],
        "1e-400 underflows to 0, which is finite"
    );
    assert_eq!(skipped, 2);
}

/// `n i64, x f64, d vector, s sparse_vector`, no event time: every numeric shape JSON lines
/// can hold.
fn numbers() -> Schema {
    Schema::new([
        ("n", ValueType::I64),
        ("x", ValueType::F64),
        ("d", ValueType::Dense),
        ("s", ValueType::Sparse),
    ])
}

/// A record of [`numbers`] with only `n` set.
fn n(value: i64) -> Record {
    Record {
        event_time: 0,
        row: vec![Value::I64(value), Value::Null, Value::Null, Value::Null],
    }
}

/// Reads JSON lines of [`numbers`]; asserts the first bad line fails with `reason` and, with
/// `bad_records = "skip"`, that it is skipped.
fn assert_malformed(line: &str, reason: &str) {
    let text = format!("{{\"n\":1}}\n{line}\n{{\"n\":2}}\n");
    let (result, _, path) = read_as(numbers(), FileFormat::Jsonl, &text, BadRecords::Fail);
    assert_eq!(
        result,
        Err(format!("{} line 2: {reason}", path.display())),
        "{line}"
    );
    let (records, skipped, _) = read_as(numbers(), FileFormat::Jsonl, &text, BadRecords::Skip);
    assert_eq!(records, Ok(vec![n(1), n(2)]), "{line}");
    assert_eq!(skipped, 1, "{line}");
}

#[test]
fn jsonl_non_finite_numbers_are_malformed_records() {
    // 1e400 is valid JSON that overflows an f64.
    assert_malformed(r#"{"x":1e400}"#, r#"column "x": 1e400 is not a finite f64"#);
    assert_malformed(
        r#"{"x":-1e400}"#,
        r#"column "x": -1e400 is not a finite f64"#,
    );
    assert_malformed(
        r#"{"d":[1,1e400]}"#,
        r#"column "d": 1e400 is not a finite f64"#,
    );
    assert_malformed(
        r#"{"s":{"dim":2,"indices":[0,1],"values":[1,-1E400]}}"#,
        r#"column "s": -1E400 is not a finite f64"#,
    );
    assert_malformed(
        r#"{"s":{"dim":2,"indices":[0],"values":[null]}}"#,
        r#"column "s": a null element is not a f64"#,
    );
    // NaN and Infinity are not JSON at all.
    assert_malformed(r#"{"x":NaN}"#, "invalid JSON at column 6: expected value");
    assert_malformed(
        r#"{"x":-Infinity}"#,
        "invalid JSON at column 7: invalid number",
    );
    assert_malformed(r#"{"d":[NaN]}"#, "invalid JSON at column 7: expected value");
    // The largest finite f64 and an underflow to 0 are finite.
    let text = concat!(
        r#"{"x":1.7976931348623157e308,"d":[-0.0,1e-400],"#,
        r#""s":{"dim":3,"indices":[2],"values":[2.5]}}"#
    );
    let (records, _, _) = read_as(numbers(), FileFormat::Jsonl, text, BadRecords::Fail);
    assert_eq!(
        records.expect("read")[0].row,
        vec![
            Value::Null,
            Value::F64(f64::MAX),
            Value::Dense(vec![0.0, 0.0].into()),
            Value::Sparse(std::sync::Arc::new(quiver_protocol::SparseVector {
                dim: 3,
                indices: vec![2],
                values: vec![2.5],
            })),
        ]
    );
}

#[test]
fn jsonl_sparse_vectors_breaking_their_invariants_are_malformed_records() {
    // Each would index past a model's weights or pair values with the wrong index.
    assert_malformed(
        r#"{"s":{"dim":3,"indices":[0,1],"values":[1.0]}}"#,
        r#"column "s": a sparse vector has 2 indices but 1 values"#,
    );
    assert_malformed(
        r#"{"s":{"dim":3,"indices":[3],"values":[1.0]}}"#,
        r#"column "s": sparse vector index 3 is not below its dim 3"#,
    );
    assert_malformed(
        r#"{"s":{"dim":3,"indices":[2,1],"values":[1.0,2.0]}}"#,
        r#"column "s": sparse vector indices must increase: 2 then 1"#,
    );
    assert_malformed(
        r#"{"s":{"dim":3,"indices":[1,1],"values":[1.0,2.0]}}"#,
        r#"column "s": sparse vector indices must increase: 1 then 1"#,
    );
}

#[test]
fn jsonl_whole_numbers_written_as_decimals_fill_i64_columns_exactly() {
    let whole = [
        ("1.0", 1),
        ("-3e2", -300),
        ("1E+2", 100),
        ("10e-1", 1),
        ("-0.0", 0),
        ("0e99999999999999999999", 0),
        // Above 2^53: a detour through f64 would give 9007199254740992.
        ("9007199254740993.0", 9_007_199_254_740_993),
        ("922337203685477580.7e1", i64::MAX),
        ("-9223372036854775808.000", i64::MIN),
        ("12345", 12_345),
    ];
    let text: String = whole
        .iter()
        .map(|(t, _)| format!("{{\"n\":{t}}}\n"))
        .collect();
    let (records, _, _) = read_as(numbers(), FileFormat::Jsonl, &text, BadRecords::Fail);
    assert_eq!(records, Ok(whole.iter().map(|&(_, v)| n(v)).collect()));
    for written in [
        "1.5",
        "-2.5e0",
        "1e-2",
        "1e300",
        "9223372036854775808.0",
        "-9223372036854775809",
        "1e99999999999999999999",
        "1e-99999999999999999999",
    ] {
        assert_malformed(
            &format!("{{\"n\":{written}}}"),
            &format!("column \"n\": {written} is not an i64"),
        );
    }
}

#[test]
fn jsonl_schema_column_twice_in_one_object_is_malformed() {
    assert_malformed(r#"{"n":1,"x":2,"n":3}"#, r#"column "n" appears twice"#);
    assert_malformed(r#"{"x":null,"x":1.5}"#, r#"column "x" appears twice"#);
    let text = "{\"n\":7,\"other\":1,\"other\":2}\n";
    let (records, _, _) = read_as(numbers(), FileFormat::Jsonl, text, BadRecords::Fail);
    assert_eq!(
        records,
        Ok(vec![n(7)]),
        "fields outside the schema may repeat: they are ignored"
    );
}

#[test]
fn jsonl_file_starting_with_a_utf8_bom_is_read() {
    for text in [
        "\u{feff}{\"n\":1}\n{\"n\":2}\n",
        "\u{feff}\n{\"n\":1}\n{\"n\":2}\n",
    ] {
        let (records, _, _) = read_as(numbers(), FileFormat::Jsonl, text, BadRecords::Fail);
        assert_eq!(records, Ok(vec![n(1), n(2)]), "{text:?}");
    }
    // Only the file's first bytes may be a BOM.
    assert_malformed(
        "\u{feff}{\"n\":3}",
        "invalid JSON at column 1: expected value",
    );
}

/// Reads `text` in one batch with `bad_records = "skip"`: the batch and the records skipped.
fn one_batch(schema: Schema, format: FileFormat, text: &str) -> (Batch, u64) {
    let (batch, skipped, _) = read_with(schema, format, text, BadRecords::Skip, |s, _| {
        s.poll_batch(100).expect("poll").expect("a batch")
    });
    (batch.expect("open"), skipped)
}

#[test]
fn a_record_malformed_after_some_of_its_values_leaves_none_of_them_in_the_batch() {
    // Each bad record fails after values of it were read: at its last field, at its event
    // time, after its closing brace; the nulls of the bad records leave no validity bitmap.
    let csv = concat!(
        "user,amount,ts,ok\n",
        "a,1,1,true\n",
        "b,,2,maybe\n",
        "c,,1e3,true\n",
        "d,3,9999999999999999999,true\n",
        "e,4,4,false\n",
    );
    let jsonl = concat!(
        "{\"user\":\"a\",\"amount\":1,\"ts\":1,\"ok\":true}\n",
        "{\"user\":\"b\",\"amount\":null,\"ok\":false,\"ts\":\"2\"}\n",
        "{\"user\":\"c\",\"amount\":null,\"ts\":-8640000000000001,\"ok\":true}\n",
        "{\"user\":\"d\",\"amount\":null,\"ts\":3,\"ok\":true} 5\n",
        "{\"user\":\"e\",\"amount\":4,\"ts\":4,\"ok\":false,\"user\":\"e\"}\n",
        "{\"user\":\"e\",\"amount\":4,\"ts\":4,\"ok\":false}\n",
    );
    for (format, text, skipped) in [(FileFormat::Csv, csv, 3), (FileFormat::Jsonl, jsonl, 4)] {
        let (batch, n) = one_batch(schema(), format, text);
        assert_eq!(n, skipped, "{format:?}");
        assert_eq!(
            records_of(&schema(), &batch),
            vec![
                rec("a", Some(1.0), 1, Some(true)),
                rec("e", Some(4.0), 4, Some(false))
            ],
            "{format:?}"
        );
        assert!(
            batch.columns().iter().all(|c| c.nulls.is_none()),
            "{format:?}: no null is left, nor its bitmap"
        );
    }
    let vectors = concat!(
        "{\"n\":1,\"d\":[1,2],\"s\":{\"dim\":2,\"indices\":[1],\"values\":[1]}}\n",
        "{\"n\":2,\"s\":{\"dim\":4,\"indices\":[0,3],\"values\":[1,2]},\"d\":[3,4,null]}\n",
        "{\"d\":[5],\"s\":{\"dim\":4,\"indices\":[0],\"values\":[1]},\"n\":2.5}\n",
        "{\"n\":3,\"d\":[6],\"s\":null}\n",
    );
    let (batch, skipped) = one_batch(numbers(), FileFormat::Jsonl, vectors);
    assert_eq!(skipped, 2);
    let sparse = |dim, indices: &[u32], values: &[f64]| {
        Value::Sparse(std::sync::Arc::new(quiver_protocol::SparseVector {
            dim,
            indices: indices.to_vec(),
            values: values.to_vec(),
        }))
    };
    assert_eq!(
        records_of(&numbers(), &batch)
            .into_iter()
            .map(|r| r.row)
            .collect::<Vec<_>>(),
        vec![
            vec![
                Value::I64(1),
                Value::Null,
                Value::Dense(vec![1.0, 2.0].into()),
                sparse(2, &[1], &[1.0]),
            ],
            vec![
                Value::I64(3),
                Value::Null,
                Value::Dense(vec![6.0].into()),
                Value::Null
            ],
        ]
    );
}

#[test]
fn a_failed_read_leaves_no_record_for_the_next() {
    let text = "user,amount,ts,ok\na,1,1,true\nb,x,2,true\nc,3,3,true\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(&dir, "events.csv", text.as_bytes());
    let mut source =
        build_source(&spec(&path, FileFormat::Csv, BadRecords::Fail), 0, 1).expect("open");
    let e = source.poll_batch(10).expect_err("line 3");
    assert!(
        e.to_string()
            .ends_with("line 3: column \"amount\": \"x\" is not a f64"),
        "{e}"
    );
    source
        .seek(SourcePosition::File {
            offset: text.find("c,").expect("c") as u64,
            line: 4,
        })
        .expect("seek");
    assert_eq!(
        drain(source.as_mut(), &schema(), 10),
        Ok(vec![rec("c", Some(3.0), 3, Some(true))]),
        "record a, read before the failure, is not emitted"
    );
}

#[test]
fn csv_column_named_twice_in_the_header_is_filled_from_its_last_field() {
    let header = "user,amount,ts,ok,amount\n";
    let (records, _, _) = read(
        FileFormat::Csv,
        &format!("{header}a,1,1,true,2\n"),
        BadRecords::Fail,
    );
    assert_eq!(records, Ok(vec![rec("a", Some(2.0), 1, Some(true))]));
    let (result, _, path) = read(
        FileFormat::Csv,
        &format!("{header}a,x,1,true,2\n"),
        BadRecords::Fail,
    );
    assert_eq!(
        result,
        Err(format!(
            "{} line 2: column \"amount\": \"x\" is not a f64",
            path.display()
        )),
        "the first field is read too"
    );
}

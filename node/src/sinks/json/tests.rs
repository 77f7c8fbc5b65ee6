use super::*;
use quiver_protocol::batch::from_records;
use quiver_protocol::{Record, SparseVector, Value, ValueType};
use std::sync::Arc;

/// A batch of `schema` holding `rows`.
fn batch(schema: &Schema, rows: &[&[Value]]) -> Batch {
    let records: Vec<Record> = rows
        .iter()
        .map(|row| Record {
            event_time: 0,
            row: row.to_vec(),
        })
        .collect();
    from_records(schema, &records).expect("rows of the schema")
}

/// `row` (a row of `schema`, nulls at the end left out) as its JSON object.
fn encode(schema: &Schema, row: &[Value]) -> String {
    let mut buf = Vec::new();
    JsonEncoder::new(schema).encode(&batch(schema, &[row]), 0, &mut buf);
    String::from_utf8(buf).expect("utf-8")
}

#[test]
fn strings_are_escaped_per_json() {
    let schema = Schema::new([("s", ValueType::Str), ("we\"ird\n", ValueType::Str)]);
    let tricky = "q\"b\\s/n\nr\rt\tb\u{8}f\u{c}z\u{0}u\u{1f}é😀";
    let text = encode(&schema, &[Value::from(tricky), Value::from("")]);
    assert_eq!(
        text,
        r#"{"s":"q\"b\\s/n\nr\rt\tb\bf\fz\u0000u\u001fé😀","we\"ird\n":""}"#
    );
    let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(back["s"], tricky);
    assert_eq!(back["we\"ird\n"], "");
}

#[test]
fn floats_round_trip_and_non_finite_is_null() {
    let schema = Schema::new([("x", ValueType::F64)]);
    for x in [
        0.1,
        1.0,
        -0.0,
        1e300,
        5e-324,
        123456.789,
        -2.5e-7,
        f64::MAX,
        1e16,
    ] {
        let text = encode(&schema, &[Value::F64(x)]);
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let y = back["x"].as_f64().expect("a number");
        assert_eq!(y.to_bits(), x.to_bits(), "{x} written as {text}");
    }
    assert_eq!(encode(&schema, &[Value::F64(1.0)]), r#"{"x":1.0}"#);
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(encode(&schema, &[Value::F64(x)]), r#"{"x":null}"#);
    }
}

#[test]
fn integers_are_written_as_rust_displays_them() {
    let schema = Schema::new([("n", ValueType::I64)]);
    for n in [
        0,
        1,
        -1,
        9,
        -10,
        1 << 53,
        i64::MAX,
        i64::MIN,
        -1_234_567_890_123,
    ] {
        assert_eq!(encode(&schema, &[Value::I64(n)]), format!("{{\"n\":{n}}}"));
    }
}

#[test]
fn every_value_type() {
    let schema = Schema::new([
        ("n", ValueType::I64),
        ("b", ValueType::Bool),
        ("z", ValueType::Str),
        ("d", ValueType::Dense),
        ("s", ValueType::Sparse),
        ("missing", ValueType::I64),
    ]);
    let row = [
        Value::I64(i64::MIN),
        Value::Bool(true),
        Value::Null,
        Value::Dense(Arc::from(vec![1.5, f64::NAN, -3.0])),
        Value::Sparse(Arc::new(SparseVector {
            dim: 10,
            indices: vec![1, 7],
            values: vec![0.5, 2.0],
        })),
    ];
    assert_eq!(
        encode(&schema, &row),
        r#"{"n":-9223372036854775808,"b":true,"z":null,"d":[1.5,null,-3.0],"s":{"dim":10,"indices":[1,7],"values":[0.5,2.0]},"missing":null}"#
    );
    assert_eq!(encode(&Schema::default(), &[]), "{}");
}

#[test]
fn each_row_reads_its_own_values_and_nulls() {
    let schema = Schema::new([
        ("n", ValueType::I64),
        ("s", ValueType::Str),
        ("d", ValueType::Dense),
    ]);
    let dense = |v: &[f64]| Value::Dense(Arc::from(v));
    let rows: [&[Value]; 3] = [
        &[Value::I64(1), Value::from("a"), dense(&[])],
        &[Value::Null, Value::from("\"b\""), Value::Null],
        &[Value::I64(-3), Value::Null, dense(&[0.5, 2.0])],
    ];
    let mut buf = Vec::new();
    JsonEncoder::new(&schema).encode_lines(&batch(&schema, &rows), &mut buf);
    assert_eq!(
        String::from_utf8(buf).expect("utf-8"),
        concat!(
            "{\"n\":1,\"s\":\"a\",\"d\":[]}\n",
            "{\"n\":null,\"s\":\"\\\"b\\\"\",\"d\":null}\n",
            "{\"n\":-3,\"s\":null,\"d\":[0.5,2.0]}\n",
        )
    );
}

#[test]
fn a_batch_with_fewer_columns_than_the_schema_writes_null_for_the_rest() {
    let schema = Schema::new([("n", ValueType::I64), ("x", ValueType::F64)]);
    let short = Batch::try_new(vec![0, 0], vec![Column::i64(vec![4, 5])]).expect("batch");
    let mut buf = Vec::new();
    JsonEncoder::new(&schema).encode_lines(&short, &mut buf);
    assert_eq!(
        String::from_utf8(buf).expect("utf-8"),
        "{\"n\":4,\"x\":null}\n{\"n\":5,\"x\":null}\n"
    );
}

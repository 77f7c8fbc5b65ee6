use super::*;
use quiver_protocol::{SparseVector, ValueType};
use std::sync::Arc;

fn encode(schema: &Schema, row: &[Value]) -> String {
    let mut buf = Vec::new();
    JsonEncoder::new(schema).encode(row, &mut buf);
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

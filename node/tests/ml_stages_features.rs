//! The feature stages: the scaler scales each row with the rows before it, then learns it
//! (naive recomputation of the running mean and sample deviation), the hasher matches Flink ML's reference indices, the
//! assembler concatenates, one-hot numbers categories in order of first appearance within
//! `max_categories` and keeps them across a snapshot and a rescale.

#[allow(dead_code)]
#[path = "ml_stages/support.rs"]
mod support;

use quiver_node::ml_stages;
use quiver_protocol::spec::{StageKind, VectorAssemblerStage};
use quiver_protocol::PartitionId;
use quiver_protocol::{Row, SparseVector, Value, ValueType};
use std::sync::Arc;
use support::{build, build_kind, dense, run, stage_spec};

fn sparse(dim: u32, indices: &[u32], values: &[f64]) -> Value {
    Value::Sparse(Arc::new(SparseVector {
        dim,
        indices: indices.to_vec(),
        values: values.to_vec(),
    }))
}

fn assert_close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn scaler_scales_each_row_with_the_rows_before_it_then_learns_it() {
    let data = [[2.0, 10.0], [4.0, 0.0], [9.0, 5.0], [1.0, -3.0], [5.0, 8.0]];
    let rows: Vec<Row> = data
        .iter()
        .map(|[a, b]| vec![Value::F64(*a), Value::I64(*b as i64)])
        .collect();
    let table =
        "kind = \"standard_scaler\"\ncolumns = [\"a\", \"b\"]\noutput = \"f\"\nwith_mean = true";
    let out = run(&mut *build(r#"{ a = "f64", b = "i64" }"#, table), &rows, 2);
    for (n, row) in out.iter().enumerate() {
        // The first row has no rows before it: it is learnt first.
        let seen = &data[..n.max(1)];
        let Value::Dense(scaled) = &row[2] else {
            panic!("a dense vector")
        };
        let expected: Vec<f64> = (0..2)
            .map(|d| {
                let mean = seen.iter().map(|r| r[d]).sum::<f64>() / seen.len() as f64;
                let var = seen.iter().map(|r| (r[d] - mean).powi(2)).sum::<f64>()
                    / (seen.len() as f64 - 1.0);
                if seen.len() < 2 {
                    0.0 // one row: no deviation yet
                } else {
                    (data[n][d] - mean) / var.sqrt()
                }
            })
            .collect();
        assert_close(scaled, &expected);
    }
}

#[test]
fn scaler_gives_a_null_vector_for_a_null_feature_and_does_not_learn_it() {
    let rows = vec![
        vec![Value::F64(1.0)],
        vec![Value::F64(5.0)],
        vec![Value::Null],
        vec![Value::F64(3.0)],
    ];
    let table = "kind = \"standard_scaler\"\ncolumns = [\"a\"]\noutput = \"f\"";
    let out = run(&mut *build(r#"{ a = "f64" }"#, table), &rows, 4);
    assert_eq!(out[2][1], Value::Null);
    // Two rows learnt before the last (1 and 5): sample deviation √8; with_std only: 3 / √8.
    assert_eq!(out[3][1], dense(&[3.0 / 8f64.sqrt()]));
}

#[test]
fn hasher_matches_flink_reference_indices() {
    let rows = vec![
        vec![Value::from("a"), Value::F64(1.0), Value::Bool(true)],
        vec![Value::from("c"), Value::F64(1.0), Value::Bool(false)],
        vec![Value::from("a"), Value::Null, Value::Bool(true)],
    ];
    let table = "kind = \"feature_hasher\"\ncolumns = [\"f0\", \"f1\", \"f2\"]\nnum_features = 1000\noutput = \"h\"";
    let out = run(
        &mut *build(r#"{ f0 = "string", f1 = "f64", f2 = "bool" }"#, table),
        &rows,
        2,
    );
    // Flink ML's FeatureHasherTest: h("f0=a") = 607, h("f2=true") = 635, h("f1") = 913, ...
    assert_eq!(out[0][3], sparse(1000, &[607, 635, 913], &[1.0; 3]));
    assert_eq!(out[1][3], sparse(1000, &[242, 869, 913], &[1.0; 3]));
    // A null value is skipped.
    assert_eq!(out[2][3], sparse(1000, &[607, 635], &[1.0; 2]));
}

#[test]
fn assembler_concatenates_numbers_and_vectors_in_order() {
    let rows = vec![
        vec![
            Value::F64(1.5),
            dense(&[2.0, 3.0]),
            sparse(3, &[1], &[7.0]),
            Value::Bool(true),
        ],
        vec![
            Value::F64(4.0),
            Value::Null,
            sparse(3, &[], &[]),
            Value::Bool(false),
        ],
    ];
    let kind = StageKind::VectorAssembler(VectorAssemblerStage {
        columns: ["a", "v", "s", "b"].map(String::from).to_vec(),
        output: "out".to_string(),
    });
    let input = [
        ("a", ValueType::F64),
        ("v", ValueType::Dense),
        ("s", ValueType::Sparse),
        ("b", ValueType::Bool),
    ];
    let out = run(&mut *build_kind(kind, &input), &rows, 2);
    assert_eq!(out[0][4], dense(&[1.5, 2.0, 3.0, 0.0, 7.0, 0.0, 1.0]));
    assert_eq!(out[1][4], Value::Null);
}

#[test]
fn one_hot_numbers_categories_by_first_appearance_within_max_categories() {
    let rows: Vec<Row> = ["b", "a", "b", "", "c", "d", "a"]
        .iter()
        .map(|s| {
            vec![if s.is_empty() {
                Value::Null
            } else {
                Value::from(*s)
            }]
        })
        .collect();
    let table = "kind = \"one_hot\"\ncolumn = \"c\"\nmax_categories = 3\noutput = \"o\"";
    let mut op = build(r#"{ c = "string" }"#, table);
    let out = run(&mut *op, &rows, 3);
    let encoded: Vec<Value> = out.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        encoded,
        [
            sparse(3, &[0], &[1.0]),
            sparse(3, &[1], &[1.0]),
            sparse(3, &[0], &[1.0]),
            Value::Null,
            sparse(3, &[2], &[1.0]),
            sparse(3, &[], &[]), // a fourth category: no room, all zeros
            sparse(3, &[1], &[1.0]),
        ]
    );
    // The categories survive a snapshot.
    let state = op.snapshot().unwrap();
    let mut restored = build(r#"{ c = "string" }"#, table);
    restored.restore(state.into()).unwrap();
    let later = run(
        &mut *restored,
        &[vec![Value::from("c")], vec![Value::from("e")]],
        2,
    );
    assert_eq!(later[0][1], sparse(3, &[2], &[1.0]));
    assert_eq!(later[1][1], sparse(3, &[], &[]));
}

#[test]
fn one_hot_of_i64_ids() {
    let rows: Vec<Row> = [40, 7, 40, i64::MAX]
        .iter()
        .map(|x| vec![Value::I64(*x)])
        .collect();
    let table = "kind = \"one_hot\"\ncolumn = \"c\"\noutput = \"o\"";
    let out = run(&mut *build(r#"{ c = "i64" }"#, table), &rows, 4);
    let indices: Vec<Value> = out.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        indices,
        [
            sparse(1024, &[0], &[1.0]),
            sparse(1024, &[1], &[1.0]),
            sparse(1024, &[0], &[1.0]),
            sparse(1024, &[2], &[1.0]),
        ]
    );
}

#[test]
fn one_hot_restored_at_another_parallelism_continues_the_lowest_key_group_it_received() {
    let table = "kind = \"one_hot\"\ncolumn = \"c\"\nmax_categories = 4\noutput = \"o\"";
    let (stage4, input) = stage_spec(r#"{ c = "string" }"#, table, 4);
    let strings = |s: &[&str]| -> Vec<Row> { s.iter().map(|s| vec![Value::from(*s)]).collect() };
    // Old partitions 2 and 3 of 4 (key groups 64 and 96) numbered other categories.
    let mut old2 = ml_stages::build(&stage4, &input, &support::CONTEXT, PartitionId(2)).unwrap();
    let mut old3 = ml_stages::build(&stage4, &input, &support::CONTEXT, PartitionId(3)).unwrap();
    run(&mut *old2, &strings(&["a", "b"]), 2);
    run(&mut *old3, &strings(&["c"]), 2);
    let mut states = old3.snapshot().unwrap();
    states.extend(old2.snapshot().unwrap());
    // Partition 1 of 2 (key groups 64..128) continues partition 2's numbering.
    let (stage2, _) = stage_spec(r#"{ c = "string" }"#, table, 2);
    let mut new1 = ml_stages::build(&stage2, &input, &support::CONTEXT, PartitionId(1)).unwrap();
    new1.restore(states.into()).unwrap();
    let out = run(&mut *new1, &strings(&["c", "b", "a"]), 3);
    let encoded: Vec<Value> = out.iter().map(|r| r[1].clone()).collect();
    assert_eq!(
        encoded,
        [
            sparse(4, &[2], &[1.0]),
            sparse(4, &[1], &[1.0]),
            sparse(4, &[0], &[1.0]),
        ]
    );
}

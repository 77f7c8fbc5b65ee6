//! The columnar batch wire format (`quiver_columns::wire`): what every data frame between
//! nodes carries.
//!
//! Properties: no panic; no count is allocated for before it is checked against the limits
//! and the bytes left; a batch that decodes encodes again (frame of reference or plain) to
//! bytes that decode to a batch with the same encoding, and decodes again when the receiver
//! expects exactly its column types.

use quiver_protocol::batch::{self, wire, Batch, ColumnType};
use quiver_protocol::{Record, Schema, SparseVector, Value, ValueType};
use std::sync::Arc;

/// Checks one input: one frame payload.
pub fn check(data: &[u8]) {
    let limits = wire::Limits::default();
    let Ok(batch) = wire::decode(data, &limits, None) else {
        return;
    };
    let types: Vec<ColumnType> = batch.columns().iter().map(|c| c.ty()).collect();
    wire::decode(data, &limits, Some(&types)).expect("a frame decodes with its own types");
    for frame_of_reference in [true, false] {
        let again = encode(&batch, frame_of_reference);
        let back = wire::decode(&again, &limits, Some(&types)).expect("an encoding decodes");
        assert_eq!(
            encode(&back, frame_of_reference),
            again,
            "a batch changed on a round trip"
        );
    }
}

fn encode(batch: &Batch, frame_of_reference: bool) -> Vec<u8> {
    let mut out = Vec::new();
    wire::encode_with(batch, &mut out, frame_of_reference);
    out
}

/// Batches of every column type, with and without nulls, in both integer encodings.
pub fn seeds() -> Vec<Vec<u8>> {
    let schema = Schema::new([
        ("user", ValueType::I64),
        ("amount", ValueType::F64),
        ("ok", ValueType::Bool),
        ("name", ValueType::Str),
        ("features", ValueType::Dense),
        ("sparse", ValueType::Sparse),
    ]);
    let sparse = Value::Sparse(Arc::new(SparseVector {
        dim: 8,
        indices: vec![1, 6],
        values: vec![0.5, -2.0],
    }));
    let records = vec![
        Record {
            event_time: 1_700_000_000_000,
            row: vec![
                Value::I64(42),
                Value::F64(9.5),
                Value::Bool(true),
                Value::from("ünïcode"),
                Value::Dense(Arc::from(&[1.0, 2.0, 3.0][..])),
                sparse,
            ],
        },
        Record {
            event_time: 1_700_000_000_007,
            row: vec![
                Value::I64(-7),
                Value::Null,
                Value::Bool(false),
                Value::from(""),
            ],
        },
    ];
    let full = batch::from_records(&schema, &records).expect("the records fit the schema");
    let narrow = Schema::new([("n", ValueType::I64)]);
    let counts: Vec<Record> = (0..40)
        .map(|i| Record {
            event_time: 1000 + i,
            row: vec![Value::I64(i * 3)],
        })
        .collect();
    let counts = batch::from_records(&narrow, &counts).expect("fits");
    let empty = batch::from_records(&narrow, &[]).expect("fits");
    vec![
        encode(&full, true),
        encode(&full, false),
        encode(&counts, true),
        encode(&empty, true),
    ]
}

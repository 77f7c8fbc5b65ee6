//! The codec: exact bytes of known messages, framing, hostile and broken input, and property
//! tests (round trips, random bytes never panic). The sample message has the shape the stream
//! elements had when they were bincode; the elements' own frames (a columnar batch or a
//! bincode control element) are tested at the end.

use proptest::prelude::*;
use quiver_protocol::batch::{self, ColumnType};
use quiver_protocol::codec::{
    decode, encode, encode_into, read_frame, seal_frame, start_frame, write_frame, CodecError,
    MAX_FRAME_BYTES,
};
use quiver_protocol::{
    Barrier, CheckpointId, Generation, Record, Schema, SparseVector, Value, ValueType,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A message of every shape the codec meets: enum variants with data, nested vectors,
/// strings, floats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum StreamElement {
    Records(Vec<Record>),
    Watermark(i64),
    Idle,
    Barrier(Barrier),
    End,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("test runtime")
        .block_on(f)
}

#[test]
fn known_messages_have_the_standard_varint_encoding() {
    // Enum variant index as varint, then i64 zig-zag varint: 5 -> 10.
    assert_eq!(encode(&StreamElement::Watermark(5)).unwrap(), vec![1, 10]);
    // -1 zig-zags to 1.
    assert_eq!(encode(&StreamElement::Watermark(-1)).unwrap(), vec![1, 1]);
    // Variant 3 with two u64 fields; 300 needs the 0xFB u16 marker (varint > 250).
    let barrier = StreamElement::Barrier(Barrier {
        checkpoint: CheckpointId(7),
        generation: Generation(300),
        serving: 0,
    });
    assert_eq!(encode(&barrier).unwrap(), vec![3, 7, 0xFB, 0x2C, 0x01, 0]);
    // Records: variant 0, one record: event time 2 (zig-zag 4), a row of one I64(3) (variant 2,
    // zig-zag 6).
    let records = StreamElement::Records(vec![Record {
        event_time: 2,
        row: vec![Value::I64(3)],
    }]);
    assert_eq!(encode(&records).unwrap(), vec![0, 1, 4, 1, 2, 6]);
}

#[test]
fn encode_into_appends_to_what_the_buffer_held() {
    let mut buf = vec![0xAA];
    encode_into(&StreamElement::End, &mut buf).unwrap();
    encode_into(&StreamElement::Idle, &mut buf).unwrap();
    assert_eq!(buf, vec![0xAA, 4, 2]);
}

#[test]
fn trailing_bytes_are_refused() {
    let err = decode::<StreamElement>(&[1, 10, 0]).unwrap_err();
    assert!(
        matches!(&err, CodecError::Malformed { reason } if reason.contains("1 trailing")),
        "{err}"
    );
}

#[test]
fn a_hostile_length_inside_a_small_frame_is_refused_without_allocating() {
    // Records with a claimed length of 2^60 elements (0xFD marks a u64 varint).
    let mut bytes = vec![0, 0xFD];
    bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(
        decode::<StreamElement>(&bytes),
        Err(CodecError::Malformed { .. })
    ));
    // A string claiming 1 GiB.
    let mut bytes = vec![0, 1, 0, 1, 4, 0xFC];
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    assert!(matches!(
        decode::<StreamElement>(&bytes),
        Err(CodecError::Malformed { .. })
    ));
}

#[test]
fn frames_are_a_big_endian_length_and_the_payload() {
    let mut out = Vec::new();
    block_on(write_frame(&mut out, &StreamElement::Watermark(5))).unwrap();
    let start = start_frame(&mut out);
    out.push(4);
    seal_frame(&mut out, start).unwrap();
    assert_eq!(out, vec![0, 0, 0, 2, 1, 10, 0, 0, 0, 1, 4]);

    let mut r = out.as_slice();
    let a: Option<StreamElement> = block_on(read_frame(&mut r)).unwrap();
    let b: Option<StreamElement> = block_on(read_frame(&mut r)).unwrap();
    let c: Option<StreamElement> = block_on(read_frame(&mut r)).unwrap();
    assert_eq!(a, Some(StreamElement::Watermark(5)));
    assert_eq!(b, Some(StreamElement::End));
    assert_eq!(c, None, "clean end at a frame boundary");
}

#[test]
fn a_hostile_frame_length_is_refused_before_reading_the_payload() {
    // Only the prefix is there: a reader that tried to read or allocate the payload first
    // would report truncation instead.
    for prefix in [u32::MAX, (MAX_FRAME_BYTES + 1) as u32] {
        let bytes = prefix.to_be_bytes();
        let err = block_on(read_frame::<_, StreamElement>(&mut bytes.as_slice())).unwrap_err();
        assert!(
            matches!(err, CodecError::TooLarge { len, .. } if len == u64::from(prefix)),
            "{err}"
        );
    }
}

#[test]
fn truncated_frames_are_errors() {
    let err = block_on(read_frame::<_, StreamElement>(&mut [0u8, 0].as_slice())).unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::Truncated {
                expected: 4,
                got: 2
            }
        ),
        "{err}"
    );
    let err = block_on(read_frame::<_, StreamElement>(
        &mut [0u8, 0, 0, 9, 1, 2].as_slice(),
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::Truncated {
                expected: 9,
                got: 2
            }
        ),
        "{err}"
    );
}

#[test]
fn a_garbage_payload_is_malformed() {
    // Variant 200 does not exist.
    let bytes = [0u8, 0, 0, 1, 200];
    let err = block_on(read_frame::<_, StreamElement>(&mut bytes.as_slice())).unwrap_err();
    assert!(matches!(err, CodecError::Malformed { .. }), "{err}");
}

#[test]
fn oversized_messages_are_not_encoded() {
    let big = StreamElement::Records(vec![Record {
        event_time: 0,
        row: vec![Value::Str(Arc::from("x".repeat(MAX_FRAME_BYTES)))],
    }]);
    let mut buf = vec![1, 2];
    let err = encode_into(&big, &mut buf).unwrap_err();
    assert!(matches!(err, CodecError::TooLarge { .. }), "{err}");
    assert_eq!(buf, vec![1, 2], "buffer restored");
    let mut out = Vec::new();
    assert!(block_on(write_frame(&mut out, &big)).is_err());
    assert!(out.is_empty(), "nothing written");
}

fn float() -> impl Strategy<Value = f64> {
    // Every class but NaN, which is not equal to itself.
    prop::num::f64::POSITIVE
        | prop::num::f64::NEGATIVE
        | prop::num::f64::NORMAL
        | prop::num::f64::SUBNORMAL
        | prop::num::f64::ZERO
        | prop::num::f64::INFINITE
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        float().prop_map(Value::F64),
        ".{0,12}".prop_map(|s| Value::Str(Arc::from(s.as_str()))),
        prop::collection::vec(float(), 0..6).prop_map(|v| Value::Dense(Arc::from(v))),
        (
            any::<u32>(),
            prop::collection::vec((any::<u32>(), float()), 0..4)
        )
            .prop_map(|(dim, entries)| {
                let (indices, values) = entries.into_iter().unzip();
                Value::Sparse(Arc::new(SparseVector {
                    dim,
                    indices,
                    values,
                }))
            }),
    ]
}

fn element() -> impl Strategy<Value = StreamElement> {
    let record = (any::<i64>(), prop::collection::vec(value(), 0..5))
        .prop_map(|(event_time, row)| Record { event_time, row });
    prop_oneof![
        prop::collection::vec(record, 0..8).prop_map(StreamElement::Records),
        any::<i64>().prop_map(StreamElement::Watermark),
        Just(StreamElement::Idle),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(c, g, s)| {
            StreamElement::Barrier(Barrier {
                checkpoint: CheckpointId(c),
                generation: Generation(g),
                serving: s,
            })
        }),
        Just(StreamElement::End),
    ]
}

proptest! {
    #[test]
    fn stream_elements_round_trip(elements in prop::collection::vec(element(), 1..6)) {
        for el in &elements {
            prop_assert_eq!(&decode::<StreamElement>(&encode(el).unwrap()).unwrap(), el);
        }
        let mut wire = Vec::new();
        for el in &elements {
            block_on(write_frame(&mut wire, el)).unwrap();
        }
        let mut r = wire.as_slice();
        let mut back = Vec::new();
        while let Some(el) = block_on(read_frame::<_, StreamElement>(&mut r)).unwrap() {
            back.push(el);
        }
        prop_assert_eq!(back, elements);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode::<StreamElement>(&bytes);
        let _ = decode::<Vec<StreamElement>>(&bytes);
        let mut r = bytes.as_slice();
        let _ = block_on(read_frame::<_, StreamElement>(&mut r));
    }
}

/// The schema of the element tests' batches: every column type.
fn schema() -> Schema {
    Schema::new([
        ("i", ValueType::I64),
        ("f", ValueType::F64),
        ("b", ValueType::Bool),
        ("s", ValueType::Str),
        ("d", ValueType::Dense),
        ("v", ValueType::Sparse),
    ])
}

fn typed_value(ty: ValueType) -> BoxedStrategy<Value> {
    let valued = match ty {
        ValueType::I64 => any::<i64>().prop_map(Value::I64).boxed(),
        ValueType::F64 => float().prop_map(Value::F64).boxed(),
        ValueType::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        ValueType::Str => ".{0,12}"
            .prop_map(|s| Value::Str(Arc::from(s.as_str())))
            .boxed(),
        ValueType::Dense => prop::collection::vec(float(), 0..6)
            .prop_map(|v| Value::Dense(Arc::from(v)))
            .boxed(),
        ValueType::Sparse => prop::collection::btree_map(0u32..100, float(), 0..4)
            .prop_map(|entries| {
                let (indices, values) = entries.into_iter().unzip();
                Value::Sparse(Arc::new(SparseVector {
                    dim: 100,
                    indices,
                    values,
                }))
            })
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 4 => valued].boxed()
}

fn typed_records() -> impl Strategy<Value = Vec<Record>> {
    let row: Vec<_> = schema().columns.iter().map(|c| typed_value(c.ty)).collect();
    prop::collection::vec(
        (any::<i64>(), row).prop_map(|(event_time, row)| Record { event_time, row }),
        0..8,
    )
}

fn column_types() -> Vec<ColumnType> {
    batch::column_types(&schema())
}

proptest! {
    #[test]
    fn element_frames_round_trip(records in typed_records(), watermark in any::<i64>()) {
        let elements = [
            quiver_protocol::StreamElement::Records(
                batch::from_records(&schema(), &records).unwrap(),
            ),
            quiver_protocol::StreamElement::Watermark(watermark),
            quiver_protocol::StreamElement::Idle,
            quiver_protocol::StreamElement::End,
        ];
        for element in elements {
            let mut payload = Vec::new();
            element.encode_into(&mut payload).unwrap();
            let back = quiver_protocol::StreamElement::decode(&payload, &column_types()).unwrap();
            prop_assert_eq!(back, element);
        }
    }

    #[test]
    fn random_element_frames_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = quiver_protocol::StreamElement::decode(&bytes, &column_types());
        let mut tagged = vec![1u8, b'Q', b'B', 1];
        tagged.extend_from_slice(&bytes);
        let _ = quiver_protocol::StreamElement::decode(&tagged, &column_types());
    }
}

#[test]
fn a_batch_of_other_columns_than_the_stream_has_is_refused() {
    let records = vec![Record {
        event_time: 1,
        row: vec![Value::I64(3)],
    }];
    let one = Schema::new([("n", ValueType::I64)]);
    let element =
        quiver_protocol::StreamElement::Records(batch::from_records(&one, &records).unwrap());
    let mut payload = Vec::new();
    element.encode_into(&mut payload).unwrap();
    let err = quiver_protocol::StreamElement::decode(&payload, &[ColumnType::Str]).unwrap_err();
    assert!(matches!(err, CodecError::Malformed { .. }), "{err}");
    let err = quiver_protocol::StreamElement::decode(&[9], &[]).unwrap_err();
    assert!(err.to_string().contains("unknown element tag 9"), "{err}");
}

#[test]
fn frames_sealed_one_after_another_read_back_in_order_and_an_oversized_one_is_refused() {
    let mut out = Vec::new();
    for payload in [&[1u8, 2][..], &[], &[3]] {
        let start = start_frame(&mut out);
        out.extend_from_slice(payload);
        seal_frame(&mut out, start).unwrap();
    }
    assert_eq!(out, vec![0, 0, 0, 2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 3]);

    let mut big = Vec::new();
    let start = start_frame(&mut big);
    big.resize(start + 4 + MAX_FRAME_BYTES + 1, 0);
    assert!(matches!(
        seal_frame(&mut big, start),
        Err(CodecError::TooLarge { len, max }) if len == MAX_FRAME_BYTES as u64 + 1 && max == MAX_FRAME_BYTES
    ));
    assert!(matches!(
        seal_frame(&mut [0, 0, 0], 0),
        Err(CodecError::Malformed { .. })
    ));
}

use super::*;
use crate::column::{StrBuilder, Values};

fn sample() -> Batch {
    let mut s = StrBuilder::with_capacity(3, 16);
    for x in ["a", "", "héllo"] {
        s.push(x);
    }
    let nulls = Some(Bitmap::from_bools([true, false, true]));
    Batch::try_new(
        vec![10, 11, 4_000_000_000],
        vec![
            Column::i64(vec![-5, 7, 300]),
            Column {
                nulls,
                ..Column::f64(vec![1.5, 0.0, -2.25])
            },
            Column {
                data: ColumnData::Bool(Values::from(vec![true, false, true])),
                nulls: None,
            },
            Column::str(s.finish()),
            Column {
                // Vectors of different lengths: 2, 0 and 4 floats.
                data: ColumnData::Dense(DenseColumn {
                    offsets: vec![0, 2, 2, 6].into(),
                    values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0].into(),
                }),
                nulls: None,
            },
            Column {
                data: ColumnData::Sparse(SparseColumn {
                    dims: vec![10, 10, 3].into(),
                    offsets: vec![0, 2, 2, 3].into(),
                    indices: vec![1, 9, 0].into(),
                    values: vec![0.5, 1.5, 2.5].into(),
                }),
                nulls: None,
            },
            Column::i64(vec![i64::MIN, i64::MAX, 0]),
        ],
    )
    .unwrap()
}

#[test]
fn every_column_type_round_trips() {
    let b = sample();
    let mut out = Vec::new();
    encode(&b, &mut out);
    let types: Vec<_> = b.columns().iter().map(Column::ty).collect();
    assert_eq!(decode(&out, &Limits::default(), Some(&types)).unwrap(), b);
}

#[test]
fn frame_of_reference_round_trips_every_width() {
    for width in 1..8u32 {
        let span = (1u64 << (8 * width - 1)) as i64;
        let v: Vec<i64> = (0..100).map(|i| -77 + (i * 7919) % span).collect();
        let b = Batch::try_new(v.clone(), vec![Column::i64(v)]).unwrap();
        let mut out = Vec::new();
        encode(&b, &mut out);
        assert_eq!(
            decode(&out, &Limits::default(), None).unwrap(),
            b,
            "width {width}"
        );
    }
}

#[test]
fn limits_refuse_before_allocating() {
    let b = sample();
    let mut out = Vec::new();
    encode(&b, &mut out);
    let small = Limits {
        max_bytes: out.len() - 1,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&out, &small, None),
        Err(WireError::TooLarge(_))
    ));
    let few = Limits {
        max_rows: 2,
        ..Limits::default()
    };
    assert!(matches!(
        decode(&out, &few, None),
        Err(WireError::TooLarge(_))
    ));
    // A forged row count of 4G with a 10-byte frame.
    let forged = [b'Q', b'B', 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0];
    assert!(decode(
        &forged,
        &Limits {
            max_rows: u32::MAX,
            ..Limits::default()
        },
        None
    )
    .is_err());
}

#[test]
fn corrupted_frames_are_errors_not_panics() {
    let b = sample();
    let mut good = Vec::new();
    encode(&b, &mut good);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut f = good.clone();
        match next() % 3 {
            0 => f.truncate((next() as usize) % good.len()),
            _ => {
                for _ in 0..1 + next() % 4 {
                    let i = (next() as usize) % f.len();
                    f[i] = next() as u8;
                }
            }
        }
        let _ = decode(&f, &Limits::default(), None);
    }
}

#[test]
fn a_constant_or_single_row_i64_column_round_trips() {
    for v in [vec![42i64], vec![-7; 100], Vec::new()] {
        let b = Batch::try_new(v.clone(), vec![Column::i64(v)]).unwrap();
        let mut out = Vec::new();
        encode(&b, &mut out);
        assert_eq!(
            decode(&out, &Limits::default(), Some(&[ColumnType::I64])).unwrap(),
            b
        );
    }
}

#[test]
fn the_read_stamp_round_trips_and_an_unstamped_or_version_1_frame_decodes_unstamped() {
    let stamped = sample().with_read_at_us(Some(1_764_500_000_123_456));
    for b in [stamped, sample()] {
        let mut out = Vec::new();
        encode(&b, &mut out);
        let back = decode(&out, &Limits::default(), None).unwrap();
        assert_eq!(back.read_at_us(), b.read_at_us());
        assert_eq!(back, b);
    }
    // Version 1 had no read_at byte: the unstamped version-2 frame without it.
    let mut v2 = Vec::new();
    encode(&sample(), &mut v2);
    let mut v1 = v2[..9].to_vec();
    v1[2] = 1;
    v1.extend_from_slice(&v2[10..]);
    let back = decode(&v1, &Limits::default(), None).unwrap();
    assert_eq!((back.read_at_us(), back), (None, sample()));
}

#[test]
fn a_bad_read_stamp_is_refused() {
    let mut good = Vec::new();
    encode(&sample().with_read_at_us(Some(5)), &mut good);
    let mut tag = good.clone();
    tag[9] = 2;
    assert!(matches!(
        decode(&tag, &Limits::default(), None),
        Err(WireError::Malformed(m)) if m.contains("read_at tag 2")
    ));
    let mut negative = good.clone();
    negative[10..18].copy_from_slice(&(-1i64).to_le_bytes());
    assert!(matches!(
        decode(&negative, &Limits::default(), None),
        Err(WireError::Malformed(m)) if m.contains("read at -1")
    ));
}

/// A batch whose event times are its second i64 column (`ts`), after a first (`user`).
fn timed(rows: i64) -> Batch {
    let ts: Vec<i64> = (0..rows).map(|i| 1_000 + 3 * i).collect();
    let user: Vec<i64> = (0..rows).map(|i| (i * 7919) % 100).collect();
    let amount: Vec<f64> = (0..rows).map(|i| i as f64 / 4.0).collect();
    let columns = vec![
        Column::i64(user),
        Column::f64(amount),
        Column::i64(ts.clone()),
    ];
    Batch::try_new(ts, columns).unwrap()
}

/// Where a frame without a read stamp has its event times: after magic, version, rows,
/// columns and the read stamp's tag.
const EVENT_TIMES_AT: usize = 10;

#[test]
fn event_times_equal_to_a_column_travel_as_its_index() {
    let b = timed(300);
    let mut out = Vec::new();
    encode(&b, &mut out);
    assert_eq!(
        out[EVENT_TIMES_AT..EVENT_TIMES_AT + 3],
        [EVENT_TIME_COLUMN, 2, 0]
    );
    let types: Vec<_> = b.columns().iter().map(Column::ty).collect();
    assert_eq!(decode(&out, &Limits::default(), Some(&types)).unwrap(), b);
    // The times one off from `ts`: written out, at least a byte a row more.
    let shifted: Vec<i64> = b.event_time().iter().map(|t| t + 1).collect();
    let apart = Batch::try_new(shifted, b.columns().to_vec()).unwrap();
    let mut written = Vec::new();
    encode(&apart, &mut written);
    assert!(
        written.len() >= out.len() + 300,
        "{} vs {}",
        written.len(),
        out.len()
    );
    assert_eq!(decode(&written, &Limits::default(), None).unwrap(), apart);
}

#[test]
fn a_column_with_nulls_is_never_named_for_the_event_times() {
    let b = timed(5);
    let mut columns = b.columns().to_vec();
    columns[2].nulls = Some(Bitmap::from_bools([true, true, false, true, true]));
    let nullable = Batch::try_new(b.event_time().to_vec(), columns).unwrap();
    let mut out = Vec::new();
    encode(&nullable, &mut out);
    assert_ne!(out[EVENT_TIMES_AT], EVENT_TIME_COLUMN);
    assert_eq!(decode(&out, &Limits::default(), None).unwrap(), nullable);
}

#[test]
fn a_version_2_frame_still_decodes() {
    // Plain encoding writes the event times out; version 2 had the same layout.
    let b = timed(20);
    let mut out = Vec::new();
    encode_with(&b, &mut out, false);
    out[2] = 2;
    assert_eq!(decode(&out, &Limits::default(), None).unwrap(), b);
}

#[test]
fn event_times_naming_a_missing_or_unfit_column_are_refused() {
    let mut good = Vec::new();
    encode(&timed(5), &mut good);
    let naming = |column: u16| {
        let mut frame = good.clone();
        frame[EVENT_TIMES_AT + 1..EVENT_TIMES_AT + 3].copy_from_slice(&column.to_le_bytes());
        frame
    };
    for (column, why) in [(1, "f64"), (3, "missing"), (u16::MAX, "missing")] {
        assert!(
            matches!(
                decode(&naming(column), &Limits::default(), None),
                Err(WireError::Malformed(m)) if m.contains(&format!("column {column}"))
            ),
            "{why}"
        );
    }
    // Only a version-3 frame may name a column.
    let mut v2 = good.clone();
    v2[2] = 2;
    assert!(decode(&v2, &Limits::default(), None).is_err());
}

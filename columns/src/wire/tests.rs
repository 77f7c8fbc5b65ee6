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

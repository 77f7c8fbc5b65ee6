//! The piecewise, ASCII-fast murmur3 against a textbook murmur3 over UTF-16LE bytes, and the
//! cached `"col="` states against hashing the whole text.

use super::*;

/// Murmur3 x86 32-bit, seed 0, over a byte slice: the textbook algorithm, 4-byte blocks
/// then a tail, independent of the streaming state under test.
fn reference_murmur3(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0;
    let mut blocks = bytes.chunks_exact(4);
    for b in &mut blocks {
        let k = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        h ^= k
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, &b) in tail.iter().enumerate() {
            k |= u32::from(b) << (8 * i);
        }
        h ^= k
            .wrapping_mul(0xcc9e_2d51)
            .rotate_left(15)
            .wrapping_mul(0x1b87_3593);
    }
    h ^= bytes.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

fn reference_index(text: &str, n: u32) -> u32 {
    let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let abs = (reference_murmur3(&bytes) as i32).wrapping_abs();
    abs.rem_euclid(n as i32) as u32
}

const TEXTS: [&str; 10] = [
    "", "a", "ab", "abc", "f3", "f11", "é", "naïve", "中文", "x😀y",
];

#[test]
fn pieces_in_any_split_hash_as_the_whole_utf16_text() {
    let hasher = FeatureHasher::new(FeatureHasherParams::default()).expect("params");
    let n = hasher.params.num_features;
    for col in TEXTS {
        assert_eq!(
            hasher.numeric_index(col),
            reference_index(col, n),
            "{col:?}"
        );
        for value in TEXTS {
            let whole = format!("{col}={value}");
            assert_eq!(
                hasher.categorical_index(col, value),
                reference_index(&whole, n),
                "{whole:?}"
            );
        }
    }
}

#[test]
fn cached_column_prefixes_give_the_uncached_indices() {
    let cols = ["f0", "user", "é"];
    let cached = FeatureHasher::new(FeatureHasherParams {
        input_cols: cols.iter().map(|c| c.to_string()).collect(),
        num_features: 1000,
        ..FeatureHasherParams::default()
    })
    .expect("params");
    let n = cached.params.num_features;
    // In the listed order, reversed (names then miss their cached position), and unlisted.
    let rows: [Vec<(&str, HashValue<'_>)>; 3] = [
        cols.iter().map(|&c| (c, HashValue::Str("v1"))).collect(),
        cols.iter()
            .rev()
            .map(|&c| (c, HashValue::Bool(true)))
            .collect(),
        vec![("other", HashValue::Str("中")), ("f0", HashValue::Str("x"))],
    ];
    for row in &rows {
        let mut out = SparseVector::zeros(n);
        cached.hash_into(row, &mut out).unwrap();
        let mut expected: Vec<u32> = row
            .iter()
            .map(|(c, v)| {
                let text = match v {
                    HashValue::Str(s) => format!("{c}={s}"),
                    HashValue::Bool(b) => format!("{c}={b}"),
                    other => panic!("unexpected {other:?}"),
                };
                reference_index(&text, n)
            })
            .collect();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(out.indices, expected, "{row:?}");
    }
}

#[test]
fn a_loaded_hasher_rebuilds_its_prefixes() {
    let hasher = FeatureHasher::new(FeatureHasherParams {
        input_cols: vec!["a".to_string(), "bb".to_string()],
        ..FeatureHasherParams::default()
    })
    .expect("params");
    let json = serde_json::to_string(&hasher).expect("encode");
    assert_eq!(
        json,
        serde_json::to_string(&Stored {
            params: hasher.params.clone()
        })
        .expect("encode")
    );
    let loaded: FeatureHasher = serde_json::from_str(&json).expect("decode");
    assert_eq!(loaded, hasher);
    assert_eq!(loaded.prefixes, hasher.prefixes);
    assert_eq!(loaded.prefixes.len(), 2);
}

//! Chains of pieces against an independent model: a `BTreeMap` that every write and removal
//! is replayed into. Deltas are built from the changed keys' values in the model, some of
//! them compacted into bases, and the merged chain must equal the model.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// The delta of `changed` keys at their values in `model`.
fn delta(model: &BTreeMap<Vec<u8>, Vec<u8>>, changed: &BTreeSet<Vec<u8>>) -> Piece {
    Piece {
        kind: PieceKind::Delta,
        meta: None,
        drop_below: None,
        entries: changed
            .iter()
            .map(|k| (k.clone(), model.get(k).cloned()))
            .collect(),
    }
}

proptest! {
    #[test]
    fn a_chain_of_deltas_and_bases_replays_to_the_model(
        intervals in proptest::collection::vec(proptest::collection::vec((0u8..24, proptest::option::of(0u8..8)), 0..20), 1..12),
        compact_every in 1usize..6,
    ) {
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut chain: Vec<Vec<u8>> = Vec::new();
        for (i, ops) in intervals.iter().enumerate() {
            let mut changed = BTreeSet::new();
            for &(key, value) in ops {
                let key = vec![key];
                match value {
                    Some(v) => { model.insert(key.clone(), vec![v, key[0]]); }
                    None => { model.remove(&key); }
                }
                changed.insert(key);
            }
            if !changed.is_empty() {
                chain.push(delta(&model, &changed).encode());
            }
            if i % compact_every == compact_every - 1 {
                let merged = merge(chain.iter().map(Vec::as_slice)).unwrap();
                chain = vec![merged.into_base().encode()];
            }
            let merged = merge(chain.iter().map(Vec::as_slice)).unwrap();
            prop_assert_eq!(&merged.entries.into_iter().collect::<BTreeMap<_, _>>(), &model);
        }
    }
}

#[test]
fn a_base_replaces_what_came_before_and_the_last_meta_wins() {
    let base = |entries: &[(u8, u8)], meta: u8| Piece {
        kind: PieceKind::Base,
        meta: Some(vec![meta]),
        drop_below: None,
        entries: entries
            .iter()
            .map(|&(k, v)| (vec![k], Some(vec![v])))
            .collect(),
    };
    let chain = [
        base(&[(1, 1), (2, 2)], 7).encode(),
        base(&[(3, 3)], 8).encode(),
        Piece::meta(vec![9], None).encode(),
    ];
    let merged = merge(chain.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(merged.meta, Some(vec![9]));
    assert_eq!(
        merged.entries,
        vec![(vec![3], vec![3])],
        "the second base dropped keys 1 and 2"
    );
}

#[test]
fn keys_below_the_last_bound_are_dropped_after_the_whole_chain() {
    let entries = |keys: &[u8]| keys.iter().map(|&k| (vec![k], Some(vec![k]))).collect();
    let chain = [
        Piece {
            kind: PieceKind::Delta,
            meta: None,
            drop_below: Some(vec![2]),
            entries: entries(&[1, 2, 3]),
        }
        .encode(),
        Piece::meta(Vec::new(), Some(vec![3])).encode(),
        Piece {
            kind: PieceKind::Delta,
            meta: None,
            drop_below: None,
            entries: entries(&[4]),
        }
        .encode(),
    ];
    let merged = merge(chain.iter().map(Vec::as_slice)).unwrap();
    let keys: Vec<u8> = merged.entries.iter().map(|(k, _)| k[0]).collect();
    assert_eq!(keys, vec![3, 4], "the last bound (3) holds");
    let base = merged.clone().into_base().encode();
    assert_eq!(
        merge([base.as_slice()]).unwrap(),
        merged,
        "compaction keeps it"
    );
}

#[test]
fn an_unsorted_piece_is_put_in_order_and_its_last_repeat_wins() {
    let piece = |entries: &[(u8, Option<u8>)]| Piece {
        kind: PieceKind::Delta,
        meta: None,
        drop_below: None,
        entries: entries
            .iter()
            .map(|&(k, v)| (vec![k], v.map(|v| vec![v])))
            .collect(),
    };
    let chain = [
        piece(&[(1, Some(1)), (2, Some(2)), (3, Some(3))]).encode(),
        piece(&[(3, None), (1, Some(9)), (3, Some(7)), (0, Some(0))]).encode(),
    ];
    let merged = merge(chain.iter().map(Vec::as_slice)).unwrap();
    let entries: Vec<(u8, u8)> = merged.entries.iter().map(|(k, v)| (k[0], v[0])).collect();
    assert_eq!(entries, vec![(0, 0), (1, 9), (2, 2), (3, 7)]);
}

#[test]
fn garbage_and_forged_lengths_are_errors_not_allocations() {
    assert!(Piece::decode(&[0xff; 16]).is_err());
    // kind Delta, no meta, no bound, then a vector length of 2^62 entries.
    let forged = [1u8, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0, 0x40];
    assert!(Piece::decode(&forged).is_err());
    assert_eq!(
        Piece::kind_of(&Piece::meta(vec![1], None).encode()).unwrap(),
        PieceKind::Delta
    );
    let mut trailing = Piece::meta(vec![1], None).encode();
    trailing.push(0);
    assert!(matches!(
        Piece::decode(&trailing),
        Err(PieceError::Trailing(1))
    ));
}

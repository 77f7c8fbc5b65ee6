//! Keyed-state pieces as checkpoints store them (`quiver_protocol::state_piece`, wrapped by
//! `quiver_protocol::state_schema`): what the coordinator merges when it compacts a chain and
//! what a node merges when it restores.
//!
//! The input is a chain of chunks ([`crate::input::Chunks`]), each one stored piece.
//! Properties: no panic; a piece that decodes encodes back to the same piece; merging any
//! chain gives sorted, unique keys, none below the chain's live-key bound; the schema
//! wrapper's parts and unwrap agree.

use crate::input::{ChunkWriter, Chunks};
use quiver_protocol::state_piece::{self, Piece, PieceKind};
use quiver_protocol::state_schema;

/// Checks one input: a chain of pieces.
pub fn check(data: &[u8]) {
    let mut chain = Vec::new();
    let mut chunks = Chunks::new(data);
    while let Some(piece) = chunks.chunk() {
        chain.push(piece);
        if let Ok(decoded) = Piece::decode(piece) {
            assert_eq!(
                Piece::decode(&decoded.encode()).ok(),
                Some(decoded.clone()),
                "a piece changed on a round trip"
            );
            assert_eq!(Piece::kind_of(piece).ok(), Some(decoded.kind));
        }
        if let Ok((schema, payload)) = state_schema::parts(piece) {
            let unwrapped = state_schema::unwrap(piece.to_vec());
            if let Ok((_, bytes)) = unwrapped {
                assert_eq!(bytes, payload, "unwrap and parts disagree");
            }
            assert!(schema.len() + payload.len() < piece.len());
        }
    }
    if let Ok(merged) = state_piece::merge(chain.iter().copied()) {
        assert!(
            merged.entries.windows(2).all(|w| w[0].0 < w[1].0),
            "merged keys are not sorted and unique"
        );
        if let Some(bound) = &merged.drop_below {
            assert!(merged.entries.iter().all(|(k, _)| k >= bound));
        }
        let base = merged.clone().into_base().encode();
        let again = state_piece::merge([base.as_slice()]).expect("a compacted chain decodes");
        assert_eq!(again, merged, "compaction changed the live state");
    }
}

/// Chains of real pieces: a base, deltas with tombstones and a header, a schema-wrapped one.
pub fn seeds() -> Vec<Vec<u8>> {
    let entry = |k: &[u8], v: Option<&[u8]>| (k.to_vec(), v.map(<[u8]>::to_vec));
    let base = Piece {
        kind: PieceKind::Base,
        meta: None,
        drop_below: None,
        entries: vec![
            entry(b"alice", Some(b"\x01\x00\x00\x00")),
            entry(b"bob", Some(b"\x02")),
        ],
    };
    let delta = Piece {
        kind: PieceKind::Delta,
        meta: None,
        drop_below: Some(b"b".to_vec()),
        entries: vec![entry(b"bob", None), entry(b"carol", Some(b"\x03"))],
    };
    let header = Piece::meta(1_700_000_000_000i64.to_le_bytes().to_vec(), None);
    vec![
        ChunkWriter::default().chunk(&base.encode()).finish(),
        ChunkWriter::default()
            .chunk(&base.encode())
            .chunk(&delta.encode())
            .chunk(&header.encode())
            .finish(),
        ChunkWriter::default()
            .chunk(&state_schema::wrap(b"", &delta.encode()))
            .finish(),
    ]
}

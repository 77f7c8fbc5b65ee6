//! The keyed-state layer's piece format (DESIGN §5, "The keyed-state layer"): what a keyed
//! operator's checkpoint stores per key group, understood by nodes (restore) and by the
//! coordinator (which composes chains and compacts them) without knowing the operator.
//!
//! A key group's state is a *chain* of pieces applied in order: a [`PieceKind::Base`] holds
//! every entry, a [`PieceKind::Delta`] the entries written (`Some(value)`) or removed
//! (`None`, a tombstone) since the checkpoint the chain extends. A piece may also carry the
//! operator's per-partition header (`meta`, e.g. its watermark: the last one in the chain
//! wins) and a lower bound on live keys (`drop_below`: after the whole chain is applied, keys
//! that sort below the last bound given are dropped — a windowed operator's fired windows).
//! Keys and values are the operator's own bytes; keys compare as bytes.

pub mod entry;

use serde::{Deserialize, Serialize};

/// The largest piece a decode accepts (a key group's share of an operator's state).
pub const MAX_PIECE_BYTES: usize = 256 << 20;

/// Whether a piece replaces what came before it or changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PieceKind {
    /// Every live entry: the chain so far is dropped first.
    Base,
    /// Upserts and tombstones on top of the chain so far.
    Delta,
}

/// One stored piece of a key group's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    /// Base or delta.
    pub kind: PieceKind,
    /// The operator's per-partition header, if this piece sets it.
    pub meta: Option<Vec<u8>>,
    /// Keys below this bound are dead once the chain is applied, if this piece sets it.
    pub drop_below: Option<Vec<u8>>,
    /// `(key, value)` upserts and `(key, None)` tombstones, sorted by key, each key once.
    pub entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// A piece that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PieceError {
    /// The bytes are not a piece (or exceed [`MAX_PIECE_BYTES`]).
    #[error("unreadable state piece: {0}")]
    Decode(String),
    /// The bytes are a piece followed by garbage.
    #[error("state piece has {0} trailing bytes")]
    Trailing(usize),
}

impl Piece {
    /// A piece setting only the header (and the live-key bound).
    pub fn meta(meta: Vec<u8>, drop_below: Option<Vec<u8>>) -> Piece {
        Piece {
            kind: PieceKind::Delta,
            meta: Some(meta),
            drop_below,
            entries: Vec::new(),
        }
    }

    /// Its bytes.
    pub fn encode(&self) -> Vec<u8> {
        // Plain data in memory: encoding cannot fail.
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }

    /// The kind of an encoded piece, read from its first bytes.
    pub fn kind_of(bytes: &[u8]) -> Result<PieceKind, PieceError> {
        let config = bincode::config::standard().with_limit::<MAX_PIECE_BYTES>();
        bincode::serde::decode_from_slice(bytes, config)
            .map(|(kind, _)| kind)
            .map_err(|e| PieceError::Decode(e.to_string()))
    }

    /// Reads a piece, refusing more than [`MAX_PIECE_BYTES`] before allocating.
    pub fn decode(bytes: &[u8]) -> Result<Piece, PieceError> {
        let config = bincode::config::standard().with_limit::<MAX_PIECE_BYTES>();
        let (piece, used): (Piece, usize) = bincode::serde::decode_from_slice(bytes, config)
            .map_err(|e| PieceError::Decode(e.to_string()))?;
        if used != bytes.len() {
            return Err(PieceError::Trailing(bytes.len() - used));
        }
        Ok(piece)
    }
}

/// A chain applied: the live entries and the last header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// The last header any piece set.
    pub meta: Option<Vec<u8>>,
    /// The last live-key bound any piece set (applied to `entries` by [`Merged::finish`]).
    pub drop_below: Option<Vec<u8>>,
    /// Live entries, sorted by key, each key once.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Merged {
    /// Applies one more piece of the chain (the bound is applied by [`Merged::finish`]): a
    /// merge of two sorted runs, linear in both.
    pub fn apply(&mut self, piece: Piece) {
        if piece.meta.is_some() {
            self.meta = piece.meta;
        }
        if piece.drop_below.is_some() {
            self.drop_below = piece.drop_below;
        }
        let mut changes = piece.entries;
        // Pieces are written sorted with each key once; a piece that is not is put in order
        // (the last of a repeated key wins), so a merge never depends on trusting it.
        if !changes.windows(2).all(|w| w[0].0 < w[1].0) {
            changes.reverse();
            changes.sort_by(|a, b| a.0.cmp(&b.0));
            changes.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        if piece.kind == PieceKind::Base {
            self.entries = changes
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect();
            return;
        }
        let old = std::mem::take(&mut self.entries);
        let mut merged = Vec::with_capacity(old.len() + changes.len());
        let mut old = old.into_iter().peekable();
        for (key, value) in changes {
            while let Some(entry) = old.next_if(|(k, _)| *k < key) {
                merged.push(entry);
            }
            old.next_if(|(k, _)| *k == key);
            if let Some(value) = value {
                merged.push((key, value));
            }
        }
        merged.extend(old);
        self.entries = merged;
    }

    /// Drops the keys below the last bound: the chain's live state.
    pub fn finish(mut self) -> Merged {
        if let Some(bound) = &self.drop_below {
            let dead = self.entries.partition_point(|(k, _)| k < bound);
            self.entries.drain(..dead);
        }
        self
    }

    /// The live state as one base piece (a compacted chain).
    pub fn into_base(self) -> Piece {
        Piece {
            kind: PieceKind::Base,
            meta: self.meta,
            drop_below: self.drop_below,
            entries: self
                .entries
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        }
    }
}

/// Applies a chain of encoded pieces in order.
pub fn merge<'a>(chain: impl IntoIterator<Item = &'a [u8]>) -> Result<Merged, PieceError> {
    let mut merged = Merged::default();
    for bytes in chain {
        merged.apply(Piece::decode(bytes)?);
    }
    Ok(merged.finish())
}

#[cfg(test)]
mod tests;

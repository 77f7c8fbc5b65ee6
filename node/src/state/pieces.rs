//! Encoding a keyed operator's changed entries into the layer's pieces (off the task), and
//! merging restored chains back into entries.

use crate::operator::{Changes, ChangesCopy, KeyGroupState, OperatorError};
use quiver_protocol::state_piece::{Merged, Piece, PieceKind};
use quiver_protocol::KeyGroup;
use serde::Serialize;
use std::collections::BTreeMap;

pub(crate) use quiver_protocol::state_piece::entry::{
    decode, encode, ordered_i64, split_ordered_i64,
};

/// One entry copied at a barrier, encoded later: its key as bytes (ordered as the operator
/// needs for [`DeltaCopy::drop_below`]) and its value (`None`: the key is gone).
pub(crate) trait LayerEntry: Send + 'static {
    /// Appends the key's bytes to `out`.
    fn key(&self, out: &mut Vec<u8>) -> Result<(), String>;
    /// The value's bytes, `None` for a tombstone.
    fn value(&self) -> Result<Option<Vec<u8>>, String>;
}

/// A key an operator stores in the layer, encoded off the task.
pub(crate) trait LayerKey: Send + 'static {
    /// Appends the key's bytes to `out`.
    fn encode_key(&self, out: &mut Vec<u8>) -> Result<(), String>;
}

/// A key with its value copied at a barrier (`None`: the key is gone), the value stored as
/// bincode.
pub(crate) struct KeyedEntry<K, V> {
    /// The key.
    pub(crate) key: K,
    /// Its value, `None` for a tombstone.
    pub(crate) value: Option<V>,
}

impl<K: LayerKey, V: Serialize + Send + 'static> LayerEntry for KeyedEntry<K, V> {
    fn key(&self, out: &mut Vec<u8>) -> Result<(), String> {
        self.key.encode_key(out)
    }

    fn value(&self) -> Result<Option<Vec<u8>>, String> {
        self.value
            .as_ref()
            .map(|v| {
                let mut out = Vec::new();
                encode(v, &mut out).map(|()| out)
            })
            .transpose()
    }
}

/// Entries copied at a barrier (the changed ones, or all of them for a full snapshot), with
/// the operator's header, waiting to be encoded off the task.
pub(crate) struct DeltaCopy<E> {
    /// The operator's name, for errors.
    pub(crate) operator: String,
    /// Delta (changed entries) or base (every entry of the groups listed).
    pub(crate) kind: PieceKind,
    /// The operator's header (e.g. its watermark), already encoded.
    pub(crate) meta: Vec<u8>,
    /// Keys below this are dead (e.g. windows that fired).
    pub(crate) drop_below: Option<Vec<u8>>,
    /// The entries by key group; a key may repeat (with the same current value).
    pub(crate) entries: Vec<(KeyGroup, E)>,
    /// The operator's live entries at the barrier: a delta holding that many live entries
    /// holds the whole state, and is encoded as base pieces (each starts its chain again, so
    /// a workload that changes every key costs the store no compaction).
    pub(crate) live: usize,
}

/// Pieces by key group.
type GroupPieces = Vec<(KeyGroup, Piece)>;

impl<E: LayerEntry> DeltaCopy<E> {
    /// The header, and one piece per key group with entries, sorted by key, each key once.
    fn pieces(self) -> Result<(Vec<u8>, GroupPieces), OperatorError> {
        let name = self.operator;
        let error = |e: String| OperatorError::State(format!("stage \"{name}\": {e}"));
        let mut encoded = Vec::with_capacity(self.entries.len());
        for (group, entry) in &self.entries {
            let mut key = Vec::new();
            entry.key(&mut key).map_err(error)?;
            encoded.push((*group, key, entry.value().map_err(error)?));
        }
        // A key copied twice (changed in several unconfirmed intervals) has one current value.
        encoded.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        encoded.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let full = self.kind == PieceKind::Base;
        let whole = encoded.iter().filter(|e| e.2.is_some()).count() == self.live;
        let kind = if whole { PieceKind::Base } else { self.kind };
        let mut pieces: Vec<(KeyGroup, Piece)> = Vec::new();
        for (group, key, value) in encoded {
            if pieces.last().is_none_or(|(g, _)| *g != group) {
                let piece = Piece {
                    kind,
                    meta: full.then(|| self.meta.clone()),
                    drop_below: None,
                    entries: Vec::new(),
                };
                pieces.push((group, piece));
            }
            if let Some((_, piece)) = pieces.last_mut() {
                piece.entries.push((key, value));
            }
        }
        Ok((self.meta, pieces))
    }

    /// Encodes a full snapshot: one base piece per key group, each with the header.
    pub(crate) fn encode_full(self) -> Result<Vec<KeyGroupState>, OperatorError> {
        let (_, pieces) = self.pieces()?;
        Ok(pieces
            .into_iter()
            .map(|(group, piece)| KeyGroupState {
                group,
                bytes: piece.encode(),
            })
            .collect())
    }
}

impl<E: LayerEntry> ChangesCopy for DeltaCopy<E> {
    fn serialize(self: Box<Self>) -> Result<Changes, OperatorError> {
        let drop_below = self.drop_below.clone();
        let (meta, pieces) = self.pieces()?;
        Ok(Changes {
            meta: Piece::meta(meta, drop_below).encode(),
            deltas: pieces
                .into_iter()
                .map(|(group, piece)| KeyGroupState {
                    group,
                    bytes: piece.encode(),
                })
                .collect(),
        })
    }
}

/// The restored state of one key group: its last header and its live entries.
pub(crate) struct Restored {
    /// The key group.
    pub(crate) group: KeyGroup,
    /// The operator's header, if any piece had one.
    pub(crate) meta: Option<Vec<u8>>,
    /// Live entries, sorted by key bytes.
    pub(crate) entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Restored {
    /// Merges each key group's chain of pieces (in the order given) into its live entries.
    pub(crate) fn merge(
        operator: &str,
        pieces: Vec<KeyGroupState>,
    ) -> Result<Vec<Restored>, OperatorError> {
        let mut chains: BTreeMap<KeyGroup, Merged> = BTreeMap::new();
        for piece in pieces {
            let decoded = Piece::decode(&piece.bytes).map_err(|e| {
                OperatorError::State(format!(
                    "stage \"{operator}\": cannot decode {}: {e}",
                    piece.group
                ))
            })?;
            chains.entry(piece.group).or_default().apply(decoded);
        }
        Ok(chains
            .into_iter()
            .map(|(group, merged)| {
                let merged = merged.finish();
                Restored {
                    group,
                    meta: merged.meta,
                    entries: merged.entries,
                }
            })
            .collect())
    }
}

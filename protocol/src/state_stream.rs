//! Snapshot state on a stream: one key group's bytes as one or more [`StateFrame::Chunk`]s
//! (a group larger than a frame is cut into pieces), and the reassembly on the other side.
//! Nodes upload snapshots and coordinators serve restores with the same two pieces.
//!
//! The receiver holds a transfer in memory until it ends, so reassembly is bounded: a key
//! group over [`MAX_GROUP_BYTES`] or a transfer over [`MAX_TRANSFER_BYTES`] is refused as soon
//! as the chunk that would cross the limit arrives, before its bytes are kept — a faulty or
//! hostile peer cannot make the other side grow without bound.

use crate::codec::{self, CodecError};
use crate::ids::KeyGroup;
use crate::messages::StateFrame;
use tokio::io::{AsyncRead, AsyncWrite};

/// The most state bytes in one frame (well under the codec's frame limit).
pub const STATE_CHUNK_BYTES: usize = 4 << 20;

/// The most bytes one key group of one operator may hold once reassembled.
pub const MAX_GROUP_BYTES: usize = 256 << 20;

/// The most state bytes one transfer (a task's upload, a restoring task's fetch) may carry
/// over all its groups.
pub const MAX_TRANSFER_BYTES: usize = 1 << 30;

/// How much one reassembly may hold: by default [`MAX_GROUP_BYTES`] per key group and
/// [`MAX_TRANSFER_BYTES`] in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferLimits {
    /// The most bytes of one key group.
    pub group: usize,
    /// The most bytes over all groups.
    pub transfer: usize,
}

impl Default for TransferLimits {
    fn default() -> Self {
        TransferLimits {
            group: MAX_GROUP_BYTES,
            transfer: MAX_TRANSFER_BYTES,
        }
    }
}

/// Why a state stream could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateStreamError {
    /// A key group grew past its limit (the sender is faulty, hostile, or its state needs
    /// splitting over more key groups: a higher `max_parallelism`).
    #[error("{group} of {operator} is larger than the {limit}-byte limit of one key group")]
    GroupTooLarge {
        /// The operator.
        operator: String,
        /// The key group.
        group: KeyGroup,
        /// The limit it crossed.
        limit: usize,
    },
    /// The transfer grew past its limit.
    #[error("the state is larger than the {limit}-byte limit of one transfer")]
    TransferTooLarge {
        /// The limit it crossed.
        limit: usize,
    },
    /// The stream ended before [`StateFrame::Done`].
    #[error("the state stream ended before its end")]
    EndedEarly,
    /// The sender said why it cannot send the state ([`StateFrame::Error`]).
    #[error("{0}")]
    Sender(String),
    /// A frame could not be read.
    #[error("bad state frame: {0}")]
    Codec(#[from] CodecError),
}

/// Writes one key group of `operator` as chunks (an empty group as one empty chunk).
pub async fn write_group<W: AsyncWrite + Unpin>(
    w: &mut W,
    operator: &str,
    group: KeyGroup,
    bytes: &[u8],
) -> Result<(), CodecError> {
    let mut chunks = bytes.chunks(STATE_CHUNK_BYTES).peekable();
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let more = chunks.peek().is_some();
        let frame = StateFrame::Chunk {
            operator: operator.to_string(),
            group,
            bytes: chunk.to_vec(),
            more,
        };
        codec::write_frame(w, &frame).await?;
        if !more {
            return Ok(());
        }
    }
}

/// Reads a state stream to its [`StateFrame::Done`] and returns its whole groups:
/// (operator, key group, bytes), in arrival order.
pub async fn read_groups<R: AsyncRead + Unpin>(
    r: &mut R,
    limits: TransferLimits,
) -> Result<Vec<(String, KeyGroup, Vec<u8>)>, StateStreamError> {
    let mut assembler = GroupAssembler::new(limits);
    loop {
        match codec::read_frame::<_, StateFrame>(r).await? {
            Some(StateFrame::Chunk {
                operator,
                group,
                bytes,
                more,
            }) => assembler.push(operator, group, bytes, more)?,
            Some(StateFrame::Done) => return Ok(assembler.finish()),
            Some(StateFrame::Error(why)) => return Err(StateStreamError::Sender(why)),
            None => return Err(StateStreamError::EndedEarly),
        }
    }
}

/// Reassembles chunks into whole key groups, in arrival order, within its limits.
#[derive(Debug, Default)]
pub struct GroupAssembler {
    groups: Vec<(String, KeyGroup, Vec<u8>)>,
    continuing: bool,
    limits: TransferLimits,
    /// Bytes held over all groups.
    held: usize,
}

impl GroupAssembler {
    /// An empty reassembly holding at most what `limits` allow.
    pub fn new(limits: TransferLimits) -> GroupAssembler {
        GroupAssembler {
            limits,
            ..GroupAssembler::default()
        }
    }

    /// Adds one chunk: it continues the last group when that one said `more`. A chunk that
    /// would take its group or the transfer past a limit is refused, and nothing of it kept.
    pub fn push(
        &mut self,
        operator: String,
        group: KeyGroup,
        bytes: Vec<u8>,
        more: bool,
    ) -> Result<(), StateStreamError> {
        let held = self.held.saturating_add(bytes.len());
        if held > self.limits.transfer {
            return Err(StateStreamError::TransferTooLarge {
                limit: self.limits.transfer,
            });
        }
        let continues = matches!(
            self.groups.last(),
            Some((op, g, _)) if self.continuing && *op == operator && *g == group
        );
        let group_bytes = match self.groups.last() {
            Some((_, _, acc)) if continues => acc.len() + bytes.len(),
            _ => bytes.len(),
        };
        if group_bytes > self.limits.group {
            return Err(StateStreamError::GroupTooLarge {
                operator,
                group,
                limit: self.limits.group,
            });
        }
        match self.groups.last_mut() {
            Some((_, _, acc)) if continues => acc.extend_from_slice(&bytes),
            _ => self.groups.push((operator, group, bytes)),
        }
        self.held = held;
        self.continuing = more;
        Ok(())
    }

    /// The whole groups: (operator, key group, bytes).
    pub fn finish(self) -> Vec<(String, KeyGroup, Vec<u8>)> {
        self.groups
    }
}

#[cfg(test)]
mod tests;

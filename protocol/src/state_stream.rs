//! Snapshot state on a stream: one key group's bytes as one or more [`StateFrame::Chunk`]s
//! (a group larger than a frame is cut into pieces), and the reassembly on the other side.
//! Nodes upload snapshots and coordinators serve restores with the same two pieces.

use crate::codec::{self, CodecError};
use crate::ids::KeyGroup;
use crate::messages::StateFrame;
use tokio::io::AsyncWrite;

/// The most state bytes in one frame (well under the codec's frame limit).
pub const STATE_CHUNK_BYTES: usize = 4 << 20;

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

/// Reassembles chunks into whole key groups, in arrival order.
#[derive(Debug, Default)]
pub struct GroupAssembler {
    groups: Vec<(String, KeyGroup, Vec<u8>)>,
    continuing: bool,
}

impl GroupAssembler {
    /// Adds one chunk: it continues the last group when that one said `more`.
    pub fn push(&mut self, operator: String, group: KeyGroup, bytes: Vec<u8>, more: bool) {
        match self.groups.last_mut() {
            Some((op, g, acc)) if self.continuing && *op == operator && *g == group => {
                acc.extend_from_slice(&bytes)
            }
            _ => self.groups.push((operator, group, bytes)),
        }
        self.continuing = more;
    }

    /// The whole groups: (operator, key group, bytes).
    pub fn finish(self) -> Vec<(String, KeyGroup, Vec<u8>)> {
        self.groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn groups_survive_chunking_whatever_their_size() {
        let big = vec![7u8; STATE_CHUNK_BYTES * 2 + 5];
        let mut wire = Vec::new();
        write_group(&mut wire, "agg", KeyGroup(3), &big)
            .await
            .unwrap();
        write_group(&mut wire, "agg", KeyGroup(4), &[])
            .await
            .unwrap();
        write_group(&mut wire, "src", KeyGroup(0), b"pos")
            .await
            .unwrap();
        let mut reader = wire.as_slice();
        let mut assembler = GroupAssembler::default();
        let mut frames = 0;
        while let Some(frame) = codec::read_frame::<_, StateFrame>(&mut reader)
            .await
            .unwrap()
        {
            frames += 1;
            if let StateFrame::Chunk {
                operator,
                group,
                bytes,
                more,
            } = frame
            {
                assembler.push(operator, group, bytes, more);
            }
        }
        assert_eq!(frames, 3 + 1 + 1, "the big group takes three chunks");
        assert_eq!(
            assembler.finish(),
            vec![
                ("agg".to_string(), KeyGroup(3), big),
                ("agg".to_string(), KeyGroup(4), Vec::new()),
                ("src".to_string(), KeyGroup(0), b"pos".to_vec()),
            ]
        );
    }
}

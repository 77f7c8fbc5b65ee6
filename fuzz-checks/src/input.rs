//! Structured fuzz inputs: a target that needs several byte strings (pieces of a chain,
//! keys and values of a store) reads them from one input as length-prefixed chunks, and its
//! seeds are written the same way.

/// Reads chunks from an input: a `u16` little-endian length, then that many bytes (fewer
/// at the end of the input).
#[derive(Debug)]
pub struct Chunks<'a> {
    rest: &'a [u8],
}

impl<'a> Chunks<'a> {
    /// Chunks of `data`.
    pub fn new(data: &'a [u8]) -> Chunks<'a> {
        Chunks { rest: data }
    }

    /// The next byte, `None` at the end.
    pub fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(b)
    }

    /// The next chunk, `None` at the end.
    pub fn chunk(&mut self) -> Option<&'a [u8]> {
        if self.rest.len() < 2 {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([self.rest[0], self.rest[1]]));
        let body = &self.rest[2..];
        let (chunk, rest) = body.split_at(len.min(body.len()));
        self.rest = rest;
        Some(chunk)
    }

    /// What is left, unread.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

/// Writes chunks that [`Chunks`] reads back.
#[derive(Debug, Default)]
pub struct ChunkWriter {
    bytes: Vec<u8>,
}

impl ChunkWriter {
    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.bytes.push(b);
        self
    }

    /// Appends one chunk (at most `u16::MAX` bytes of it).
    pub fn chunk(&mut self, chunk: &[u8]) -> &mut Self {
        let chunk = &chunk[..chunk.len().min(usize::from(u16::MAX))];
        self.bytes
            .extend_from_slice(&(chunk.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(chunk);
        self
    }

    /// The input written.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_back_what_was_written_and_stop_at_a_short_end() {
        let data = ChunkWriter::default()
            .byte(7)
            .chunk(b"abc")
            .chunk(b"")
            .finish();
        let mut c = Chunks::new(&data);
        assert_eq!(c.byte(), Some(7));
        assert_eq!(c.chunk(), Some(&b"abc"[..]));
        assert_eq!(c.chunk(), Some(&b""[..]));
        assert_eq!(c.chunk(), None);
        // A length past the end yields what is there.
        let mut short = Chunks::new(&[5, 0, b'x', b'y']);
        assert_eq!(short.chunk(), Some(&b"xy"[..]));
        assert_eq!(short.chunk(), None);
    }
}

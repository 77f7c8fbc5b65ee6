//! The wire codec: bincode (standard configuration) with a hard size limit on every decode, and
//! framing as a `u32` big-endian length prefix followed by that many payload bytes.
//!
//! Every decoder refuses input larger than [`MAX_FRAME_BYTES`] before allocating for it, so a
//! hostile length (of a frame, or of a string or vector inside one) is an error, never an
//! allocation or a crash.

use bincode::error::{DecodeError, EncodeError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame payload (and thus encoded message) accepted or produced: 16 MiB.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Bytes of the length prefix in front of every frame.
const PREFIX_BYTES: usize = 4;

/// The most a frame reader reserves before payload bytes arrive.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 << 10;

/// Why a message could not be encoded, decoded, written or read.
#[derive(thiserror::Error, Debug)]
pub enum CodecError {
    /// A frame or message is larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes ({MAX_FRAME_BYTES} is the most a frame may carry)")]
    TooLarge {
        /// The announced or encoded size in bytes.
        len: u64,
        /// The limit in bytes.
        max: usize,
    },
    /// The bytes are not a valid encoding of the expected message.
    #[error("malformed frame: {reason}")]
    Malformed {
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The stream ended inside a frame.
    #[error("truncated frame: expected {expected} bytes, the stream ended after {got}")]
    Truncated {
        /// Bytes the frame (prefix or payload) should have had.
        expected: usize,
        /// Bytes that arrived before the end of the stream.
        got: usize,
    },
    /// The message cannot be encoded (a serde serializer error).
    #[error("cannot encode message: {0}")]
    Encode(#[source] EncodeError),
    /// Reading or writing the underlying stream failed.
    #[error("frame i/o failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The bincode configuration of every decode: standard (varint) with the frame limit.
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Encodes a message into a new buffer.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, CodecError> {
    let mut buf = Vec::new();
    encode_into(msg, &mut buf)?;
    Ok(buf)
}

/// Appends the encoding of a message to `buf` (so one buffer can be reused across messages).
/// On error `buf` is left as it was.
pub fn encode_into<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), CodecError> {
    let start = buf.len();
    let result = bincode::serde::encode_into_std_write(msg, buf, config());
    let written = buf.len() - start;
    match result {
        Ok(_) if written <= MAX_FRAME_BYTES => Ok(()),
        Ok(_) => {
            buf.truncate(start);
            Err(CodecError::TooLarge {
                len: written as u64,
                max: MAX_FRAME_BYTES,
            })
        }
        Err(e) => {
            buf.truncate(start);
            Err(CodecError::Encode(e))
        }
    }
}

/// Decodes one message that must span exactly `bytes` (trailing bytes are an error). Input
/// over [`MAX_FRAME_BYTES`], or claiming more than that inside, is refused.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            len: bytes.len() as u64,
            max: MAX_FRAME_BYTES,
        });
    }
    let (msg, used) =
        bincode::serde::decode_from_slice(bytes, config()).map_err(|e| malformed(&e))?;
    if used != bytes.len() {
        return Err(CodecError::Malformed {
            reason: format!(
                "{} trailing bytes after a message of {used} bytes",
                bytes.len() - used
            ),
        });
    }
    Ok(msg)
}

fn malformed(e: &DecodeError) -> CodecError {
    let reason = match e {
        DecodeError::LimitExceeded => format!(
            "a length inside the frame would need more than the {MAX_FRAME_BYTES}-byte limit"
        ),
        other => other.to_string(),
    };
    CodecError::Malformed { reason }
}

/// Encodes `msg` and writes it as one frame (one write: prefix and payload together). Does not
/// flush.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> Result<(), CodecError> {
    let mut buf = Vec::with_capacity(64);
    let start = start_frame(&mut buf);
    encode_into(msg, &mut buf)?;
    seal_frame(&mut buf, start)?;
    w.write_all(&buf).await?;
    Ok(())
}

/// Appends room for a frame's length prefix to `buf` and returns where the frame starts: append
/// the payload after it, then call [`seal_frame`]. Frames sealed one after another in a buffer
/// go out in one write.
pub fn start_frame(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; PREFIX_BYTES]);
    start
}

/// Writes the length prefix of the frame begun at `start` by [`start_frame`] (its payload runs
/// to the end of `buf`), or refuses a payload over [`MAX_FRAME_BYTES`] or a `start` with no room
/// for the prefix after it.
pub fn seal_frame(buf: &mut [u8], start: usize) -> Result<(), CodecError> {
    let payload = buf
        .len()
        .checked_sub(start.saturating_add(PREFIX_BYTES))
        .ok_or_else(|| CodecError::Malformed {
            reason: format!(
                "no frame starts at byte {start} of a {}-byte buffer",
                buf.len()
            ),
        })?;
    let len = frame_len(payload)?;
    buf[start..start + PREFIX_BYTES].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The prefix value for a payload of `len` bytes, or an error if it is over the limit.
fn frame_len(len: usize) -> Result<u32, CodecError> {
    match u32::try_from(len) {
        Ok(n) if len <= MAX_FRAME_BYTES => Ok(n),
        _ => Err(CodecError::TooLarge {
            len: len as u64,
            max: MAX_FRAME_BYTES,
        }),
    }
}

/// Reads and decodes one frame. `Ok(None)` means the stream ended cleanly at a frame boundary;
/// an end inside a frame is [`CodecError::Truncated`]. A length prefix over
/// [`MAX_FRAME_BYTES`] is refused before any payload is read or allocated, and the payload
/// buffer only grows as bytes actually arrive.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> Result<Option<T>, CodecError> {
    match read_frame_bytes(r).await? {
        Some(payload) => decode(&payload).map(Some),
        None => Ok(None),
    }
}

/// Reads one frame's payload, with the limits and end-of-stream handling of [`read_frame`].
pub async fn read_frame_bytes<R: AsyncRead + Unpin>(
    r: &mut R,
) -> Result<Option<Vec<u8>>, CodecError> {
    let mut prefix = [0u8; PREFIX_BYTES];
    let mut got = 0;
    while got < PREFIX_BYTES {
        let n = r.read(&mut prefix[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(CodecError::Truncated {
                expected: PREFIX_BYTES,
                got,
            });
        }
        got += n;
    }
    let len = u32::from_be_bytes(prefix);
    let len_usize = usize::try_from(len).unwrap_or(usize::MAX);
    if len_usize > MAX_FRAME_BYTES {
        return Err(CodecError::TooLarge {
            len: u64::from(len),
            max: MAX_FRAME_BYTES,
        });
    }
    // Grow with the bytes that arrive, not with what the peer announced.
    let mut payload = Vec::with_capacity(len_usize.min(INITIAL_PAYLOAD_CAPACITY));
    r.take(u64::from(len)).read_to_end(&mut payload).await?;
    if payload.len() < len_usize {
        return Err(CodecError::Truncated {
            expected: len_usize,
            got: payload.len(),
        });
    }
    Ok(Some(payload))
}

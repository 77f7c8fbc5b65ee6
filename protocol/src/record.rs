//! Records, batches and the elements that flow on a channel between operator partitions, and
//! the range of valid event times.
//!
//! # Valid event times
//!
//! Sources accept event times in [`MIN_EVENT_TIME`]`..=`[`MAX_EVENT_TIME`] (ECMAScript's range
//! of time values: 100,000,000 days either side of the epoch, years −271821 to 275760) and
//! reject a record outside it as malformed. Every duration added to or subtracted from event
//! times (window size, slide and gap, `max_out_of_orderness`) is at most
//! [`MAX_EVENT_TIME_SPAN_MS`] (100,000 days). So window bounds and watermarks of valid records
//! stay far inside `i64` (no arithmetic on them can overflow, even through a chain of windowed
//! stages), and below 2^53 in magnitude, exactly representable wherever JSON numbers are read
//! as doubles.

use crate::ids::{CheckpointId, Generation};
use crate::value::Row;
use serde::{Deserialize, Serialize};
use std::ops::RangeInclusive;

/// The earliest valid event time, in ms since the epoch: −8.64 × 10^15 (−271821-04-20).
pub const MIN_EVENT_TIME: i64 = -8_640_000_000_000_000;
/// The latest valid event time, in ms since the epoch: 8.64 × 10^15 (+275760-09-13).
pub const MAX_EVENT_TIME: i64 = 8_640_000_000_000_000;
/// The valid event times: [`MIN_EVENT_TIME`]`..=`[`MAX_EVENT_TIME`].
pub const EVENT_TIME_RANGE: RangeInclusive<i64> = MIN_EVENT_TIME..=MAX_EVENT_TIME;
/// The longest duration event-time arithmetic adds or subtracts (window size, slide and gap,
/// `max_out_of_orderness`), in ms: 100,000 days (about 274 years).
pub const MAX_EVENT_TIME_SPAN_MS: i64 = 100_000 * 86_400_000;

/// One event: its event time (ms since the epoch, in [`EVENT_TIME_RANGE`] when it comes from a
/// source) and its row. The key is not stored: each keyed stage derives it from its key
/// columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Event time in milliseconds since the epoch.
    pub event_time: i64,
    /// The values, in the stream's schema order.
    pub row: Row,
}

/// A checkpoint barrier, injected by sources in-band after their last record before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Barrier {
    /// The checkpoint this barrier delimits.
    pub checkpoint: CheckpointId,
    /// The job generation that started it.
    pub generation: Generation,
    /// The serving table in force (`crate::models::ServingTable::epoch`): a learner switches
    /// what it serves when a barrier of a new epoch passes through it.
    pub serving: u64,
}

/// What a channel carries, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamElement {
    /// Data: a columnar batch (the unit of encoding, flow control and operator calls).
    Records(crate::batch::Batch),
    /// No record with an event time at or below this will follow on this channel.
    Watermark(i64),
    /// The channel has no data for now: leave it out of the minimum watermark until it speaks.
    Idle,
    /// A checkpoint barrier.
    Barrier(Barrier),
    /// The channel is finished: no element follows.
    End,
}

/// The elements that are not data, as encoded on the wire (bincode).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Control {
    Watermark(i64),
    Idle,
    Barrier(Barrier),
    End,
}

/// The first byte of an element's frame: what follows.
const CONTROL: u8 = 0;
const RECORDS: u8 = 1;

impl StreamElement {
    /// Appends the element's frame payload to `buf`: a tag byte, then a batch in the
    /// columnar wire format or a control element in bincode.
    pub fn encode_into(&self, buf: &mut Vec<u8>) -> Result<(), crate::codec::CodecError> {
        let control = match self {
            StreamElement::Records(batch) => {
                buf.push(RECORDS);
                crate::batch::wire::encode(batch, buf);
                return Ok(());
            }
            StreamElement::Watermark(w) => Control::Watermark(*w),
            StreamElement::Idle => Control::Idle,
            StreamElement::Barrier(b) => Control::Barrier(*b),
            StreamElement::End => Control::End,
        };
        buf.push(CONTROL);
        crate::codec::encode_into(&control, buf)
    }

    /// Reads an element from a frame payload made by [`StreamElement::encode_into`]. A batch
    /// must have the column types `columns` (the receiving stream's schema); every count is
    /// checked against the frame limit before anything is allocated.
    pub fn decode(
        payload: &[u8],
        columns: &[crate::batch::ColumnType],
    ) -> Result<StreamElement, crate::codec::CodecError> {
        let malformed = |reason: String| crate::codec::CodecError::Malformed { reason };
        match payload.split_first() {
            Some((&RECORDS, rest)) => {
                let limits = crate::batch::wire::Limits {
                    max_bytes: crate::codec::MAX_FRAME_BYTES,
                    ..Default::default()
                };
                crate::batch::wire::decode(rest, &limits, Some(columns))
                    .map(StreamElement::Records)
                    .map_err(|e| malformed(e.to_string()))
            }
            Some((&CONTROL, rest)) => Ok(match crate::codec::decode(rest)? {
                Control::Watermark(w) => StreamElement::Watermark(w),
                Control::Idle => StreamElement::Idle,
                Control::Barrier(b) => StreamElement::Barrier(b),
                Control::End => StreamElement::End,
            }),
            Some((tag, _)) => Err(malformed(format!("unknown element tag {tag}"))),
            None => Err(malformed("an empty element frame".into())),
        }
    }
}

//! Records, batches and the elements that flow on a channel between operator partitions.

use crate::ids::{CheckpointId, Generation};
use crate::value::Row;
use serde::{Deserialize, Serialize};

/// One event: its event time (ms since the epoch) and its row. The key is not stored: each
/// keyed stage derives it from its key columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Event time in milliseconds since the epoch.
    pub event_time: i64,
    /// The values, in the stream's schema order.
    pub row: Row,
}

/// A batch of records: the unit of encoding, flow control and operator calls.
pub type Batch = Vec<Record>;

/// A checkpoint barrier, injected by sources in-band after their last record before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Barrier {
    /// The checkpoint this barrier delimits.
    pub checkpoint: CheckpointId,
    /// The job generation that started it.
    pub generation: Generation,
}

/// What a channel carries, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StreamElement {
    /// Data.
    Records(Batch),
    /// No record with an event time at or below this will follow on this channel.
    Watermark(i64),
    /// The channel has no data for now: leave it out of the minimum watermark until it speaks.
    Idle,
    /// A checkpoint barrier.
    Barrier(Barrier),
    /// The channel is finished: no element follows.
    End,
}

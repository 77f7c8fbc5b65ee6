//! Failure detection on a node's control stream: how often each side says it is alive, and
//! how long a silent peer has before it is taken for dead. The coordinator chooses both
//! (`quiver coordinator --heartbeat-interval`, `--heartbeat-timeout`) and tells each node in
//! its welcome, so both ends of a stream beat and judge alike.

use crate::messages::{HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The shortest interval: beats more often than this only load the control streams.
pub const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(10);

/// How often silence is looked for at most: a lost peer is declared this much after its
/// timeout at the latest (less when the interval is short, see [`Heartbeats::check_every`]).
const MAX_CHECK_PERIOD: Duration = Duration::from_millis(250);

/// A control stream's heartbeat interval and timeout; the timeout is at least two intervals,
/// so one late beat is never taken for a death. Checked when built, also from the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct Heartbeats {
    interval: Duration,
    timeout: Duration,
}

/// [`Heartbeats`] as written on the wire, before its check.
#[derive(Deserialize)]
struct Unchecked {
    interval: Duration,
    timeout: Duration,
}

/// Why an interval and a timeout do not make [`Heartbeats`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    /// The interval is below [`MIN_HEARTBEAT_INTERVAL`].
    #[error("the heartbeat interval ({0:?}) must be at least 10ms")]
    IntervalTooShort(Duration),
    /// The timeout is shorter than two intervals.
    #[error(
        "the heartbeat timeout ({timeout:?}) must be at least twice the interval ({interval:?})"
    )]
    TimeoutTooShort {
        /// The interval asked for.
        interval: Duration,
        /// The timeout asked for.
        timeout: Duration,
    },
}

impl TryFrom<Unchecked> for Heartbeats {
    type Error = HeartbeatError;

    fn try_from(raw: Unchecked) -> Result<Heartbeats, HeartbeatError> {
        Heartbeats::new(raw.interval, raw.timeout)
    }
}

impl Default for Heartbeats {
    /// [`HEARTBEAT_INTERVAL`] and [`HEARTBEAT_TIMEOUT`].
    fn default() -> Heartbeats {
        Heartbeats {
            interval: HEARTBEAT_INTERVAL,
            timeout: HEARTBEAT_TIMEOUT,
        }
    }
}

impl Heartbeats {
    /// Beats every `interval`, a peer silent for `timeout` is dead.
    pub fn new(interval: Duration, timeout: Duration) -> Result<Heartbeats, HeartbeatError> {
        if interval < MIN_HEARTBEAT_INTERVAL {
            return Err(HeartbeatError::IntervalTooShort(interval));
        }
        if timeout < interval.saturating_mul(2) {
            return Err(HeartbeatError::TimeoutTooShort { interval, timeout });
        }
        Ok(Heartbeats { interval, timeout })
    }

    /// How often each side says it is alive.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a silent peer has before it is taken for dead.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often the coordinator looks for silent nodes: half an interval, at most 250 ms,
    /// so a silent node is declared lost within that much after its timeout.
    pub fn check_every(&self) -> Duration {
        (self.interval / 2).min(MAX_CHECK_PERIOD)
    }
}

#[cfg(test)]
mod tests;

//! Event-time watermarks: generating them at sources and merging them over inputs.
//!
//! A watermark `w` on a channel promises that no record with an event time at or below `w`
//! follows on it. Sources derive it from the largest event time seen
//! ([`WatermarkGenerator`]); an operator with several inputs forwards the minimum over them
//! ([`WatermarkTracker`]), leaving idle inputs out so they do not stall time, and treating an
//! ended input as +infinity. A source partition reading several splits keeps a watermark per
//! split, with idleness and alignment ([`splits`]).

pub mod splits;

/// Bounded out-of-orderness watermarks for a source (Flink's `BoundedOutOfOrderness`).
///
/// After records with a largest event time `max`, the watermark is `max - lag_ms - 1`: every
/// record up to `lag_ms` behind the largest event time seen is still on time (a record at
/// `max - lag_ms` is above the watermark). Before any record there is no watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatermarkGenerator {
    /// The allowed out-of-orderness in milliseconds.
    pub lag_ms: i64,
    max_seen: Option<i64>,
}

impl WatermarkGenerator {
    /// A generator allowing records up to `lag_ms` behind the largest event time seen.
    pub fn new(lag_ms: i64) -> WatermarkGenerator {
        WatermarkGenerator {
            lag_ms: lag_ms.max(0),
            max_seen: None,
        }
    }

    /// Notes one record's event time.
    #[inline]
    pub fn observe(&mut self, event_time: i64) {
        self.max_seen = Some(match self.max_seen {
            Some(m) if m >= event_time => m,
            _ => event_time,
        });
    }

    /// The current watermark: `max - lag_ms - 1`, or `None` before the first record.
    pub fn watermark(&self) -> Option<i64> {
        self.max_seen
            .map(|m| m.saturating_sub(self.lag_ms).saturating_sub(1))
    }
}

/// What one input of a [`WatermarkTracker`] last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputState {
    /// Sending; its watermark counts once it has caught up with the combined one.
    Active { watermark: i64, aligned: bool },
    /// Idle: left out of the minimum until it sends again.
    Idle { watermark: i64 },
    /// Finished: +infinity.
    Ended,
}

/// The combined watermark of N inputs: the minimum over the inputs that are active.
///
/// - An idle input is left out of the minimum until it sends a watermark again.
/// - When every input is idle (or ended, but not all ended) the watermark does not advance.
/// - An ended input counts as +infinity; when all have ended the combined watermark is
///   `i64::MAX`.
/// - The combined watermark never goes back. An input that comes back from idle with a
///   watermark below the combined one is left out until it catches up (Flink's
///   `StatusWatermarkValve` does the same), so it cannot hold the others back.
/// - Each input's watermark only moves forward; a lower value than its last is ignored.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    inputs: Vec<InputState>,
    combined: i64,
}

impl WatermarkTracker {
    /// A tracker over `n` inputs, all active at `i64::MIN`.
    pub fn new(n: usize) -> WatermarkTracker {
        WatermarkTracker {
            inputs: vec![
                InputState::Active {
                    watermark: i64::MIN,
                    aligned: true,
                };
                n
            ],
            combined: i64::MIN,
        }
    }

    /// The combined watermark emitted so far (`i64::MIN` before any).
    pub fn current(&self) -> i64 {
        self.combined
    }

    /// Input `input` sent watermark `wm`; returns the new combined watermark if it advanced.
    /// An index out of range is ignored.
    pub fn update(&mut self, input: usize, wm: i64) -> Option<i64> {
        let combined = self.combined;
        let state = self.inputs.get_mut(input)?;
        let previous = match *state {
            InputState::Active { watermark, .. } | InputState::Idle { watermark } => watermark,
            InputState::Ended => return None,
        };
        let watermark = previous.max(wm);
        *state = InputState::Active {
            watermark,
            aligned: watermark >= combined,
        };
        self.advance()
    }

    /// Input `input` went idle; returns the new combined watermark if it advanced.
    pub fn set_idle(&mut self, input: usize) -> Option<i64> {
        let state = self.inputs.get_mut(input)?;
        match *state {
            InputState::Active { watermark, .. } => *state = InputState::Idle { watermark },
            InputState::Idle { .. } | InputState::Ended => return None,
        }
        self.advance()
    }

    /// Input `input` ended (+infinity); returns the new combined watermark if it advanced.
    pub fn end(&mut self, input: usize) -> Option<i64> {
        *self.inputs.get_mut(input)? = InputState::Ended;
        self.advance()
    }

    /// Whether no input holds the watermark back: every input is idle or ended, and at least
    /// one is idle (when all ended, the end says more).
    pub fn all_idle(&self) -> bool {
        let idle = |s: &InputState| matches!(s, InputState::Idle { .. });
        self.inputs.iter().any(idle)
            && self
                .inputs
                .iter()
                .all(|s| idle(s) || *s == InputState::Ended)
    }

    /// Whether every input has ended (also when there are none).
    pub fn all_ended(&self) -> bool {
        self.inputs.iter().all(|s| *s == InputState::Ended)
    }

    fn advance(&mut self) -> Option<i64> {
        let candidate = if self.all_ended() {
            i64::MAX
        } else {
            let active = self.inputs.iter().filter_map(|s| match *s {
                InputState::Active {
                    watermark,
                    aligned: true,
                } => Some(watermark),
                _ => None,
            });
            active.min()?
        };
        if candidate > self.combined {
            self.combined = candidate;
            for state in &mut self.inputs {
                if let InputState::Active { watermark, aligned } = state {
                    *aligned = *watermark >= candidate;
                }
            }
            Some(candidate)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests;

//! Barrier alignment for a task with several input channels (DESIGN.md §5, step 3).
//!
//! After barrier `n` arrives on an input, that input is blocked: its later elements are held
//! here, each with its channel credit, so the sender gets no new credit and at most
//! `CHANNEL_CREDITS` elements are ever held per input. Once barrier `n` arrived on every input
//! that has not ended, the task snapshots, forwards the barrier and replays what was held.

use super::credit::Credit;
use quiver_protocol::{Barrier, StreamElement};
use std::collections::VecDeque;

/// An element held back while its input is blocked.
pub(crate) struct Held {
    pub(crate) input: usize,
    pub(crate) element: StreamElement,
    pub(crate) credit: Credit,
}

/// Which inputs wait for the other inputs' barrier, and what they sent meanwhile.
pub(crate) struct Alignment {
    blocked: Vec<bool>,
    ended: Vec<bool>,
    pending: Option<Barrier>,
    /// When the first input delivered the pending barrier.
    started: Option<std::time::Instant>,
    held: VecDeque<Held>,
}

impl Alignment {
    /// Alignment over `inputs` channels.
    pub(crate) fn new(inputs: usize) -> Alignment {
        Alignment {
            blocked: vec![false; inputs],
            ended: vec![false; inputs],
            pending: None,
            started: None,
            held: VecDeque::new(),
        }
    }

    /// Whether `input` waits for the other inputs.
    pub(crate) fn is_blocked(&self, input: usize) -> bool {
        self.blocked.get(input).copied().unwrap_or(false)
    }

    /// Holds an element of a blocked input until the barrier is aligned.
    pub(crate) fn hold(&mut self, held: Held) {
        self.held.push_back(held);
    }

    /// Barrier arrived on `input`: returns it once it arrived on every live input.
    pub(crate) fn on_barrier(&mut self, input: usize, barrier: Barrier) -> Option<Barrier> {
        match self.pending {
            Some(pending) if pending != barrier => {
                // An input cannot overtake another's barrier: a different id means the older
                // checkpoint was abandoned. Align on the newer one.
                tracing::warn!("barrier {barrier:?} while aligning {pending:?}: realigning");
                self.pending = Some(barrier);
                self.blocked.iter_mut().for_each(|b| *b = false);
            }
            Some(_) => {}
            None => {
                self.pending = Some(barrier);
                self.started = Some(std::time::Instant::now());
            }
        }
        if let Some(b) = self.blocked.get_mut(input) {
            *b = true;
        }
        self.aligned()
    }

    /// `input` ended: it no longer takes part (which may complete an alignment).
    pub(crate) fn on_end(&mut self, input: usize) -> Option<Barrier> {
        if let Some(e) = self.ended.get_mut(input) {
            *e = true;
        }
        self.pending?;
        self.aligned()
    }

    fn aligned(&mut self) -> Option<Barrier> {
        let pending = self.pending?;
        let all = self
            .blocked
            .iter()
            .zip(&self.ended)
            .all(|(blocked, ended)| *blocked || *ended);
        if !all {
            return None;
        }
        self.pending = None;
        Some(pending)
    }

    /// How long the alignment that just completed took (zero for a single input).
    pub(crate) fn take_duration(&mut self) -> std::time::Duration {
        self.started
            .take()
            .map_or_else(Default::default, |t| t.elapsed())
    }

    /// Unblocks every input and hands back what was held, in arrival order.
    pub(crate) fn release(&mut self) -> VecDeque<Held> {
        self.blocked.iter_mut().for_each(|b| *b = false);
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests;

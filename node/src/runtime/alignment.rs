//! Barrier alignment for a task with several input channels (DESIGN.md §5, step 3).
//!
//! After barrier `n` arrives on an input, that input is blocked: its later elements are held
//! here, each with its channel credit, so the sender gets no new credit and at most
//! `CHANNEL_CREDITS` elements are ever held per input. Once barrier `n` arrived on every input
//! that has not ended, the task snapshots, forwards the barrier and replays what was held.
//!
//! A barrier newer than the one being aligned means that checkpoint was abandoned (an input
//! never delivered it): the alignment is given up, what was held is replayed first (so each
//! input keeps its order), and the newer barrier aligns afresh. A barrier older than the one
//! being aligned belongs to an abandoned checkpoint and is dropped.

use super::credit::Credit;
use quiver_protocol::{Barrier, StreamElement};
use std::collections::VecDeque;

/// An element held back while its input is blocked.
pub(crate) struct Held {
    pub(crate) input: usize,
    pub(crate) element: StreamElement,
    pub(crate) credit: Credit,
}

/// What a barrier arriving on an input leads to.
pub(crate) enum OnBarrier {
    /// Inputs that have not delivered it yet are still awaited (or it was an abandoned
    /// checkpoint's barrier, dropped).
    Waiting,
    /// It arrived on every live input: complete it, then replay what was held.
    Aligned(Barrier),
    /// It is newer than the barrier being aligned, whose alignment was given up: replay
    /// these held elements in order, then offer the barrier again.
    Abandoned(VecDeque<Held>),
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
        #[cfg(feature = "chaos")]
        if crate::chaos::alignment_broken() {
            return false;
        }
        self.blocked.get(input).copied().unwrap_or(false)
    }

    /// Holds an element of a blocked input until the barrier is aligned.
    pub(crate) fn hold(&mut self, held: Held) {
        self.held.push_back(held);
    }

    /// Barrier arrived on `input` (which is not blocked).
    pub(crate) fn on_barrier(&mut self, input: usize, barrier: Barrier) -> OnBarrier {
        match self.pending {
            Some(pending) if barrier.checkpoint > pending.checkpoint => {
                // An input cannot overtake another's barrier: a newer one means the pending
                // checkpoint was abandoned. Its held elements go first, in order.
                tracing::warn!("barrier {barrier:?} while aligning {pending:?}: realigning");
                self.pending = None;
                self.started = None;
                return OnBarrier::Abandoned(self.release());
            }
            Some(pending) if barrier.checkpoint < pending.checkpoint => {
                tracing::warn!("barrier {barrier:?} while aligning {pending:?}: dropped");
                return OnBarrier::Waiting;
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
            .map_or(OnBarrier::Waiting, OnBarrier::Aligned)
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

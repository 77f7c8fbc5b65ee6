//! Credit-based flow control shared by local and remote channels.
//!
//! A receiver grants a fixed number of credits per input channel: the batches (stream
//! elements) it is ready to hold. A sender spends one credit per element and waits when it has
//! none; the receiver returns a credit when it has processed the element. So at most
//! `CHANNEL_CREDITS` elements are ever queued on one channel, and a slow consumer slows its
//! producers down to the sources instead of growing memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Credits (queued elements) each input channel grants its sender. A source's read sends
/// two (a batch and a watermark): at 8, four reads were in flight between two nodes, and W1
/// on two nodes slept for credits twice as often, at ~13% more CPU (BENCHMARKS.md).
pub const CHANNEL_CREDITS: u32 = 16;

/// How many elements are queued on one input channel now, and the most ever.
#[derive(Debug, Default)]
pub struct ChannelGauge {
    queued: AtomicU64,
    max_queued: AtomicU64,
}

impl ChannelGauge {
    /// One more element queued for the receiver.
    pub(crate) fn enqueued(&self) {
        let now = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        self.max_queued.fetch_max(now, Ordering::AcqRel);
    }

    /// The most elements ever queued on the channel at once.
    pub fn max_queued(&self) -> u64 {
        self.max_queued.load(Ordering::Acquire)
    }
}

/// How a credit goes back to the sender once the receiver is done with an element.
#[derive(Debug)]
enum Return {
    /// Same node: releasing the permit wakes the sender.
    Local { _permit: OwnedSemaphorePermit },
    /// Other node: the channel's credit writer sends `Credit(n)` frames back.
    Remote(mpsc::UnboundedSender<u32>),
}

/// One credit, travelling with an element to the receiver; dropping it returns the credit.
#[derive(Debug)]
pub struct Credit {
    gauge: Arc<ChannelGauge>,
    ret: Return,
}

impl Credit {
    /// A credit of a same-node channel (the sender holds `permit` of the channel's semaphore).
    pub(crate) fn local(gauge: Arc<ChannelGauge>, permit: OwnedSemaphorePermit) -> Credit {
        gauge.enqueued();
        Credit {
            gauge,
            ret: Return::Local { _permit: permit },
        }
    }

    /// A credit of a channel from another node.
    pub(crate) fn remote(gauge: Arc<ChannelGauge>, returns: mpsc::UnboundedSender<u32>) -> Credit {
        gauge.enqueued();
        Credit {
            gauge,
            ret: Return::Remote(returns),
        }
    }
}

impl Drop for Credit {
    fn drop(&mut self) {
        self.gauge.queued.fetch_sub(1, Ordering::AcqRel);
        if let Return::Remote(returns) = &self.ret {
            // The channel may be gone (job cancelled); then nobody waits for the credit.
            let _ = returns.send(1);
        }
    }
}

#[cfg(test)]
mod tests;

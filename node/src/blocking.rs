//! Blocking I/O off the async workers.
//!
//! Sinks write (standard output, files, fsync, rename) and file sources read with blocking
//! calls. Run plainly on an async worker, a call that blocks — a pipe its reader drains
//! slowly, a slow disk — stalls every other task of that worker, the node's heartbeat and
//! QUIC driver included, and the coordinator declares a healthy but backpressured node lost.
//! [`blocking`] runs such a call with `tokio::task::block_in_place`: the worker first hands
//! its other tasks to another thread, so liveness never shares fate with data work.
//!
//! The hand-off costs a few microseconds and a thread, so callers amortise it: the file sink
//! encodes rows on the task and writes a megabyte at a time. A source reads on the blocking
//! pool instead (`tokio::task::spawn_blocking`, a batch of up to 1,024 records at a time;
//! see `runtime::source_driver`), so its task is free while a read waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `io`, which may block, without stalling the async worker's other tasks. On a
/// single-threaded runtime (unit tests) it runs in place.
pub(crate) fn blocking<T>(io: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(io)
        }
        _ => io(),
    }
}

/// A deployment's cancel as seen by blocking work that waits (a sink waiting for disk space):
/// a kill interrupts a task only at an await, never a thread blocked in [`blocking`], so such
/// work looks at this flag between waits and gives up once it is set.
#[derive(Clone, Debug, Default)]
pub struct Cancellation(Arc<AtomicBool>);

impl Cancellation {
    /// Marks the deployment cancelled.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the deployment was cancelled.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

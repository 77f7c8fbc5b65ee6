//! Fault hooks for `quiver-chaos` (`chaos-tests/`), compiled only with the `chaos` feature
//! and inert unless the process runs with `QUIVER_CHAOS=1`:
//!
//! - **SIGUSR1**: the next task to take an input element panics, as a bug in an operator
//!   would; its ractor supervisor turns the panic into a task failure and the job recovers.
//! - **`QUIVER_CHAOS_BREAK=alignment`**: a deliberately broken build whose tasks never hold
//!   back an input that delivered a barrier, so a snapshot can contain records from after its
//!   barrier. Recovery then counts them twice: the chaos checker must catch it.

use std::sync::atomic::{AtomicBool, Ordering};

static PANIC_NEXT: AtomicBool = AtomicBool::new(false);
static ALIGNMENT_BROKEN: AtomicBool = AtomicBool::new(false);

/// Arms the hooks if `QUIVER_CHAOS=1`: reads `QUIVER_CHAOS_BREAK` and listens for SIGUSR1
/// (needs a tokio runtime).
pub fn install() {
    if std::env::var("QUIVER_CHAOS").as_deref() != Ok("1") {
        return;
    }
    if std::env::var("QUIVER_CHAOS_BREAK").as_deref() == Ok("alignment") {
        tracing::warn!("chaos build: barrier alignment is disabled (QUIVER_CHAOS_BREAK)");
        ALIGNMENT_BROKEN.store(true, Ordering::Relaxed);
    }
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::user_defined1()) {
        Ok(mut signals) => {
            tokio::spawn(async move {
                while signals.recv().await.is_some() {
                    tracing::warn!("chaos: SIGUSR1, the next task input panics");
                    PANIC_NEXT.store(true, Ordering::Relaxed);
                }
            });
        }
        Err(e) => tracing::error!("chaos: cannot listen for SIGUSR1: {e}"),
    }
}

/// Whether a task should panic now (true once per SIGUSR1).
pub(crate) fn take_panic() -> bool {
    PANIC_NEXT.load(Ordering::Relaxed) && PANIC_NEXT.swap(false, Ordering::Relaxed)
}

/// Whether barrier alignment is disabled (`QUIVER_CHAOS_BREAK=alignment`).
pub(crate) fn alignment_broken() -> bool {
    ALIGNMENT_BROKEN.load(Ordering::Relaxed)
}

//! Fault hooks for `quiver-chaos` (`chaos-tests/`), compiled only with the `chaos` feature
//! and inert unless the process runs with `QUIVER_CHAOS=1`:
//!
//! - **SIGUSR2**: the next checkpoint blob is stored with one bit flipped (a disk or memory
//!   fault between the upload and the store). Completing that checkpoint reads its new blobs
//!   back against their checksums, so it fails instead of committing corrupt state.

use std::sync::atomic::{AtomicBool, Ordering};

static CORRUPT_NEXT: AtomicBool = AtomicBool::new(false);

/// Arms the hooks if `QUIVER_CHAOS=1`: listens for SIGUSR2 (needs a tokio runtime).
pub fn install() {
    if std::env::var("QUIVER_CHAOS").as_deref() != Ok("1") {
        return;
    }
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::user_defined2()) {
        Ok(mut signals) => {
            tokio::spawn(async move {
                while signals.recv().await.is_some() {
                    tracing::warn!("chaos: SIGUSR2, the next checkpoint blob is stored corrupt");
                    CORRUPT_NEXT.store(true, Ordering::Relaxed);
                }
            });
        }
        Err(e) => tracing::error!("chaos: cannot listen for SIGUSR2: {e}"),
    }
}

/// `bytes` as they should be stored: with one bit flipped once per SIGUSR2.
pub(crate) fn maybe_corrupt(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !bytes.is_empty()
        && CORRUPT_NEXT.load(Ordering::Relaxed)
        && CORRUPT_NEXT.swap(false, Ordering::Relaxed)
    {
        let mut copy = bytes.to_vec();
        copy[bytes.len() / 2] ^= 0x10;
        return copy.into();
    }
    bytes.into()
}

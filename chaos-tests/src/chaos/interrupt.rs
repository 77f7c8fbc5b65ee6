//! Ctrl-C (SIGINT), SIGTERM and SIGHUP stop a chaos run early and cleanly. The handler only
//! records the signal; the run looks at it between steps, stops injecting, and returns, so
//! the guards it holds kill the cluster's processes and remove its network namespaces and
//! `tmpfs` mounts as they drop. Killed outright (SIGKILL), a run leaves them for the next run
//! to remove (`super::leftovers`).

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The signals that stop a run, with their names.
const SIGNALS: [(i32, &str); 3] = [
    (libc::SIGINT, "SIGINT"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGHUP, "SIGHUP"),
];

/// From now on the signals of [`SIGNALS`] are recorded instead of ending the process.
pub(super) fn install() -> std::io::Result<()> {
    for (signal, _) in SIGNALS {
        // SAFETY: the action only stores to an atomic, which is async-signal-safe.
        #[allow(unsafe_code)]
        unsafe {
            signal_hook_registry::register(signal, move || {
                RECEIVED.store(signal, Ordering::Relaxed);
            })?;
        }
    }
    Ok(())
}

/// The signal that stopped the run, if one came: its name and number.
pub(super) fn received() -> Option<(&'static str, i32)> {
    let signal = RECEIVED.load(Ordering::Relaxed);
    SIGNALS
        .iter()
        .find(|(s, _)| *s == signal)
        .map(|&(s, name)| (name, s))
}

/// Sleeps for `duration`, or less when a signal comes.
pub(super) fn sleep(duration: Duration) {
    let end = Instant::now() + duration;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || received().is_some() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_is_recorded_and_cuts_a_sleep_short() {
        install().unwrap();
        assert_eq!(received(), None);
        // SAFETY: raising a signal this process handles.
        #[allow(unsafe_code)]
        let raised = unsafe { libc::raise(libc::SIGTERM) };
        assert_eq!(raised, 0);
        assert_eq!(received(), Some(("SIGTERM", libc::SIGTERM)));
        let start = Instant::now();
        sleep(Duration::from_secs(30));
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

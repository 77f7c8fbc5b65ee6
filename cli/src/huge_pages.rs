//! Transparent huge pages (THP) are off for a `quiver` process unless the environment sets
//! `MIMALLOC_ALLOW_THP` (mimalloc's own switch: `1` keeps them, `0` turns them off as here).
//!
//! mimalloc asks the kernel for huge pages (`MADV_HUGEPAGE`) on its large regions. Each
//! first touch of such a region then faults in and zeroes 2 MiB at once: one stall of the
//! touching task of about 5 ms on the 2-core VM of `BENCHMARKS.md` (400 MB in 0.54–0.97 s of
//! system time, against 0.16 s in 4 KiB pages), a latency spike on the data path, and with
//! the kernel's `defrag` setting possibly a compaction too. Databases and caches that keep
//! state in memory advise the same (Redis, MongoDB). Measured on W1 (`BENCHMARKS.md`, "Huge
//! pages off"): at 10M keys 8–11% less CPU, at 100k keys the same CPU and a third of the
//! resident memory.

/// Turns transparent huge pages off for this process and the processes it starts, unless
/// `MIMALLOC_ALLOW_THP` is set. A kernel without the switch leaves them as they are.
pub(crate) fn turn_off_unless_asked() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    // SAFETY: `prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0)` reads no memory of ours: it only sets a
    // flag of the process's address space.
    #[allow(unsafe_code)]
    let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if result != 0 {
        // Only a kernel older than 3.15 lacks it; nothing changes then.
        eprintln!(
            "quiver: transparent huge pages stay on ({})",
            std::io::Error::last_os_error()
        );
    }
}

//! The global allocator: mimalloc (as the `quiver` binary), counting allocations when the
//! feature `count-allocs` is on.

#[cfg(not(feature = "count-allocs"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Allocations (`alloc` + `realloc` calls) and bytes requested so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Bytes requested by them.
    pub bytes: u64,
}

#[cfg(feature = "count-allocs")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    pub(super) static ALLOCS: AtomicU64 = AtomicU64::new(0);
    pub(super) static BYTES: AtomicU64 = AtomicU64::new(0);

    pub(super) struct Counting;

    // SAFETY: every call is passed unchanged to mimalloc; only counters are added.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(l.size() as u64, Relaxed);
            unsafe { mimalloc::MiMalloc.alloc(l) }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(l.size() as u64, Relaxed);
            unsafe { mimalloc::MiMalloc.alloc_zeroed(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { mimalloc::MiMalloc.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            ALLOCS.fetch_add(1, Relaxed);
            BYTES.fetch_add(new as u64, Relaxed);
            unsafe { mimalloc::MiMalloc.realloc(p, l, new) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// The counts so far (zero without the feature).
#[inline]
pub fn now() -> Count {
    #[cfg(feature = "count-allocs")]
    {
        use std::sync::atomic::Ordering::Relaxed;
        Count {
            allocs: counting::ALLOCS.load(Relaxed),
            bytes: counting::BYTES.load(Relaxed),
        }
    }
    #[cfg(not(feature = "count-allocs"))]
    Count::default()
}

/// Whether allocations are counted in this build.
pub const COUNTING: bool = cfg!(feature = "count-allocs");

//! The threads each pool's tasks run on (design §4, "Resource isolation").
//!
//! Tasks of the default pool run on the node's own async runtime, as they always did. Every
//! other pool gets a runtime of its own, started on first use, with as many worker threads as
//! the node's runtime and threads named `quiver-POOL` (`quiver-serving`, `quiver-training`):
//! a task's actor, its blocking reads and writes and anything it spawns stay on its pool's
//! threads, so a busy pool cannot queue another pool's tasks behind its own. The threads of a
//! low-priority pool (`training`) lower their OS scheduling priority to [`LOW_PRIORITY_NICE`]
//! as they start, so under CPU overload the kernel runs serving work first and training takes
//! what is left.

use quiver_protocol::Pool;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use tokio::runtime::Handle;

/// The nice value of a low-priority pool's threads: the lowest priority, so they get about
/// 1.5% of a core against a busy thread at the default priority (0), and all of an idle one.
pub const LOW_PRIORITY_NICE: i32 = 19;

/// The runtimes of a node's pools other than the default one, started on first use.
#[derive(Default)]
pub struct PoolThreads {
    runtimes: Mutex<BTreeMap<Pool, PoolRuntime>>,
}

/// A pool's runtime; shut down without waiting when the node drops it (a runtime dropped
/// inside another runtime's worker would otherwise panic).
struct PoolRuntime(Option<tokio::runtime::Runtime>);

impl Drop for PoolRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl PoolThreads {
    /// Runs `work` to its end on `pool`'s threads (the default pool: here, on the caller's
    /// runtime), so whatever it spawns — a task's actor — runs there too.
    pub async fn run<F>(&self, pool: Pool, work: F) -> std::io::Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if pool == Pool::Default {
            return Ok(work.await);
        }
        let handle = self.handle(pool)?;
        handle.spawn(work).await.map_err(std::io::Error::other)
    }

    /// The handle of `pool`'s runtime, started now if it was not.
    fn handle(&self, pool: Pool) -> std::io::Result<Handle> {
        let mut runtimes = self.runtimes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(PoolRuntime(Some(runtime))) = runtimes.get(&pool) {
            return Ok(runtime.handle().clone());
        }
        let threads = Handle::try_current().map_or(1, |h| h.metrics().num_workers().max(1));
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(threads)
            .thread_name(format!("quiver-{pool}"))
            .enable_all();
        if pool.is_low_priority() {
            builder.on_thread_start(lower_priority);
        }
        let runtime = builder.build()?;
        let handle = runtime.handle().clone();
        tracing::info!(
            "pool {pool}: {threads} worker thread(s){}",
            if pool.is_low_priority() {
                format!(" at nice {LOW_PRIORITY_NICE}")
            } else {
                String::new()
            }
        );
        runtimes.insert(pool, PoolRuntime(Some(runtime)));
        Ok(handle)
    }
}

/// Lowers the calling thread's scheduling priority to [`LOW_PRIORITY_NICE`] (on Linux, nice
/// is per thread). Where that is refused the thread runs at the default priority, with a
/// warning: slower serving under overload, nothing wrong.
fn lower_priority() {
    let thread = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(thread), LOW_PRIORITY_NICE) {
        tracing::warn!("cannot lower the priority of a low-priority pool's thread: {e}");
    }
}

#[cfg(test)]
mod tests;

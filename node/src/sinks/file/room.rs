//! Riding out a full disk: a part file's write that fails for want of space (`ENOSPC`, or a
//! quota) is undone and tried again until the file system has room, instead of failing the
//! task.
//!
//! Failing would restart the job from its last checkpoint into the same full disk, again and
//! again, each restart waiting longer (the coordinator's back-off) and using up the restarts
//! a job gets without a completed checkpoint — a full disk lasting a minute would fail the
//! job for good, and a disk freed again would be noticed only at the next back-off tick.
//! Waiting instead holds the task still: its inputs back up (credit), checkpoints expire and
//! are taken again later, nothing is lost, and the write goes through within
//! [`RETRY_EVERY`] of space coming back.
//!
//! Only `write` is retried, after truncating what it wrote in part. A failed `fsync` is not:
//! the kernel may have dropped the dirty pages it could not write, so the file's content is
//! unknown and the task fails (the recovery writes it anew).

use crate::blocking::Cancellation;
use std::fs::File;
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often a write waiting for room is tried again.
pub const RETRY_EVERY: Duration = Duration::from_millis(100);

/// How often a write still waiting says so in the log.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// A file written at its end that can be cut back to a length.
pub trait Appendable: Write {
    /// Cuts the file to its first `len` bytes and writes on from there.
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()>;
}

impl Appendable for File {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

/// Whether `e` means the file system (or the user's quota on it) is full.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

/// Appends `bytes` to `file` (named `path`, `len` bytes long, `len` then updated), waiting
/// while its file system is full: a failed attempt is cut back to `len` and tried again every
/// [`RETRY_EVERY`]. Gives up with an error on any other failure, or once `cancelled` (the
/// deployment was cancelled while it waited).
pub fn append_waiting_for_room(
    file: &mut impl Appendable,
    len: &mut u64,
    bytes: &[u8],
    path: &Path,
    cancelled: &Cancellation,
) -> std::io::Result<()> {
    let mut waiting: Option<(Instant, Instant)> = None;
    loop {
        match file.write_all(bytes) {
            Ok(()) => break,
            Err(e) if is_full(&e) => {
                file.truncate_to(*len)?;
                let now = Instant::now();
                match &mut waiting {
                    None => {
                        tracing::warn!(
                            "{}: {e}; the task waits until the file system has room (free space there to resume; nothing is lost)",
                            path.display()
                        );
                        waiting = Some((now, now));
                    }
                    Some((since, told)) if now.duration_since(*told) >= REMIND_EVERY => {
                        tracing::warn!(
                            "{}: still no room after {} s; the task waits",
                            path.display(),
                            since.elapsed().as_secs()
                        );
                        *told = now;
                    }
                    Some(_) => {}
                }
                if cancelled.is_cancelled() {
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("{e} (cancelled while waiting for room)"),
                    ));
                }
                std::thread::sleep(RETRY_EVERY);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some((since, _)) = waiting {
        tracing::info!(
            "{}: written after waiting {} ms for room",
            path.display(),
            since.elapsed().as_millis()
        );
    }
    *len += bytes.len() as u64;
    Ok(())
}

#[cfg(test)]
mod tests;

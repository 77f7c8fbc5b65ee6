//! Disk faults: a folder on its own `tmpfs` (root only) that can be made full (`ENOSPC` for
//! every write that needs room) and healed. (A read-only remount, for `EROFS`, is refused
//! while the processes hold files open for writing, and this machine has no device mapper
//! for failing block devices: a full disk is the disk fault here.)
//!
//! A `tmpfs` is made full by shrinking its size to a little more than it holds, then filling
//! that little with a filler file: its limit can so be a share of the machine's memory (taken
//! only as the job writes) instead of a small fixed one that a long or fast run fills by
//! itself, and a fault writes megabytes, not the whole limit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The filler's name: dot-prefixed, so sinks and checkers skip it.
const FILLER: &str = ".chaos-filler";

/// The room [`Tmpfs::fill`] first leaves above what the file system holds when it shrinks
/// it (a remount below what it holds is refused, and the job writes meanwhile); doubled at
/// each refusal.
const FIRST_SLACK_KIB: u64 = 1024;

/// How many shrinks [`Tmpfs::fill`] tries (the last with 2^19 × the first slack: 512 GiB).
const FILL_ATTEMPTS: u32 = 20;

/// A `tmpfs` mounted on a folder; unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
    /// The size it was mounted with (`tmpfs`'s `size=` option), restored by [`Tmpfs::heal`].
    size: String,
}

fn run(args: &[&str]) -> std::io::Result<String> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(std::io::Error::other(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Tmpfs {
    /// Mounts a `tmpfs` of `size` (`tmpfs`'s `size=` option: `512m`, or `40%` of the
    /// machine's memory) on `dir`, creating it.
    pub fn mount(dir: &Path, size: &str) -> std::io::Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let options = format!("size={size}");
        run(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &options,
            "tmpfs",
            &dir.to_string_lossy(),
        ])?;
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
            size: size.to_string(),
        })
    }

    /// Kibibytes the file system holds now and kibibytes free (`stat -f`).
    fn space_kib(&self) -> std::io::Result<(u64, u64)> {
        let text = run(&["stat", "-f", "-c", "%S %b %f", &self.dir.to_string_lossy()])?;
        let numbers: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| std::io::Error::other(format!("`stat -f` printed {text:?}: {e}")))?;
        match numbers[..] {
            [block, blocks, free] => Ok(((blocks - free) * block / 1024, free * block / 1024)),
            _ => Err(std::io::Error::other(format!("`stat -f` printed {text:?}"))),
        }
    }

    /// Whether no room is left (a write that needs a new page fails).
    pub fn is_full(&self) -> std::io::Result<bool> {
        Ok(self.space_kib()?.1 == 0)
    }

    /// Makes the file system full: its size shrinks to a little more than it holds, and a
    /// filler file takes that little until a write fails for want of room.
    pub fn fill(&self) -> std::io::Result<()> {
        let dir = self.dir.to_string_lossy();
        let mut slack = FIRST_SLACK_KIB;
        for attempt in 1..=FILL_ATTEMPTS {
            let options = format!("remount,size={}k", self.space_kib()?.0 + slack);
            match run(&["mount", "-o", &options, &dir]) {
                Ok(_) => break,
                Err(e) if attempt == FILL_ATTEMPTS => return Err(e),
                Err(_) => slack *= 2,
            }
        }
        let mut file = std::fs::File::create(self.dir.join(FILLER))?;
        let chunk = vec![0u8; 64 << 10];
        loop {
            if let Err(e) = file.write_all(&chunk) {
                return if e.raw_os_error() == Some(28) {
                    Ok(())
                } else {
                    Err(e)
                };
            }
        }
    }

    /// Undoes [`Tmpfs::fill`]: the size it was mounted with, and no filler.
    pub fn heal(&self) -> std::io::Result<()> {
        let options = format!("remount,size={}", self.size);
        run(&["mount", "-o", &options, &self.dir.to_string_lossy()])?;
        match std::fs::remove_file(self.dir.join(FILLER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process of the run may still hold a file open there.
        if let Err(e) = run(&["umount", "-l", &self.dir.to_string_lossy()]) {
            eprintln!("chaos: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `bytes` into a new file `name` in `dir`, flushed to the file system.
    fn write(dir: &Path, name: &str, bytes: usize) -> std::io::Result<()> {
        let mut file = std::fs::File::create(dir.join(name))?;
        file.write_all(&vec![7u8; bytes])?;
        file.sync_all()
    }

    /// Needs root, as the chaos suite does (a `tmpfs` to mount).
    #[test]
    fn a_filled_tmpfs_refuses_writes_until_healed_and_keeps_its_files() {
        let base = tempfile::tempdir().expect("a temporary folder");
        let dir = base.path().join("disk");
        let disk = Tmpfs::mount(&dir, "64m").expect("mount a tmpfs (needs root)");
        write(&dir, "before", 3 << 20).expect("room before the fault");
        assert!(!disk.is_full().expect("stat"));

        disk.fill().expect("fill");
        assert!(disk.is_full().expect("stat"));
        let refused = write(&dir, "during", 1 << 20).expect_err("a full disk");
        assert_eq!(refused.raw_os_error(), Some(28), "ENOSPC: {refused}");
        assert_eq!(
            std::fs::metadata(dir.join("before")).expect("kept").len(),
            3 << 20
        );

        disk.heal().expect("heal");
        assert!(!disk.is_full().expect("stat"));
        write(&dir, "after", 32 << 20).expect("the whole size again after healing");
    }

    /// A job writing flat out while the fault comes: the shrink races its writes, and the
    /// fault still lands (with the shrink alone, 20 of 20 remounts were refused beside `dd`, and
    /// every one beside this writer).
    #[test]
    fn a_tmpfs_is_filled_while_a_writer_writes_flat_out() {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let base = tempfile::tempdir().expect("a temporary folder");
        let dir = base.path().join("disk");
        let disk = Tmpfs::mount(&dir, "1g").expect("mount a tmpfs (needs root)");
        let (written, refused) = (AtomicU64::new(0), AtomicBool::new(false));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut file = std::fs::File::create(dir.join("out")).expect("create");
                let chunk = vec![1u8; 64 << 10];
                // At most 512 MB, so a fault that never lands ends the test too.
                while written.load(Ordering::Relaxed) < 512 << 20 {
                    match file.write_all(&chunk) {
                        Ok(()) => written.fetch_add(chunk.len() as u64, Ordering::Relaxed),
                        Err(_) => return refused.store(true, Ordering::Relaxed),
                    };
                    // ~0.5 GB/s at most: far above any job's output, and 512 MB outlast a
                    // fill on a loaded machine.
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            });
            while written.load(Ordering::Relaxed) < 16 << 20 {
                std::thread::yield_now();
            }
            disk.fill().expect("fill beside a writer");
        });
        assert!(
            refused.load(Ordering::Relaxed),
            "the writer was never refused"
        );
        assert!(disk.is_full().expect("stat"));
        disk.heal().expect("heal");
        write(&dir, "after", 32 << 20).expect("room again after healing");
    }
}

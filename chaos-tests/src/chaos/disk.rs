//! Disk faults: a folder on its own `tmpfs` (root only) that can be made full (`ENOSPC` for
//! every write that needs room) and healed. (A read-only remount, for `EROFS`, is refused
//! while the processes hold files open for writing, and this machine has no device mapper
//! for failing block devices: a full disk is the disk fault here.)
//!
//! A `tmpfs` is made full by shrinking its size to what it holds, not by writing a filler
//! file: nothing is written, so its size can be a share of the machine's memory (taken only
//! as the job writes) instead of a small fixed one that a long or fast run fills by itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// How many times [`Tmpfs::fill`] reads what the file system holds and shrinks it to that:
/// a remount below what it holds is refused, and the job may write in between.
const FILL_ATTEMPTS: usize = 100;

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

    /// Kibibytes the file system holds now (`stat -f`: blocks in all less blocks free).
    fn used_kib(&self) -> std::io::Result<u64> {
        let text = run(&["stat", "-f", "-c", "%S %b %f", &self.dir.to_string_lossy()])?;
        let numbers: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| std::io::Error::other(format!("`stat -f` printed {text:?}: {e}")))?;
        match numbers[..] {
            [block, blocks, free] => Ok((blocks - free) * block / 1024),
            _ => Err(std::io::Error::other(format!("`stat -f` printed {text:?}"))),
        }
    }

    /// Whether no room is left (a write that needs a new page fails).
    pub fn is_full(&self) -> std::io::Result<bool> {
        let text = run(&["stat", "-f", "-c", "%f", &self.dir.to_string_lossy()])?;
        Ok(text.trim() == "0")
    }

    /// Makes the file system full: its size shrinks to what it holds (at least a page:
    /// `size=0` would mean no limit).
    pub fn fill(&self) -> std::io::Result<()> {
        let dir = self.dir.to_string_lossy();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let options = format!("remount,size={}k", self.used_kib()?.max(4));
            match run(&["mount", "-o", &options, &dir]) {
                Ok(_) => return Ok(()),
                Err(e) if attempt == FILL_ATTEMPTS => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// Undoes [`Tmpfs::fill`]: the size it was mounted with.
    pub fn heal(&self) -> std::io::Result<()> {
        let options = format!("remount,size={}", self.size);
        run(&["mount", "-o", &options, &self.dir.to_string_lossy()]).map(drop)
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
    use std::io::Write;

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
}

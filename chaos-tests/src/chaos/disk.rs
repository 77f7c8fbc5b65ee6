//! Disk faults: a folder on its own `tmpfs` (root only) that can be filled to the last byte
//! (`ENOSPC` for every write) and healed. (A read-only remount, for `EROFS`, is refused
//! while the processes hold files open for writing, and this machine has no device mapper
//! for failing block devices: a full disk is the disk fault here.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The filler's name: dot-prefixed, so sinks and checkers skip it.
const FILLER: &str = ".chaos-filler";

/// A `tmpfs` mounted on a folder; unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

fn mount_cmd(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new(args[0]).args(&args[1..]).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

impl Tmpfs {
    /// Mounts a `tmpfs` of `size` (e.g. `512m`) on `dir`, creating it.
    pub fn mount(dir: &Path, size: &str) -> std::io::Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let dir_text = dir.to_string_lossy();
        mount_cmd(&[
            "mount",
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "tmpfs",
            &dir_text,
        ])?;
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    /// Fills the file system until a write fails for want of space.
    pub fn fill(&self) -> std::io::Result<()> {
        let mut file = std::fs::File::create(self.dir.join(FILLER))?;
        let chunk = vec![0u8; 1 << 20];
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

    /// Remounts it read-only (`read_only`) or read-write.
    pub fn set_read_only(&self, read_only: bool) -> std::io::Result<()> {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        mount_cmd(&["mount", "-o", mode, &self.dir.to_string_lossy()])
    }

    /// Undoes [`Tmpfs::fill`] and [`Tmpfs::set_read_only`].
    pub fn heal(&self) -> std::io::Result<()> {
        self.set_read_only(false)?;
        match std::fs::remove_file(self.dir.join(FILLER)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a process of the run may still hold a file open there.
        if let Err(e) = mount_cmd(&["umount", "-l", &self.dir.to_string_lossy()]) {
            eprintln!("chaos: {e}");
        }
    }
}

//! The `file` sink: a folder of JSON-lines part files. Readers take only names that do not
//! start with `.`, so a published file is always complete.
//!
//! **Without checkpoints** partition `p` writes `DIR/.part-{p}-{n}.jsonl.inprogress` and, on
//! [`Sink::finish`], renames it to `DIR/part-{p}-{n}.jsonl`. `n` is the first number for which
//! neither name exists yet, so a sink never overwrites earlier output.
//!
//! **With checkpoints** (exactly-once) the sink takes part in a two-phase commit, named by the
//! job's generation `g` and the checkpoint `c` (see [`two_phase`] for the recovery rule):
//! - records go to `DIR/.part-{p}-g{g}.inprogress`;
//! - at barrier `c` ([`Sink::prepare_commit`]) that file is flushed, synced and renamed to the
//!   staged name `DIR/.staged-g{g}-c{c}-p{p}.jsonl` (nothing is staged when nothing was
//!   written);
//! - when checkpoint `c` completed ([`Sink::commit`]) every file this sink staged up to `c` is
//!   renamed to its published name `DIR/part-{p}-g{g}-c{c}.jsonl` and the folder is synced;
//! - [`Sink::finish`] publishes nothing: the runtime sends a final barrier before the end, and
//!   its commit publishes the rest. Records written after that barrier are a runtime bug and
//!   make `finish` fail.
//!
//! The folder is created if missing; an in-progress file is created at the first record, so a
//! partition that wrote nothing publishes nothing. With checkpoints the folder belongs to one
//! job: recovery deletes the hidden files of other generations.

pub mod ownership;
pub mod room;
pub mod two_phase;

use super::json::JsonEncoder;
use super::SinkContext;
use crate::blocking::{blocking, Cancellation};
use crate::operator::{OperatorError, Sink};
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::OutputMode;
use quiver_protocol::{CheckpointId, Schema};
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use two_phase::Transaction;

/// The published name of part `n` of partition `partition` (without checkpoints).
pub fn part_file_name(partition: u32, n: u64) -> String {
    format!("part-{partition}-{n}.jsonl")
}

/// The in-progress name of part `n` of partition `partition` (without checkpoints).
pub fn in_progress_file_name(partition: u32, n: u64) -> String {
    format!(".part-{partition}-{n}.jsonl.inprogress")
}

/// Writes JSON lines into an in-progress part file, published on finish (without checkpoints)
/// or per completed checkpoint (with them).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    partition: u32,
    encoder: JsonEncoder,
    /// The open in-progress file.
    current: Option<OpenFile>,
    /// `None`: publish on finish; `Some`: two-phase commit per checkpoint.
    transaction: Option<Transaction>,
    /// The run owning the folder: checked before every publish.
    run: u64,
    /// The deployment's cancel, which ends a wait for room.
    cancelled: Cancellation,
}

/// Encoded rows are written to the file once this many bytes are pending.
const WRITE_BYTES: usize = 1 << 20;

/// An in-progress file being written: rows are encoded into `pending` on the task, and
/// written to the file off the async workers ([`blocking`]) a megabyte at a time, waiting
/// while the disk is full ([`room`]).
#[derive(Debug)]
struct OpenFile {
    file: File,
    /// Bytes written to `file` so far.
    len: u64,
    pending: Vec<u8>,
    path: PathBuf,
    /// The part number (without checkpoints; 0 with them).
    part: u64,
    /// The deployment's cancel, which ends a wait for room.
    cancelled: Cancellation,
}

impl OpenFile {
    /// Creates `path`, which must not exist yet.
    fn create(
        path: PathBuf,
        part: u64,
        cancelled: Cancellation,
    ) -> Result<OpenFile, OperatorError> {
        let file = blocking(|| File::options().write(true).create_new(true).open(&path))
            .map_err(|e| OperatorError::Io(format!("cannot create {}: {e}", path.display())))?;
        Ok(OpenFile {
            file,
            len: 0,
            pending: Vec::with_capacity(WRITE_BYTES + (64 << 10)),
            path,
            part,
            cancelled,
        })
    }

    fn write_error(&self, e: std::io::Error) -> OperatorError {
        OperatorError::Io(format!("cannot write {}: {e}", self.path.display()))
    }

    /// Writes what is pending, waiting while the disk is full (on the calling thread).
    fn write_pending(&mut self) -> std::io::Result<()> {
        room::append_waiting_for_room(
            &mut self.file,
            &mut self.len,
            &self.pending,
            &self.path,
            &self.cancelled,
        )?;
        self.pending.clear();
        Ok(())
    }

    /// Writes what is pending once it reaches [`WRITE_BYTES`].
    fn write_if_full(&mut self) -> Result<(), OperatorError> {
        if self.pending.len() < WRITE_BYTES {
            return Ok(());
        }
        blocking(|| self.write_pending()).map_err(|e| self.write_error(e))
    }

    /// Writes what is pending and syncs the file to disk; returns its path.
    fn close(mut self) -> Result<PathBuf, OperatorError> {
        blocking(|| {
            self.write_pending()?;
            self.file.sync_data()
        })
        .map_err(|e| self.write_error(e))?;
        Ok(self.path)
    }
}

impl FileSink {
    /// The partition of sink `sink` described by `ctx`, writing rows of `input` into folder
    /// `dir` (created if missing). It claims the folder for its run first ([`ownership`],
    /// `mode` deciding what happens to another run's output there); with `ctx.exactly_once`
    /// it then recovers the folder from `ctx.restored` ([`two_phase`]).
    pub fn new(
        dir: &Path,
        sink: &str,
        mode: OutputMode,
        input: &Schema,
        ctx: &SinkContext,
    ) -> Result<FileSink, OperatorError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            let message = format!("cannot create output folder {}: {e}", dir.display());
            match e.kind() {
                // The path itself is wrong: no retry can create it.
                ErrorKind::PermissionDenied
                | ErrorKind::ReadOnlyFilesystem
                | ErrorKind::NotADirectory
                | ErrorKind::AlreadyExists => {
                    OperatorError::Config(format!("{message}; choose another path for the sink"))
                }
                _ => OperatorError::Io(message),
            }
        })?;
        ownership::claim(dir, sink, mode, ctx)?;
        let transaction = if ctx.exactly_once {
            Some(Transaction::recover(dir, ctx)?)
        } else {
            None
        };
        Ok(FileSink {
            dir: dir.to_path_buf(),
            partition: ctx.partition,
            encoder: JsonEncoder::new(input),
            current: None,
            transaction,
            run: ctx.run,
            cancelled: ctx.cancelled.clone(),
        })
    }

    fn open(&self) -> Result<OpenFile, OperatorError> {
        if let Some(transaction) = &self.transaction {
            return OpenFile::create(
                transaction.open_path(&self.dir, self.partition),
                0,
                self.cancelled.clone(),
            );
        }
        let mut n = 0;
        loop {
            let committed = self.dir.join(part_file_name(self.partition, n));
            let in_progress = self.dir.join(in_progress_file_name(self.partition, n));
            if !committed.exists() && !in_progress.exists() {
                return OpenFile::create(in_progress, n, self.cancelled.clone());
            }
            n += 1;
        }
    }
}

impl Sink for FileSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        let open = match &mut self.current {
            Some(open) => open,
            None => self.current.insert(self.open()?),
        };
        self.encoder.encode_lines(batch, &mut open.pending);
        open.write_if_full()
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        if self.transaction.is_some() {
            return Err(OperatorError::Io(format!(
                "records after the final barrier: {} holds output no checkpoint covers",
                open.path.display()
            )));
        }
        ownership::ensure_owner(&self.dir, self.run)?;
        let committed = self.dir.join(part_file_name(self.partition, open.part));
        let staged = open.close()?;
        blocking(|| std::fs::rename(&staged, &committed)).map_err(|e| {
            OperatorError::Io(format!(
                "cannot publish {} as {}: {e}",
                staged.display(),
                committed.display()
            ))
        })
    }

    fn prepare_commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        let Some(transaction) = &mut self.transaction else {
            return Ok(());
        };
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        let written = open.close()?;
        blocking(|| transaction.stage(&self.dir, self.partition, &written, checkpoint))
    }

    fn commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        match &mut self.transaction {
            Some(transaction) => {
                blocking(|| transaction.commit(&self.dir, self.partition, checkpoint))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

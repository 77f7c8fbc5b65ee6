//! The `file` sink: a folder of JSON-lines part files.
//!
//! Partition `p` writes `DIR/.part-{p}-{n}.jsonl.inprogress` and, on [`Sink::finish`], renames
//! it to `DIR/part-{p}-{n}.jsonl`: readers take only names that do not start with `.`, so a
//! committed file is always complete. `n` is the first number for which neither name exists
//! yet, so a sink never overwrites earlier output. The folder is created if missing; the
//! in-progress file is created at the first record, so a partition that wrote nothing
//! publishes nothing.

use super::json::JsonEncoder;
use crate::operator::{OperatorError, Sink};
use quiver_protocol::{Record, Schema};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The committed name of part `n` of partition `partition`.
pub fn part_file_name(partition: u32, n: u64) -> String {
    format!("part-{partition}-{n}.jsonl")
}

/// The in-progress name of part `n` of partition `partition`.
pub fn in_progress_file_name(partition: u32, n: u64) -> String {
    format!(".part-{partition}-{n}.jsonl.inprogress")
}

/// Writes JSON lines into an in-progress part file, published on finish.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    partition: u32,
    encoder: JsonEncoder,
    buf: Vec<u8>,
    /// The open in-progress file and its part number.
    current: Option<(BufWriter<File>, u64)>,
}

impl FileSink {
    /// A sink for partition `partition` writing rows of `input` into folder `dir` (created if
    /// missing).
    pub fn new(dir: &Path, input: &Schema, partition: u32) -> Result<FileSink, OperatorError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            OperatorError::Io(format!(
                "cannot create output folder {}: {e}",
                dir.display()
            ))
        })?;
        Ok(FileSink {
            dir: dir.to_path_buf(),
            partition,
            encoder: JsonEncoder::new(input),
            buf: Vec::with_capacity(64 << 10),
            current: None,
        })
    }

    fn open(&self) -> Result<(BufWriter<File>, u64), OperatorError> {
        let mut n = 0;
        loop {
            let committed = self.dir.join(part_file_name(self.partition, n));
            let staged = self.dir.join(in_progress_file_name(self.partition, n));
            if !committed.exists() && !staged.exists() {
                let file = File::options()
                    .write(true)
                    .create_new(true)
                    .open(&staged)
                    .map_err(|e| {
                        OperatorError::Io(format!("cannot create {}: {e}", staged.display()))
                    })?;
                return Ok((BufWriter::with_capacity(1 << 20, file), n));
            }
            n += 1;
        }
    }
}

impl Sink for FileSink {
    fn write_batch(&mut self, batch: &[Record]) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            self.current = Some(self.open()?);
        }
        self.buf.clear();
        for record in batch {
            self.encoder.encode_line(&record.row, &mut self.buf);
        }
        if let Some((writer, n)) = &mut self.current {
            writer.write_all(&self.buf).map_err(|e| {
                let path = self.dir.join(in_progress_file_name(self.partition, *n));
                OperatorError::Io(format!("cannot write {}: {e}", path.display()))
            })?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        let Some((writer, n)) = self.current.take() else {
            return Ok(());
        };
        let staged = self.dir.join(in_progress_file_name(self.partition, n));
        let committed = self.dir.join(part_file_name(self.partition, n));
        let io = |e: std::io::Error| {
            OperatorError::Io(format!("cannot write {}: {e}", staged.display()))
        };
        let file = writer.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_data().map_err(io)?;
        std::fs::rename(&staged, &committed).map_err(|e| {
            OperatorError::Io(format!(
                "cannot publish {} as {}: {e}",
                staged.display(),
                committed.display()
            ))
        })
    }
}

#[cfg(test)]
mod tests;

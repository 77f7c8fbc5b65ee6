//! Splits: the pieces of a source's input that its partitions read (Flink's source splits).
//!
//! A source's input is cut into splits, each read in order by one reader:
//! - a file source has one split per file: the file its `path` names, or each file of the
//!   folder it names whose name ends in the format's extension (`.csv`, `.tsv`, `.jsonl`), in name
//!   order (names starting with `.` are left out, as are folders);
//! - the generator has one split per partition (partition `p` of `P` emits `p, p + P, ...`);
//! - the Kafka source will have one split per topic partition.
//!
//! Split `i` of the source's order is read by partition `i mod P` ([`assigned`]): every
//! split has exactly one reader, and partitions' split counts differ by one at most. A
//! checkpoint stores each split's [`SplitState`] — its identity ([`SplitId`]) and how far its
//! partition emitted — under its index. A restore matches saved states to splits by identity,
//! not by index ([`saved_progress`]), so a job restored at another parallelism finds each
//! split's position wherever the split is read now (splits move between partitions); a split
//! saved as finished stays finished, even if its file is gone. The folder is listed when a
//! partition is deployed, so a file added to a running job's folder is read (from its start)
//! only after a recovery or a restore; files are not meant to change while a job reads them.

use super::fields::RowPlan;
use super::{csv, generator, jsonl};
use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::spec::{FileFormat, FileSource, SourceKind, SourceSpec};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// What a split is, independent of where it is read: how a checkpoint names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SplitId {
    /// A file of a file source, by name: the file name when `path` names the file, its name in
    /// the folder when `path` names a folder (so a moved folder keeps its splits' identities).
    File(String),
    /// Partition `partition` of the generator at `parallelism` partitions.
    Generator {
        /// The partition whose sequence numbers it emits.
        partition: u32,
        /// The generator's parallelism.
        parallelism: u32,
    },
}

impl fmt::Display for SplitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitId::File(name) => write!(f, "file {name:?}"),
            SplitId::Generator {
                partition,
                parallelism,
            } => write!(f, "generator partition {partition} of {parallelism}"),
        }
    }
}

/// A split's place in its source's order: partition `index mod P` reads it, and a checkpoint
/// stores its state under this index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SplitIndex(pub u32);

/// One split of a source: its place in the source's order and its identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Its place in the source's order.
    pub index: SplitIndex,
    /// What it is.
    pub id: SplitId,
}

/// How far a split was read, as a checkpoint records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitProgress {
    /// The next record to read is at this position.
    At(SourcePosition),
    /// Every record was read: a restore does not read it again.
    Finished,
}

/// What a checkpoint stores for one split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitState {
    /// The split.
    pub split: SplitId,
    /// How far its partition emitted before the barrier.
    pub progress: SplitProgress,
}

/// Every split of `spec` read at `parallelism`, in the source's order. A folder is listed
/// here (a blocking call); a folder without a file of the format's extension is an error.
pub fn splits_of(spec: &SourceSpec, parallelism: u32) -> Result<Vec<Split>, OperatorError> {
    let ids = match &spec.kind {
        SourceKind::Generator(_) => (0..parallelism)
            .map(|partition| SplitId::Generator {
                partition,
                parallelism,
            })
            .collect(),
        SourceKind::File(file) => file_splits(file)?,
    };
    Ok(ids
        .into_iter()
        .zip(0..)
        .map(|(id, index)| Split {
            index: SplitIndex(index),
            id,
        })
        .collect())
}

/// The splits partition `partition` of `parallelism` reads: every `parallelism`-th split,
/// starting with split `partition`.
pub fn assigned(splits: Vec<Split>, partition: u32, parallelism: u32) -> Vec<Split> {
    splits
        .into_iter()
        .filter(|s| s.index.0 % parallelism.max(1) == partition)
        .collect()
}

/// The extension of a format's files, without the dot.
fn extension(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Csv => "csv",
        FileFormat::Tsv => "tsv",
        FileFormat::Jsonl => "jsonl",
    }
}

/// The file splits of a file source: the file `path` names, or the folder's files with the
/// format's extension, sorted by name.
fn file_splits(file: &FileSource) -> Result<Vec<SplitId>, OperatorError> {
    let path = &file.path;
    if !path.is_dir() {
        // A missing file fails when it is opened, with the message that says what to check.
        let name = path.file_name().unwrap_or(path.as_os_str());
        return Ok(vec![SplitId::File(name.to_string_lossy().into_owned())]);
    }
    let ext = extension(file.format);
    let listing_error = |e: std::io::Error| {
        OperatorError::Config(format!(
            "cannot list the folder {}: {e}; check the source's path",
            path.display()
        ))
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(listing_error)? {
        let entry = entry.map_err(listing_error)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(OperatorError::Config(format!(
                "{}: the file name {name:?} is not UTF-8; rename it",
                path.display()
            )));
        };
        let wanted = !name.starts_with('.')
            && Path::new(name).extension().is_some_and(|e| e == ext)
            && !entry.path().is_dir();
        if wanted {
            names.push(name.to_string());
        }
    }
    if names.is_empty() {
        return Err(OperatorError::Config(format!(
            "the folder {} holds no *.{ext} files; put the input there, or point the source's \
             path at a file (format = \"{ext}\" reads files ending in .{ext})",
            path.display()
        )));
    }
    names.sort();
    Ok(names.into_iter().map(SplitId::File).collect())
}

/// Opens a reader for one split of `spec`. A file is opened (and a CSV header read) here, so
/// a missing file or column fails before any record flows.
pub fn open_split(spec: &SourceSpec, split: &Split) -> Result<Box<dyn Source>, OperatorError> {
    match (&spec.kind, &split.id) {
        (
            SourceKind::Generator(g),
            SplitId::Generator {
                partition,
                parallelism,
            },
        ) => Ok(Box::new(generator::Generator::new(
            g,
            &spec.schema,
            *partition,
            *parallelism,
        )?)),
        (SourceKind::File(f), SplitId::File(name)) => open_file(spec, f, &file_path(f, name)),
        (_, other) => Err(OperatorError::State(format!(
            "source \"{}\": {other} is not one of its splits",
            spec.name
        ))),
    }
}

/// Where the file of split `name` is.
fn file_path(file: &FileSource, name: &str) -> PathBuf {
    if file.path.is_dir() {
        file.path.join(name)
    } else {
        file.path.clone()
    }
}

fn open_file(
    spec: &SourceSpec,
    file: &FileSource,
    path: &Path,
) -> Result<Box<dyn Source>, OperatorError> {
    let plan = RowPlan::new(
        path,
        &spec.schema,
        (file.event_time.as_deref(), file.event_time_unit),
        file.bad_records,
        extension(file.format),
    )?;
    let delimited = |delimiter| csv::Layout {
        delimiter,
        columns: file.columns.clone(),
    };
    Ok(match file.format {
        FileFormat::Csv => Box::new(csv::CsvSource::open(plan, path, &delimited(b','))?),
        FileFormat::Tsv => Box::new(csv::CsvSource::open(plan, path, &delimited(b'\t'))?),
        FileFormat::Jsonl => Box::new(jsonl::JsonlSource::open(plan, path)?),
    })
}

/// The saved progress of `splits` (all of `source`'s splits) from the split states of a
/// checkpoint, by identity. A split the checkpoint does not know is absent (it starts at its
/// beginning: a file added since). A saved split that `splits` lacks fails the restore —
/// its remaining records would be lost — unless it had finished.
pub fn saved_progress(
    source: &str,
    saved: Vec<SplitState>,
    splits: &[Split],
) -> Result<HashMap<SplitId, SplitProgress>, OperatorError> {
    let progress: HashMap<SplitId, SplitProgress> =
        saved.into_iter().map(|s| (s.split, s.progress)).collect();
    let lost = progress.iter().find(|(id, p)| {
        **p != SplitProgress::Finished && !splits.iter().any(|split| split.id == **id)
    });
    if let Some((id, _)) = lost {
        return Err(OperatorError::Config(format!(
            "source \"{source}\": the checkpoint holds the position of {id}, which the source \
             does not have any more, so its remaining records would be lost; put it back (a \
             folder's files must stay while a job reads them), or start the job without \
             restoring"
        )));
    }
    Ok(progress)
}

#[cfg(test)]
mod tests;

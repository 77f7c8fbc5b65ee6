//! The file sink's two-phase commit: file names, staging, publishing and recovery.
//!
//! Names (partition `p`, lineage `l` in hex, generation `g`, checkpoint `c`):
//! - in progress: `.part-{p}-{l}-g{g}.inprogress`;
//! - staged at barrier `c`: `.staged-{l}-g{g}-c{c}-p{p}.jsonl`;
//! - published when `c` completed: `part-{p}-{l}-g{g}-c{c}.jsonl`.
//!
//! The lineage identifies a submitted job and the jobs started from its savepoints (they
//! continue its generations and checkpoint numbers), so running a job again into the same
//! folder never collides with an earlier run's files, and recovery only ever touches files of
//! its own lineage.
//!
//! **Recovery rule.** A sink partition built for generation `G` that restores checkpoint `r`
//! taken by generation `g_r` (or restores nothing) first settles the folder:
//! - a staged file of generation `g_r` with checkpoint `≤ r` is published (renamed to its
//!   published name) unless it already was: checkpoint `r` completed, so everything staged up
//!   to it is part of the output the restored state has seen, even if the commit message never
//!   arrived;
//! - every other staged file is deleted: a checkpoint after `r` never completed (its records
//!   are replayed from the sources' positions at `r`), and a file of any other generation
//!   belongs to an attempt whose checkpoints were either settled by an earlier recovery or
//!   never completed;
//! - every in-progress file is deleted: no checkpoint covers it.
//!
//! Partition `p` settles its own files; partition 0 also settles those of partitions
//! `≥ parallelism`, left behind by a deployment with more partitions, so no stale file
//! survives a rescale. A zombie (a partition of an older generation still running, e.g. on a
//! node that was paused) may stage files after this, but it can never publish them: only
//! [`Transaction::commit`] publishes, it publishes only the files of its own generation, and
//! the coordinator sends commits only to the current generation. Such leftovers stay hidden
//! (their names start with `.`) until the next recovery deletes them.

use super::super::SinkContext;
use crate::operator::OperatorError;
use quiver_protocol::{CheckpointId, Generation};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The in-progress name of partition `partition` in generation `generation`.
pub fn open_file_name(partition: u32, lineage: u64, generation: Generation) -> String {
    format!(".part-{partition}-{lineage:x}-g{}.inprogress", generation.0)
}

/// The staged name of what partition `partition` wrote before barrier `checkpoint`.
pub fn staged_file_name(
    lineage: u64,
    generation: Generation,
    checkpoint: CheckpointId,
    partition: u32,
) -> String {
    format!(
        ".staged-{lineage:x}-g{}-c{}-p{partition}.jsonl",
        generation.0, checkpoint.0
    )
}

/// The published name of what partition `partition` staged at `checkpoint`.
pub fn published_file_name(
    partition: u32,
    lineage: u64,
    generation: Generation,
    checkpoint: CheckpointId,
) -> String {
    format!(
        "part-{partition}-{lineage:x}-g{}-c{}.jsonl",
        generation.0, checkpoint.0
    )
}

/// The checkpoint of a published file of lineage `lineage` (a name [`published_file_name`]
/// makes); `None` for any other name.
pub fn published_checkpoint(name: &str, lineage: u64) -> Option<u64> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".jsonl")?;
    let (_partition, rest) = rest.split_once('-')?;
    let (l, rest) = rest.split_once("-g")?;
    let (_generation, checkpoint) = rest.split_once("-c")?;
    (u64::from_str_radix(l, 16).ok()? == lineage)
        .then(|| checkpoint.parse().ok())
        .flatten()
}

/// A hidden file of the two-phase commit, recognised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hidden {
    /// `.part-{p}-{l}-g{g}.inprogress`.
    Open { partition: u32, lineage: u64 },
    /// `.staged-{l}-g{g}-c{c}-p{p}.jsonl`.
    Staged {
        lineage: u64,
        generation: Generation,
        checkpoint: CheckpointId,
        partition: u32,
    },
}

/// Recognises the names [`open_file_name`] and [`staged_file_name`] make; anything else
/// (published files, the files of runs without checkpoints, foreign files) is `None`.
fn parse(name: &str) -> Option<Hidden> {
    if let Some(rest) = name
        .strip_prefix(".part-")
        .and_then(|r| r.strip_suffix(".inprogress"))
    {
        let (partition, rest) = rest.split_once('-')?;
        let (lineage, generation) = rest.split_once("-g")?;
        generation.parse::<u64>().ok()?;
        return Some(Hidden::Open {
            partition: partition.parse().ok()?,
            lineage: u64::from_str_radix(lineage, 16).ok()?,
        });
    }
    let rest = name
        .strip_prefix(".staged-")
        .and_then(|r| r.strip_suffix(".jsonl"))?;
    let (lineage, rest) = rest.split_once("-g")?;
    let (generation, rest) = rest.split_once("-c")?;
    let (checkpoint, partition) = rest.split_once("-p")?;
    Some(Hidden::Staged {
        lineage: u64::from_str_radix(lineage, 16).ok()?,
        generation: Generation(generation.parse().ok()?),
        checkpoint: CheckpointId(checkpoint.parse().ok()?),
        partition: partition.parse().ok()?,
    })
}

/// The two-phase-commit state of one sink partition: its generation and the checkpoints it
/// staged that are not published yet.
#[derive(Debug)]
pub(super) struct Transaction {
    lineage: u64,
    /// The run owning the folder: checked before publishing.
    run: u64,
    generation: Generation,
    pending: BTreeMap<CheckpointId, ()>,
}

impl Transaction {
    /// Settles `dir` by the recovery rule (module doc) for the partition `ctx` describes.
    pub(super) fn recover(dir: &Path, ctx: &SinkContext) -> Result<Transaction, OperatorError> {
        let owns = |q: u32, lineage: u64| {
            lineage == ctx.lineage
                && (q == ctx.partition || (ctx.partition == 0 && q >= ctx.parallelism))
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| OperatorError::Io(format!("cannot list {}: {e}", dir.display())))?;
        let mut changed = false;
        for entry in entries {
            let entry = entry
                .map_err(|e| OperatorError::Io(format!("cannot list {}: {e}", dir.display())))?;
            let name = entry.file_name();
            let Some(hidden) = name.to_str().and_then(parse) else {
                continue;
            };
            let path = entry.path();
            match hidden {
                Hidden::Open { partition, lineage } if owns(partition, lineage) => remove(&path)?,
                Hidden::Staged {
                    lineage,
                    generation,
                    checkpoint,
                    partition,
                } if owns(partition, lineage) => {
                    let covered = ctx
                        .restored
                        .is_some_and(|(r, g)| generation == g && checkpoint <= r);
                    if covered {
                        let published = dir.join(published_file_name(
                            partition, lineage, generation, checkpoint,
                        ));
                        publish(&path, &published)?;
                    } else {
                        remove(&path)?;
                    }
                }
                _ => continue,
            }
            changed = true;
        }
        if changed {
            sync_dir(dir)?;
        }
        Ok(Transaction {
            lineage: ctx.lineage,
            run: ctx.run,
            generation: ctx.generation,
            pending: BTreeMap::new(),
        })
    }

    /// Where partition `partition` writes records before the next barrier.
    pub(super) fn open_path(&self, dir: &Path, partition: u32) -> PathBuf {
        dir.join(open_file_name(partition, self.lineage, self.generation))
    }

    /// Renames the synced in-progress file `written` to its staged name for `checkpoint`.
    pub(super) fn stage(
        &mut self,
        dir: &Path,
        partition: u32,
        written: &Path,
        checkpoint: CheckpointId,
    ) -> Result<(), OperatorError> {
        let staged = dir.join(staged_file_name(
            self.lineage,
            self.generation,
            checkpoint,
            partition,
        ));
        std::fs::rename(written, &staged).map_err(|e| {
            OperatorError::Io(format!(
                "cannot stage {} as {}: {e}",
                written.display(),
                staged.display()
            ))
        })?;
        sync_dir(dir)?;
        self.pending.insert(checkpoint, ());
        Ok(())
    }

    /// Publishes every file staged at a checkpoint `≤ checkpoint`.
    pub(super) fn commit(
        &mut self,
        dir: &Path,
        partition: u32,
        checkpoint: CheckpointId,
    ) -> Result<(), OperatorError> {
        let due = crate::sinks::take_due(&mut self.pending, checkpoint);
        if due.is_empty() {
            return Ok(());
        }
        super::ownership::ensure_owner(dir, self.run)?;
        for c in due.into_keys() {
            let staged = dir.join(staged_file_name(
                self.lineage,
                self.generation,
                c,
                partition,
            ));
            let published = dir.join(published_file_name(
                partition,
                self.lineage,
                self.generation,
                c,
            ));
            publish(&staged, &published)?;
        }
        sync_dir(dir)
    }
}

/// Renames `staged` to `published`. Idempotent: when `staged` is gone and `published` exists,
/// it was published already. Refuses to replace an existing published file.
fn publish(staged: &Path, published: &Path) -> Result<(), OperatorError> {
    match (staged.exists(), published.exists()) {
        (false, true) => Ok(()),
        (true, true) => Err(OperatorError::Io(format!(
            "cannot publish {}: {} exists already (the folder holds output of another job)",
            staged.display(),
            published.display()
        ))),
        _ => std::fs::rename(staged, published).or_else(|e| {
            // Another process (a recovering partition, a zombie) may have published it.
            if published.exists() {
                Ok(())
            } else {
                Err(OperatorError::Io(format!(
                    "cannot publish {} as {}: {e}",
                    staged.display(),
                    published.display()
                )))
            }
        }),
    }
}

fn remove(path: &Path) -> Result<(), OperatorError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(OperatorError::Io(format!(
            "cannot delete {}: {e}",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Makes renames in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), OperatorError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| OperatorError::Io(format!("cannot sync folder {}: {e}", dir.display())))
}

#[cfg(test)]
mod tests;

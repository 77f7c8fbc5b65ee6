//! Who owns an output folder. A file sink's folder belongs to one run: the first partition of
//! a job to build its sink writes the job's run id into `.quiver-sink`, every later build
//! (other partitions, recoveries) finds its own run there, and a sink publishes only while the
//! folder is still its run's ([`ensure_owner`]). Output of another run is never mixed in
//! silently:
//! - a run finds no published output in the folder, or its own: it goes on;
//! - a job resumed from a savepoint finds the folder of the run that took the savepoint: it
//!   takes the folder over, since its output continues that run's — unless that run published
//!   output past the savepoint (it went on after it), which the resumed job would publish again;
//! - otherwise the folder holds another run's published output (a rerun of a job, a second
//!   resume of one savepoint, part files of a run before folders were marked): the sink's
//!   `mode` decides — `error` (the default) fails the job at once naming that run,
//!   `overwrite` deletes that output (the part files and Quiver's hidden files, nothing else),
//!   `append` keeps it.
//!
//! Hidden files (in progress, staged) of a run that is not continued are never published —
//! only the owner publishes — so a new owner deletes them. Partitions of one sink (on one host
//! or several sharing a file system) claim the folder under an exclusive lock on
//! `.quiver-sink.lock`. Two live jobs writing one folder are refused earlier, by the
//! coordinator at submission; jobs of two coordinators are kept apart by [`ensure_owner`]:
//! the one that lost the folder fails instead of publishing.

use super::two_phase;
use crate::operator::OperatorError;
use crate::sinks::SinkContext;
use quiver_protocol::spec::OutputMode;
use std::fs::File;
use std::io::Write;
use std::path::Path;

/// The file naming the run that owns the folder.
pub const MARKER: &str = ".quiver-sink";
/// The file partitions lock while they claim the folder.
const LOCK: &str = ".quiver-sink.lock";

/// What the marker says.
struct Owner {
    run: u64,
    /// The job, as shown to people (`job-3 "spend-per-user"`).
    job: String,
}

/// Why a run may not simply write into the folder.
enum Conflict {
    /// The folder holds output of a run this one does not continue.
    OtherRun { owner: String, files: usize },
    /// The run this one continues published output past the savepoint it resumes from.
    PastSavepoint { owner: String, newest: u64 },
}

/// Makes `dir` the output folder of the run `ctx` describes, as `mode` allows; `sink` names
/// the sink in messages.
pub(super) fn claim(
    dir: &Path,
    sink: &str,
    mode: OutputMode,
    ctx: &SinkContext,
) -> Result<(), OperatorError> {
    let io = |what: &str, e: std::io::Error| {
        OperatorError::Io(format!("cannot {what} in {}: {e}", dir.display()))
    };
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
        .map_err(|e| io("create the folder's lock file", e))?;
    lock.lock().map_err(|e| io("lock the folder", e))?;
    let owner = read_marker(dir).map_err(|e| io("read the folder's owner", e))?;
    if owner.as_ref().is_some_and(|o| o.run == ctx.run) {
        return Ok(());
    }
    let continued = owner.as_ref().is_some_and(|o| Some(o.run) == ctx.continues);
    if let Some(conflict) = conflict(dir, owner, ctx).map_err(|e| io("list the files", e))? {
        match mode {
            OutputMode::Error => return Err(refusal(dir, sink, &conflict)),
            OutputMode::Overwrite => {
                delete(dir, |_| true).map_err(|e| io("delete the earlier output", e))?
            }
            OutputMode::Append => {}
        }
    }
    if !continued {
        // What an earlier owner left hidden was never published, and never will be.
        delete(dir, |name| name.starts_with('.'))
            .map_err(|e| io("delete an earlier run's unpublished files", e))?;
    }
    write_marker(dir, ctx).map_err(|e| io("record the folder's owner", e))
}

/// Fails unless the folder is still `run`'s: called before publishing, so a run that lost its
/// folder to another (a job of another coordinator) never publishes into it.
pub(super) fn ensure_owner(dir: &Path, run: u64) -> Result<(), OperatorError> {
    let owner = read_marker(dir).map_err(|e| {
        OperatorError::Io(format!("cannot read the owner of {}: {e}", dir.display()))
    })?;
    match owner {
        Some(o) if o.run == run => Ok(()),
        other => Err(OperatorError::Config(format!(
            "{} now holds the output of {}: this run no longer publishes there",
            dir.display(),
            other.map_or_else(|| "no marked run".into(), |o| o.job)
        ))),
    }
}

/// What stands in the way of `ctx`'s run in `dir`, if anything: published output of a run it
/// does not continue, or of the run it continues past the restored savepoint.
fn conflict(
    dir: &Path,
    owner: Option<Owner>,
    ctx: &SinkContext,
) -> std::io::Result<Option<Conflict>> {
    let names: Vec<String> = output_names(dir)?
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    let continued = owner.as_ref().filter(|o| Some(o.run) == ctx.continues);
    if let Some(owner) = continued {
        let restored = ctx.restored.map_or(0, |(c, _)| c.0);
        let newest = names
            .iter()
            .filter_map(|n| two_phase::published_checkpoint(n, ctx.lineage))
            .max();
        return Ok(match newest {
            Some(newest) if newest > restored => Some(Conflict::PastSavepoint {
                owner: owner.job.clone(),
                newest,
            }),
            _ => None,
        });
    }
    if names.is_empty() {
        return Ok(None);
    }
    Ok(Some(Conflict::OtherRun {
        owner: owner.map_or_else(|| "a run that did not mark the folder".into(), |o| o.job),
        files: names.len(),
    }))
}

fn refusal(dir: &Path, sink: &str, conflict: &Conflict) -> OperatorError {
    let what = match conflict {
        Conflict::OtherRun { owner, files } => format!(
            "holds the output of {owner} ({files} files); writing there would mix two runs' rows"
        ),
        Conflict::PastSavepoint { owner, newest } => format!(
            "holds output {owner} published after the savepoint this job resumes from (up to \
             chk-{newest}); resuming there would publish those rows again. Stop a job with \
             `quiver job stop` to take a savepoint its output ends at"
        ),
    };
    OperatorError::Config(format!(
        "sink {sink:?}: {} {what}. Remove those files, choose another path, or set mode = \
         \"overwrite\" (delete them first) or mode = \"append\" (keep them) on the sink",
        dir.display()
    ))
}

/// Names of the Quiver output files in `dir`: part files and the hidden in-progress and staged
/// files; the marker, its lock and any other file are not output.
fn output_names(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let output = (name.starts_with("part-") && name.ends_with(".jsonl"))
            || name.starts_with(".part-")
            || name.starts_with(".staged-");
        if output {
            names.push(name);
        }
    }
    Ok(names)
}

/// Deletes the output files whose names `which` picks.
fn delete(dir: &Path, which: impl Fn(&str) -> bool) -> std::io::Result<()> {
    for name in output_names(dir)?.into_iter().filter(|n| which(n)) {
        match std::fs::remove_file(dir.join(&name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    File::open(dir)?.sync_all()
}

fn read_marker(dir: &Path) -> std::io::Result<Option<Owner>> {
    let text = match std::fs::read_to_string(dir.join(MARKER)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
            .map(str::to_string)
    };
    let run = field("run").and_then(|r| u64::from_str_radix(&r, 16).ok());
    Ok(Some(Owner {
        // An unreadable marker is someone else's: its run matches no job.
        run: run.unwrap_or(0),
        job: field("job").unwrap_or_else(|| "an unknown run".into()),
    }))
}

/// Writes the marker atomically: a temporary file renamed over it, then the folder synced.
fn write_marker(dir: &Path, ctx: &SinkContext) -> std::io::Result<()> {
    let temporary = dir.join(format!("{MARKER}.{:x}", ctx.run));
    let mut file = File::create(&temporary)?;
    write!(file, "run = {:x}\njob = {}\n", ctx.run, ctx.job)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(MARKER))?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;

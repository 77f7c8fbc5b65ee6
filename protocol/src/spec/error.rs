//! [`SpecError`]: what is wrong with a job spec, where, and what would be accepted instead.
//!
//! Every variant names the place (`[job]`, `source "events"`, `stage "per_user"`, ...), the field
//! path (`window.kind`), the offending value as it was written, and the allowed values, so a
//! user can fix the spec from the message alone.

use std::path::PathBuf;

/// A job spec that cannot be run, and why.
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum SpecError {
    /// The spec file could not be read.
    #[error("cannot read job spec {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// An error found in a spec file (the file is named in front of the inner error).
    #[error("{}: {error}", path.display())]
    InFile {
        /// The spec file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<SpecError>,
    },
    /// The text is not TOML; the message carries line and column.
    #[error("the job spec is not valid TOML: {0}")]
    Syntax(String),
    /// A required field is absent.
    #[error("{at}: missing required field \"{field}\"; {hint}")]
    Missing {
        /// Where: `[job]`, `source "events"`, ...
        at: String,
        /// The field path.
        field: String,
        /// What to write there.
        hint: String,
    },
    /// A field that this kind of table does not have (often a typo).
    #[error("{at}: unknown field \"{field}\"{suggestion}; allowed fields: {allowed}")]
    UnknownField {
        /// Where.
        at: String,
        /// The field path as written.
        field: String,
        /// ` (did you mean "x"?)`, or empty.
        suggestion: String,
        /// The fields this table accepts.
        allowed: String,
    },
    /// A field whose value is out of range, of the wrong type, or names nothing.
    #[error("{at}: field \"{field}\" has value {value}; allowed: {allowed}")]
    Invalid {
        /// Where.
        at: String,
        /// The field path.
        field: String,
        /// The value as written in the spec (strings quoted).
        value: String,
        /// What the field accepts.
        allowed: String,
    },
    /// A `kind` this version does not know at all.
    #[error("{at}: unknown {what} kind \"{kind}\"; allowed: {allowed}")]
    UnknownKind {
        /// Where.
        at: String,
        /// `source`, `stage` or `sink`.
        what: &'static str,
        /// The kind as written.
        kind: String,
        /// The kinds this version supports.
        allowed: String,
    },
    /// A `kind` the design lists but this version does not build yet.
    #[error("{at}: {what} kind \"{kind}\" is not supported yet; use one of: {allowed}")]
    NotSupported {
        /// Where.
        at: String,
        /// `source` or `sink`.
        what: &'static str,
        /// The kind as written.
        kind: String,
        /// The kinds this version supports.
        allowed: String,
    },
    /// Two operators share a name.
    #[error(
        "the name \"{name}\" is used by both {first} and {second}; every source, stage and sink \
         needs its own name: rename one of them"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The first operator (`source #1`, ...).
        first: String,
        /// The second operator.
        second: String,
    },
    /// Stages that read each other's output in a loop.
    #[error(
        "the stages form a cycle: {cycle}; a stage cannot read its own output, directly or \
         through other stages: point one of these inputs at a source or at a stage outside the \
         loop"
    )]
    Cycle {
        /// The loop, as `a -> b -> a`.
        cycle: String,
    },
}

impl SpecError {
    /// Wraps this error with the spec file it was found in.
    pub(crate) fn in_file(self, path: PathBuf) -> SpecError {
        SpecError::InFile {
            path,
            error: Box::new(self),
        }
    }
}

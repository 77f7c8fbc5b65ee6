//! Why a task or a deployment failed, and whether running it again can help.
//!
//! The coordinator decides from the kind alone: a [`FailureKind::Transient`] failure (a lost
//! peer, a broken channel, an I/O error) goes through recovery from the last complete
//! checkpoint; a [`FailureKind::Permanent`] one (malformed data with `bad_records = "fail"`, a
//! missing input file or header column, state that does not fit the spec) fails the job at
//! once, because a retry would meet the same cause. The message names the cause and what to
//! change.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The cause may be gone on the next attempt: recover from the last checkpoint.
    Transient,
    /// The cause is in the spec, the data or the environment: fail the job now.
    Permanent,
}

/// A failure with its kind and a message for the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Whether a retry can help.
    pub kind: FailureKind,
    /// What went wrong and, for permanent failures, what to change.
    pub message: String,
}

impl Failure {
    /// A failure a retry may cure.
    pub fn transient(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Transient,
            message: message.into(),
        }
    }

    /// A failure a retry cannot cure.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            kind: FailureKind::Permanent,
            message: message.into(),
        }
    }

    /// Whether recovering from a checkpoint can help.
    pub fn is_transient(&self) -> bool {
        self.kind == FailureKind::Transient
    }

    /// The same failure with `context: ` in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Failure {
        Failure {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

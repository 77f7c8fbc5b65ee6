//! What the spec error tests share: breaking one thing in a valid spec and reading the error.
#![allow(dead_code)] // each test binary uses its own subset

use quiver_protocol::spec::JobSpec;
use std::path::Path;

/// How the allowed duration syntax is described in messages.
pub(crate) const DURATION: &str =
    "a whole number followed by a unit ms, s, m, h or d, e.g. \"500ms\", \"1s\", \"2m\", \"1h\"";

/// The error message for `valid` with `from` replaced by `to` (which must change it).
pub(crate) fn error_in(valid: &str, from: &str, to: &str) -> String {
    assert!(valid.contains(from), "{from:?} is not in the valid spec");
    match JobSpec::parse(&valid.replacen(from, to, 1), Path::new("/jobs")) {
        Ok(_) => panic!("{from:?} -> {to:?} was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Asserts that `valid` parses.
pub(crate) fn assert_parses(valid: &str) {
    assert!(JobSpec::parse(valid, Path::new("/jobs")).is_ok());
}

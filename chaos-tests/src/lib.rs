//! Process harness.

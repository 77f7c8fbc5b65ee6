//! Guards and update policies (issue 15, done-when 4), on a coordinator and two nodes:
//! - a degraded model triggers the automatic rollback: the concept flips mid-stream, and a
//!   version trained before the flip, deployed after it, scores far worse than the working
//!   copy it replaced; the guard rolls the deploy back. `model status` and the
//!   coordinator's log say so, and per partition the outputs' versions go latest → the
//!   deployed version → latest, once each.
//! - a drift scenario triggers the drift policy: a stage serving a pinned version watches
//!   column x1 with Page-Hinkley; when x1's distribution jumps, the stage moves to the newest
//!   registered version.

mod common;

use common::policies::guard_and_drift;

/// The stage's kind and settings.
const LEARNER: &str =
    "kind = \"linear_regression\"\nfeatures = [\"x1\"]\nlabel = \"y\"\nlearning_rate = 0.05";

#[test]
fn a_degraded_deploy_is_rolled_back_and_a_drift_moves_to_the_newest_version() {
    guard_and_drift(LEARNER, 0.0, |x| -3.0 * x + 1.0);
}

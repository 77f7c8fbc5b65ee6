//! Guards and update policies of a `kmeans` stage on parameter servers (issue 15), as
//! `model_policies.rs` checks them for a regression, on a coordinator and two nodes:
//! - x1 jumps from [-1, 1] to [4, 6] mid-stream; the version clustered before the jump,
//!   deployed after it, assigns the new points to centroids ~5 away (its inertia per record
//!   ~20) where the working copy has moved its centroids to them, so the guard rolls the
//!   deploy back.
//! - a stage serving a pinned version watches x1 with Page-Hinkley: when x1 jumps, the
//!   stage moves to the newest registered version.

mod common;

use common::policies::guard_and_drift;

/// The stage's kind and settings.
const LEARNER: &str = "kind = \"kmeans\"\nfeatures = [\"x1\"]\nk = 2";

#[test]
fn a_degraded_kmeans_deploy_is_rolled_back_and_a_drift_moves_to_the_newest_version() {
    guard_and_drift(LEARNER, 5.0, |x| x);
}

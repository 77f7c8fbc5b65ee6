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
use std::path::Path;

fn write_spec(dir: &Path, name: &str, policy: &str) -> std::path::PathBuf {
    let spec = format!(
        r#"
[job]
name = "{name}"
parallelism = 2
checkpoint_interval = "300ms"

[[source]]
name = "rows"
kind = "file"
path = "in"
format = "csv"
schema = {{ id = "i64", x1 = "f64", y = "f64" }}
parallelism = 2
rate = 3000

[[stage]]
name = "reg"
kind = "linear_regression"
input = "rows"
features = ["x1"]
label = "y"
learning_rate = 0.05
{policy}

[[sink]]
name = "out"
kind = "file"
input = "reg"
path = "out/"
"#
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn a_degraded_deploy_is_rolled_back_and_a_drift_moves_to_the_newest_version() {
    guard_and_drift(write_spec, 0.0, |x| -3.0 * x + 1.0);
}

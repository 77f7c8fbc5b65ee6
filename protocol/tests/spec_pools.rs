//! `pool = "..."` on sources, stages and sinks: validated when the spec is parsed, inherited
//! from the input where unset (Flink's rule for slot sharing groups), never chained across,
//! carried by a learner's parameter servers, and counted per pool in the slots a job needs.

mod common;

use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::Pool;
use std::collections::BTreeMap;
use std::path::Path;

/// A serving path (requests → scaled → scores) and a training path (clicks → clf → trained)
/// in one job; each test changes one thing in it.
const VALID: &str = r#"
[job]
name = "pools"
parallelism = 2
checkpoint_interval = "1s"

[[source]]
name = "requests"
kind = "generator"
parallelism = 1
pool = "serving"

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "requests"
columns = ["amount"]
output = "features"
parallelism = 1

[[sink]]
name = "scores"
kind = "discard"
input = "scaled"

[[source]]
name = "clicks"
kind = "generator"

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "clicks"
features = ["amount"]
label = "user"
pool = "training"
parallelism = 3

[[sink]]
name = "trained"
kind = "discard"
input = "clf"
"#;

fn plan_of(text: &str) -> JobPlan {
    JobPlan::from_spec(&JobSpec::parse(text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}")))
}

fn pool_of(plan: &JobPlan, name: &str) -> Pool {
    plan.operators
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operator {name}"))
        .pool
}

#[test]
fn pools_are_set_or_inherited_from_the_input() {
    let plan = plan_of(VALID);
    let pools: Vec<(&str, Pool)> = [
        ("requests", Pool::Serving),
        ("scaled", Pool::Serving),
        ("scores", Pool::Serving),
        ("clicks", Pool::Default),
        ("clf", Pool::Training),
        ("clf/params", Pool::Training),
        ("clf/versions", Pool::Training),
        ("trained", Pool::Training),
    ]
    .into_iter()
    .collect();
    for (name, pool) in pools {
        assert_eq!(pool_of(&plan, name), pool, "{name}");
    }
    // Without any pool, everything is in the default pool, as before pools existed.
    let plain = plan_of(
        &VALID
            .replace("pool = \"serving\"\n", "")
            .replace("pool = \"training\"\n", ""),
    );
    assert!(plain.operators.iter().all(|o| o.pool == Pool::Default));
}

#[test]
fn chains_break_at_a_pool_boundary() {
    /// The names of the operators that start a task.
    fn heads(plan: &JobPlan) -> Vec<&str> {
        plan.task_heads().map(|o| o.name.as_str()).collect()
    }
    // clicks → clf at equal parallelism is a forward edge, yet clf (training) starts its
    // own task; its sink inherits its pool and chains behind it, as does the serving path.
    let equal = VALID.replace("parallelism = 3\n", "");
    let heads_of_pools = heads(&plan_of(&equal)).join(" ");
    assert_eq!(
        heads_of_pools,
        "requests clicks clf clf/params clf/versions"
    );
    // The same edge within one pool chains.
    let one_pool = equal.replace("pool = \"training\"\n", "");
    assert_eq!(
        heads(&plan_of(&one_pool)).join(" "),
        "requests clicks clf/params clf/versions"
    );
}

#[test]
fn a_job_needs_each_pools_largest_parallelism_in_slots() {
    let plan = plan_of(VALID);
    // serving: requests, scaled, scores at 1; default: clicks at 2; training: clf at 3 (its
    // parameter shards default to its parallelism).
    assert_eq!(
        plan.slots_by_pool(),
        BTreeMap::from([(Pool::Default, 2), (Pool::Serving, 1), (Pool::Training, 3)])
    );
    assert_eq!(plan.slots_needed(), 6);
}

#[test]
fn an_unknown_pool_is_refused_naming_the_field_and_the_pools() {
    let allowed = "allowed: default, serving, features, training";
    for (from, to, at) in [
        ("pool = \"training\"", "pool = \"trainig\"", "stage \"clf\""),
        (
            "pool = \"serving\"",
            "pool = \"gpu\"",
            "source \"requests\"",
        ),
        (
            "input = \"scaled\"\n",
            "input = \"scaled\"\npool = 3\n",
            "sink \"scores\"",
        ),
    ] {
        let error = common::error_in(VALID, from, to);
        assert!(
            error.starts_with(&format!("{at}: field \"pool\" has value"))
                && error.ends_with(allowed),
            "{error}"
        );
    }
}

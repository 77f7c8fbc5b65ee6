//! Consumers of one stream keyed alike share one task (`JobPlan::joins_task_of`): the
//! records cross the exchange once for all of them. Anything that makes their partitioning
//! differ keeps them apart.

use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use std::path::Path;

/// W1's shape: a running and a windowed aggregate keyed by `user` over one source, each into
/// its own sink.
const TWO_KEYED: &str = r#"
[job]
name = "two-keyed"
parallelism = 2

[[source]]
name = "events"
kind = "generator"

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()" }

[[stage]]
name = "per_second"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()" }

[[sink]]
name = "running_out"
kind = "discard"
input = "running"

[[sink]]
name = "per_second_out"
kind = "discard"
input = "per_second"
"#;

fn plan_of(text: &str) -> JobPlan {
    JobPlan::from_spec(&JobSpec::parse(text, Path::new("/jobs")).unwrap_or_else(|e| panic!("{e}")))
}

/// Each task's operators, as `JobPlan::chain_names` shows them.
fn tasks(plan: &JobPlan) -> Vec<String> {
    plan.task_heads().map(|h| plan.chain_names(h)).collect()
}

#[test]
fn consumers_keyed_alike_share_one_task() {
    let plan = plan_of(TWO_KEYED);
    assert_eq!(
        tasks(&plan),
        [
            "events",
            "running → running_out + per_second → per_second_out"
        ]
    );
    let by_name = |n: &str| plan.operators.iter().find(|o| o.name == n).expect(n);
    let running = by_name("running");
    assert_eq!(
        plan.joins_task_of(by_name("per_second")).map(|o| o.id),
        Some(running.id)
    );
    assert!(plan.joins_task_of(running).is_none());
    for name in ["per_second", "per_second_out", "running_out"] {
        assert_eq!(plan.chain_head(by_name(name)), running.id, "{name}");
    }
}

#[test]
fn a_different_key_parallelism_or_pool_keeps_consumers_apart() {
    let other_key = TWO_KEYED.replacen("key = [\"user\"]\nwindow", "key = [\"ts\"]\nwindow", 1);
    let other_parallelism = TWO_KEYED.replace("window = {", "parallelism = 1\nwindow = {");
    let other_pool = TWO_KEYED.replace("window = {", "pool = \"serving\"\nwindow = {");
    for (what, spec) in [
        ("key", other_key),
        ("parallelism", other_parallelism),
        ("pool", other_pool),
    ] {
        assert_ne!(spec, TWO_KEYED, "{what}: the spec did not change");
        assert_eq!(
            tasks(&plan_of(&spec)),
            [
                "events",
                "running → running_out",
                "per_second → per_second_out"
            ],
            "{what}"
        );
    }
}

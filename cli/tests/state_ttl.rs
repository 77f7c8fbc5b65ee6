//! State TTL end to end (issue 5): a running aggregate over keys that never repeat (each of
//! 1.5M events brings a new key) keeps only the keys written within about one TTL, so state
//! and checkpoint size stay bounded by the TTL, not by the keys ever seen.

use std::path::Path;
use std::time::Duration;

const QUIVER: &str = env!("CARGO_BIN_EXE_quiver");
const EVENTS: u64 = 1_500_000;

/// The number after `label` in the report, with thousands separators removed.
fn figure(report: &str, label: &str) -> u64 {
    let rest = report
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("no {label:?} in:\n{report}"));
    let digits: String = rest
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {label:?}:\n{report}"))
}

/// The number just before `suffix` in the report.
fn number_before(report: &str, suffix: &str) -> u64 {
    let head = report
        .split(suffix)
        .next()
        .filter(|h| h.len() < report.len())
        .unwrap_or_else(|| panic!("no {suffix:?} in:\n{report}"));
    let token = head.split_whitespace().last().unwrap_or_default();
    token
        .replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("no number before {suffix:?}:\n{report}"))
}

#[test]
fn churning_keys_keep_state_and_checkpoints_bounded_by_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
[job]
name = "ttl-churn"
parallelism = 2
checkpoint_interval = "500ms"
state_ttl = "1s"

[[source]]
name = "events"
kind = "generator"
count = {EVENTS}
keys = 1000000000
rate = 300000

[[stage]]
name = "running"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "discard"
input = "running"
"#
        ),
    )
    .unwrap();
    let out = quiver_chaos_tests::run_with_timeout(
        Path::new(QUIVER),
        &["local", spec.to_str().unwrap()],
        Duration::from_secs(120),
    );
    let report = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "quiver local failed:\n{report}");
    // 1.5M distinct keys were written, at most 300k per second; with a 1 s TTL and
    // incremental clean-up, far fewer than all of them may remain (without a TTL: 1.5M
    // entries and ~10 B each in a snapshot).
    let entries = figure(&report, "state: ");
    assert!(
        entries <= EVENTS / 2,
        "{entries} keyed entries held, not bounded by the TTL:\n{report}"
    );
    let bytes = number_before(&report, " B of state in all");
    assert!(
        bytes <= (EVENTS / 2) * 16,
        "{bytes} B in the last checkpoint, not bounded by the TTL:\n{report}"
    );
}

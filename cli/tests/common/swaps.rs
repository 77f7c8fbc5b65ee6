//! What the swap tests share (issue 15, done-when 1 and 3): the phases a partition's outputs
//! go through as a learner's serving changes, walked in input order, and the per-version
//! figures of `quiver model status --json`.

use super::cluster::Cluster;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What a partition serves during one phase of a test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Phase {
    /// The working copy, whose versions only grow.
    Latest,
    /// One registered version for every record.
    Pinned(u64),
    /// `b` for the records whose bucket (in [0, 10000)) is below `b_percent` · 100, `a` for
    /// the others.
    Split { a: u64, b: u64, b_percent: f64 },
}

impl Phase {
    /// Whether `version` is what this phase scores a record in `bucket` with (`last`: the
    /// version of the partition's previous record, for the working copy).
    pub(crate) fn admits(self, bucket: u32, version: u64, last: u64) -> bool {
        match self {
            Phase::Latest => version >= last,
            Phase::Pinned(v) => version == v,
            Phase::Split { a, b, b_percent } => {
                version
                    == if f64::from(bucket) < b_percent * 100.0 {
                        b
                    } else {
                        a
                    }
            }
        }
    }
}

/// Walks one partition's records in input order, each as (bucket, version), through
/// `phases`: every record fits the phase of the record before it or the next one, and the
/// walk ends in the last phase. Returns each record's phase index. `what` names the
/// partition for the failure.
pub(crate) fn walk_phases(what: &str, records: &[(u32, u64)], phases: &[Phase]) -> Vec<usize> {
    let (mut phase, mut last) = (0, 0);
    let mut of = Vec::with_capacity(records.len());
    for (i, &(bucket, version)) in records.iter().enumerate() {
        if !phases[phase].admits(bucket, version, last) {
            phase += 1;
            assert!(
                phase < phases.len() && phases[phase].admits(bucket, version, last),
                "{what}: record {i} scored by {version} fits neither {:?} nor the next phase",
                phases[phase - 1]
            );
        }
        of.push(phase);
        last = version;
    }
    assert_eq!(
        phase,
        phases.len() - 1,
        "{what}: the swaps did not all take effect"
    );
    of
}

/// Waits until job-1 has at least three registered versions of `stage`, aliases the
/// oldest two of the newest three (so retention keeps them) and one more checkpoint
/// completes (the working copy then scores with a newer version than both); returns them.
pub(crate) fn two_older_versions(cluster: &Cluster, stage: &str) -> (u64, u64) {
    let versions = cluster.wait_for_versions("job-1", 3);
    let (v1, v2) = (versions[versions.len() - 3], versions[versions.len() - 2]);
    cluster.ok(&["model", "alias", "job-1", stage, "keep-a", &v1.to_string()]);
    cluster.ok(&["model", "alias", "job-1", stage, "keep-b", &v2.to_string()]);
    cluster.wait_for_two_more_checkpoints("job-1");
    (v1, v2)
}

/// Waits until `quiver model status job-1 --json` shows registered versions `a` and `b`
/// serving now with at least `records` scored between them; returns their entries.
pub(crate) fn wait_for_split_figures(
    cluster: &Cluster,
    a: u64,
    b: u64,
    records: u64,
) -> [Value; 2] {
    let start = Instant::now();
    loop {
        let text = cluster.ok(&["model", "status", "job-1", "--json"]);
        let status: Value = serde_json::from_str(&text).expect("status --json is JSON");
        let of = |v: u64| {
            status["stages"][0]["versions"]
                .as_array()?
                .iter()
                .find(|x| x["version"] == v && x["latest"] == false)
                .cloned()
        };
        if let (Some(fa), Some(fb)) = (of(a), of(b)) {
            let scored = |f: &Value| f["scored"].as_u64().unwrap_or(0);
            if scored(&fa) + scored(&fb) >= records {
                return [fa, fb];
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "versions {a} and {b} never scored {records} records: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

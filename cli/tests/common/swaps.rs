//! What the swap tests share (issue 15, done-when 1 and 3): the phases a partition's outputs
//! go through as a learner's serving changes, walked in input order, and the per-version
//! figures of `quiver model status --json`.

use super::cluster::Cluster;
use super::shards::{assert_each_id_once, int, two_file_job};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
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
/// newest two (so retention keeps them) and two more checkpoints complete (the working copy
/// then scores with a newer version than both); returns them. Retention may prune a listed
/// version before the alias lands: then it lists again.
fn two_older_versions(cluster: &Cluster, stage: &str) -> (u64, u64) {
    for _ in 0..20 {
        let versions = cluster.wait_for_versions("job-1", 3);
        let (v1, v2) = (versions[versions.len() - 2], versions[versions.len() - 1]);
        let pinned = [("keep-a", v1), ("keep-b", v2)].iter().all(|(alias, v)| {
            let args = ["model", "alias", "job-1", stage, alias, &v.to_string()];
            cluster.cli(&args).status.success()
        });
        if pinned {
            cluster.wait_for_two_more_checkpoints("job-1");
            return (v1, v2);
        }
    }
    panic!(
        "no two versions of {stage} could be aliased\n{}",
        cluster.logs()
    );
}

/// Waits until `quiver model status job-1 --json` shows registered versions `a` and `b`
/// serving now with at least `records` scored between them; returns their entries.
fn wait_for_split_figures(cluster: &Cluster, a: u64, b: u64, records: u64) -> [Value; 2] {
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

/// What [`split_deploy_rollback`] did.
pub(crate) struct Swapped {
    /// The cluster, with job-1 still running.
    pub(crate) cluster: Cluster,
    /// Its folder (`in/`, `out/`).
    pub(crate) dir: PathBuf,
    /// The older and the newer version swapped in.
    pub(crate) v1: u64,
    pub(crate) v2: u64,
    /// `model status --json`'s entries of V1 and V2 during the first A/B, once they scored
    /// 6000 records.
    pub(crate) figures: [Value; 2],
}

/// Runs `spec` as job-1 over `files` (`in/a.csv`, `in/b.csv`) on two nodes and, while it
/// trains, swaps learner `stage`: `model ab --a V1 --b V2 --split 70` (two older
/// registered versions), `model deploy V1`, `model rollback` (back to the A/B).
pub(crate) fn split_deploy_rollback(files: [&str; 2], spec: &str, stage: &str) -> Swapped {
    let (cluster, dir) = two_file_job(files, spec);
    let (v1, v2) = two_older_versions(&cluster, stage);
    let (s1, s2) = (v1.to_string(), v2.to_string());
    // Each swap says what the stage serves now and how long the swap took.
    let swap = |args: &[&str]| {
        let said = cluster.ok(args);
        assert!(said.contains("serves"), "{said}");
        eprint!("{said}");
    };
    swap(&[
        "model", "ab", "job-1", stage, "--a", &s1, "--b", &s2, "--split", "70",
    ]);
    let figures = wait_for_split_figures(&cluster, v1, v2, 6000);
    swap(&["model", "deploy", "job-1", stage, &s1]);
    cluster.wait_for_two_more_checkpoints("job-1");
    swap(&["model", "rollback", "job-1", stage]);
    Swapped {
        cluster,
        dir,
        v1,
        v2,
        figures,
    }
}

impl Swapped {
    /// Waits for job-1 to finish; its committed rows by id, each of `ids` exactly once.
    pub(crate) fn rows_by_id(
        &mut self,
        ids: impl Iterator<Item = usize>,
    ) -> BTreeMap<usize, Value> {
        self.cluster.wait_for_finish();
        let rows = quiver_chaos_tests::read_committed_rows(&self.dir.join("out"));
        assert_each_id_once(&rows, ids);
        rows.into_iter()
            .map(|r| (int(&r, "id") as usize, r))
            .collect()
    }
}

/// The phases [`split_deploy_rollback`] puts a partition through, and the A/B's.
pub(crate) fn split_deploy_rollback_phases(v1: u64, v2: u64) -> ([Phase; 4], Phase) {
    let split = Phase::Split {
        a: v1,
        b: v2,
        b_percent: 70.0,
    };
    ([Phase::Latest, split, Phase::Pinned(v1), split], split)
}

//! Exactly-once where every aggregate partition aligns barriers over two inputs: a generator
//! at parallelism 2 feeds a windowed and a running aggregate at parallelism 3 (each partition
//! reads both generator partitions), with checkpoints every 500 ms, on a coordinator and
//! three node processes. Thousands of keys, of which each checkpoint interval writes a part,
//! so checkpoints are incremental (chains of deltas in the coordinator's store): the node is
//! killed with SIGKILL after a few of them; the published output must equal what the
//! generator's documented formula gives — no row missing, none twice, and each upstream
//! partition's records in their order.

mod common;

use common::cluster::{restarts, Cluster};
use quiver_chaos_tests::chaos::workload::GeneratorWorkload;

/// 6 s at 2000 events/s, so the kill after the third checkpoint lands mid-run; with 3000
/// keys an interval of 1000 events writes about a third of them.
const WORKLOAD: GeneratorWorkload = GeneratorWorkload {
    count: 12_000,
    keys: 3000,
    seed: 7,
    rate: 2000,
};

/// Whether a checkpoint after the first of `quiver checkpoint list` wrote fewer bytes than
/// it references: every key group changes in every interval here, so only chains (an earlier
/// base, then this checkpoint's delta) reuse pieces.
fn incremental(listing: &str) -> bool {
    let number = |s: &str| s.replace(',', "").parse::<u64>().unwrap_or(0);
    listing
        .lines()
        .filter(|l| l.starts_with("job-1/chk-"))
        .skip(1)
        .any(|l| {
            let columns: Vec<&str> = l.split_whitespace().collect();
            let (size, new) = (number(columns[3]), number(columns[4]));
            new < size
        })
}

#[test]
fn aggregates_aligning_two_inputs_publish_exactly_once_across_a_killed_node() {
    let mut cluster = Cluster::on_loopback(3);
    let spec = cluster.dir.path().join("aligned.toml");
    std::fs::write(&spec, WORKLOAD.spec("aligned", "500ms")).unwrap();
    cluster.submit_spec(&spec);
    let listing = cluster.wait_for_checkpoints(3);
    assert!(
        incremental(&listing),
        "no checkpoint reused pieces of an earlier one:\n{listing}"
    );
    cluster.nodes[1].signal("KILL");
    let status = cluster.wait_for_finish();
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    let findings = WORKLOAD.check(cluster.dir.path());
    assert!(findings.exact(), "{findings:?}");
}

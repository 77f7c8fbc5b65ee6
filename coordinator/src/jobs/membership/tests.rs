//! A lost node is listed as lost with the wall-clock time it was lost (checked against the
//! clock read around the loss), and forgotten once [`LOST_NODE_RETENTION`] has passed. A
//! silent node is declared lost once its timeout has passed — by default in time for a
//! recovery within 2 s — and a live node whose beats come late, but within the timeout, never
//! is; the times are the test's own (`lose_silent_nodes` takes "now").

use super::*;
use crate::store::Store;
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::messages::ClusterReport;
use quiver_protocol::outbox::Outbox;
use quiver_protocol::{NodeId, NodeSlots};

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as u64
}

fn listed(report: &ClusterReport) -> Vec<(NodeId, bool, Option<u64>)> {
    report
        .nodes
        .iter()
        .map(|n| (n.node, n.alive, n.lost_at_ms))
        .collect()
}

#[tokio::test]
async fn a_lost_node_is_listed_with_its_time_then_forgotten_after_the_retention() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let mut cluster = Cluster::new(store, Heartbeats::default()).expect("cluster");
    let join = |cluster: &mut Cluster, port: u16| {
        let (outbox, _inbox) = Outbox::new(16);
        cluster.join(([127, 0, 0, 1], port).into(), NodeSlots::shared(2), outbox)
    };
    let (a, b) = (join(&mut cluster, 7001), join(&mut cluster, 7002));

    let (wall_before, before) = (epoch_ms(), Instant::now());
    cluster.node_lost(a, "killed by the test");
    let (wall_after, after) = (epoch_ms(), Instant::now());

    let report = listed(&cluster.cluster());
    assert_eq!(report.len(), 2, "{report:?}");
    assert_eq!((report[1].0, report[1].1, report[1].2), (b, true, None));
    let (node, alive, lost_at) = report[0];
    assert_eq!((node, alive), (a, false));
    let lost_at = lost_at.expect("a lost node says when");
    assert!(
        (wall_before..=wall_after).contains(&lost_at),
        "lost at {lost_at}, between {wall_before} and {wall_after}"
    );

    // Until the retention has passed for sure it stays listed; once it has for sure, it goes.
    cluster.forget_lost_nodes(before + LOST_NODE_RETENTION - Duration::from_millis(1));
    assert_eq!(cluster.cluster().nodes.len(), 2, "not yet");
    cluster.forget_lost_nodes(after + LOST_NODE_RETENTION);
    let report = listed(&cluster.cluster());
    assert_eq!(report, vec![(b, true, None)], "the alive node stays");
}

fn cluster_of_two(heartbeats: Heartbeats) -> (tempfile::TempDir, Cluster, NodeId, NodeId) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store");
    let mut cluster = Cluster::new(store, heartbeats).expect("cluster");
    let mut join = |port: u16| {
        let (outbox, _inbox) = Outbox::new(16);
        cluster.join(([127, 0, 0, 1], port).into(), NodeSlots::shared(2), outbox)
    };
    let (a, b) = (join(7001), join(7002));
    (dir, cluster, a, b)
}

fn alive(cluster: &Cluster, node: NodeId) -> bool {
    let report = cluster.cluster();
    let row = report.nodes.iter().find(|n| n.node == node);
    row.expect("listed").alive
}

#[tokio::test]
async fn by_default_a_node_silent_for_1200_ms_is_lost_leaving_time_to_recover_within_2_s() {
    // Issue 16's goal: a node fault recovered within 2 s. Redeploying and the first
    // checkpoint of the recovered run take up to ~0.7 s (BENCHMARKS.md, chaos runs 7–9), so
    // the coordinator must act on a silent node within about 1.2 s — the old 2 s could not.
    let before = Instant::now();
    let (_dir, mut cluster, a, b) = cluster_of_two(Heartbeats::default());
    let after = Instant::now();
    cluster.lose_silent_nodes(before);
    assert!(alive(&cluster, a) && alive(&cluster, b), "just joined");
    let check = Heartbeats::default().check_every();
    let acted_by = Duration::from_millis(1200);
    cluster.lose_silent_nodes(after + acted_by - check);
    assert!(!alive(&cluster, a) && !alive(&cluster, b));
}

#[tokio::test]
async fn a_live_node_whose_beats_come_late_is_never_lost_and_a_silent_one_is() {
    let heartbeats =
        Heartbeats::new(Duration::from_millis(100), Duration::from_millis(700)).expect("valid");
    let (_dir, mut cluster, silent, late) = cluster_of_two(heartbeats);
    let joined = Instant::now();
    cluster.heartbeat(late, joined, Vec::new(), Vec::new());
    // One node beats only every 700 ms (seven intervals late each time, just within the
    // timeout) for 20 beats; the other says nothing.
    for beat in 1..=20 {
        let now = joined + heartbeats.timeout() * beat;
        cluster.lose_silent_nodes(now);
        cluster.heartbeat(late, now, Vec::new(), Vec::new());
        assert!(alive(&cluster, late), "beat {beat}");
    }
    assert!(!alive(&cluster, silent));
    // Once it falls silent past the timeout, it is lost too.
    let last = joined + heartbeats.timeout() * 20;
    cluster.lose_silent_nodes(last + heartbeats.timeout() + Duration::from_millis(1));
    assert!(!alive(&cluster, late));
}

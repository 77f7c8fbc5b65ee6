//! A lost node is listed as lost with the wall-clock time it was lost (checked against the
//! clock read around the loss), and forgotten once [`LOST_NODE_RETENTION`] has passed.

use super::*;
use crate::store::Store;
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
    let mut cluster = Cluster::new(store, crate::HEARTBEAT_TIMEOUT).expect("cluster");
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

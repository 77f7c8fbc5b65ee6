//! Source partitions on one node: what each learns of the others, and who is woken when.

use super::SourcePeers;
use crate::runtime::credit::CHANNEL_CREDITS;

#[test]
fn a_partition_learns_the_slowest_of_the_others_on_its_node() {
    // Partitions 0, 1 and 3 of 4 are here; 2 is on another node (+∞, never waited for).
    let peers = SourcePeers::<&str>::new(4, [0, 1, 3]);
    assert_eq!(
        peers.publish(0, 5_000).0,
        i64::MIN,
        "1 and 3 have not read yet"
    );
    assert_eq!(peers.publish(1, 2_000).0, i64::MIN);
    assert_eq!(peers.publish(3, 9_000).0, 2_000);
    assert_eq!(peers.publish(0, 6_000).0, 2_000);
    assert_eq!(
        peers.publish(1, i64::MAX).0,
        6_000,
        "a finished partition is +∞"
    );
}

#[test]
fn alone_on_its_node_a_partition_waits_for_nobody() {
    let peers = SourcePeers::<&str>::new(2, [1]);
    assert_eq!(peers.publish(1, 1_000).0, i64::MAX);
}

#[test]
fn moving_wakes_the_waiting_partitions_once() {
    let peers = SourcePeers::new(3, [0, 1, 2]);
    peers.publish(0, 500);
    peers.publish(1, 100);
    peers.publish(2, 100);
    assert_eq!(peers.wait(0, 100, "wake 0"), None);
    assert_eq!(
        peers.wait(2, i64::MIN, "wake 2"),
        Some(100),
        "it moved already"
    );
    // Waiting again replaces the earlier registration.
    assert_eq!(peers.wait(0, 100, "wake 0 again"), None);
    assert_eq!(
        peers.publish(1, 100),
        (100, Vec::new()),
        "no move, nobody woken"
    );
    assert_eq!(peers.publish(1, 300), (100, vec!["wake 0 again"]));
    assert_eq!(peers.publish(1, 400), (100, Vec::new()), "woken once");
}

#[test]
fn a_partition_does_not_wake_itself() {
    let peers = SourcePeers::new(2, [0, 1]);
    peers.publish(1, 50);
    assert_eq!(peers.wait(0, 50, "wake 0"), None);
    assert_eq!(peers.publish(0, 2_000), (50, Vec::new()));
    assert_eq!(peers.publish(1, 60), (2_000, vec!["wake 0"]));
}

#[test]
fn a_partition_on_another_node_counts_from_the_first_watermark_heard_and_only_rises() {
    let peers = SourcePeers::new(2, [0]);
    peers.publish(0, 9_000);
    assert_eq!(peers.wait(0, i64::MAX, "wake 0"), None, "nothing heard: +∞");
    assert_eq!(
        peers.heard(1, 1_000),
        vec!["wake 0"],
        "the first one heard counts"
    );
    // Partition 0 moves by 500 and 100: partition 1 counts that many steps past 1_000.
    let lead = |step: i64| step * i64::from(CHANNEL_CREDITS);
    assert_eq!(peers.publish(0, 9_500).0, 1_000 + lead(500));
    assert_eq!(peers.wait(0, 1_000 + lead(500), "wake 0"), None);
    assert!(
        peers.heard(1, 900).is_empty(),
        "a lagging channel does not lower it"
    );
    assert_eq!(peers.publish(0, 9_600).0, 1_000 + lead(100));
    assert_eq!(
        peers.heard(1, i64::MAX),
        vec!["wake 0"],
        "ended or idle: +∞"
    );
    assert!(peers.heard(1, 5_000).is_empty());
    assert_eq!(peers.publish(0, 9_700).0, i64::MAX);
    assert!(peers.heard(7, 1).is_empty(), "no such partition");
}

#[test]
fn a_partition_on_another_node_counts_as_far_ahead_as_its_channel_may_hold() {
    // 0 and 1 here, 2 on another node, heard at 4_000. Its channel may hold CHANNEL_CREDITS of
    // its reads: it counts that many of the asking partition's steps further.
    let lead = |step: i64| step * i64::from(CHANNEL_CREDITS);
    let peers = SourcePeers::<&str>::new(3, [0, 1]);
    peers.heard(2, 4_000);
    peers.publish(1, 500_000);
    assert_eq!(peers.publish(0, 1_000).0, 4_000, "from −∞ is no step");
    assert_eq!(peers.publish(0, 3_000).0, 4_000 + lead(2_000));
    assert_eq!(
        peers.publish(1, 501_000).0,
        3_000,
        "a partition here counts where it published"
    );
    assert_eq!(
        peers.publish(0, i64::MAX).0,
        4_000 + lead(2_000),
        "+∞ is no step"
    );
}

#[test]
fn the_relay_counts_only_the_partitions_on_other_nodes() {
    use super::slowest_elsewhere;
    use quiver_protocol::PartitionId;
    let reports = [
        (PartitionId(0), 9_000),
        (PartitionId(1), 100),
        (PartitionId(2), 4_000),
    ];
    // 0 and 1 here: 1's report, the lowest, is a heartbeat old and left to reading in step.
    assert_eq!(slowest_elsewhere(&reports, |p| p.0 < 2), 4_000);
    assert_eq!(slowest_elsewhere(&reports, |p| p.0 == 0), 100);
    assert_eq!(
        slowest_elsewhere(&reports, |_| true),
        i64::MAX,
        "every partition here: nobody elsewhere to wait for"
    );
}

#[test]
fn a_source_knows_whether_all_its_partitions_are_here() {
    assert!(SourcePeers::<&str>::new(3, [0, 1, 2]).all_here());
    assert!(!SourcePeers::<&str>::new(3, [0, 2]).all_here());
    // Partition numbers beyond the source's count are ignored.
    assert!(!SourcePeers::<&str>::new(2, [0, 5]).all_here());
}

//! The node's failure detector on a paused clock: a coordinator that beats every
//! [`HEARTBEAT_INTERVAL`] is never taken for dead, a silent one is after exactly
//! [`HEARTBEAT_TIMEOUT`] — long before QUIC's 10 s idle timeout.

use super::*;
use quiver_protocol::messages::HEARTBEAT_INTERVAL;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_silent_coordinator_is_taken_for_dead_after_the_heartbeat_timeout() {
    // The other end stays open and writes nothing: a frozen (SIGSTOPped) coordinator.
    let (_coordinator, mut node) = tokio::io::duplex(1024);
    let start = Instant::now();
    let error = next_command(&mut node, HEARTBEAT_TIMEOUT)
        .await
        .expect_err("silence is an error");
    assert!(error.is::<CoordinatorSilent>(), "{error}");
    assert_eq!(start.elapsed(), HEARTBEAT_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_beating_coordinator_is_never_taken_for_dead() {
    let (mut coordinator, mut node) = tokio::io::duplex(1024);
    let beats = 40; // 20 s of heartbeats, twice QUIC's idle timeout
    tokio::spawn(async move {
        for _ in 0..beats {
            tokio::time::sleep(HEARTBEAT_INTERVAL).await;
            codec::write_frame(&mut coordinator, &ToNode::Heartbeat)
                .await
                .expect("write a heartbeat");
        }
        coordinator.shutdown().await.expect("close");
    });
    for _ in 0..beats {
        let frame = next_command(&mut node, HEARTBEAT_TIMEOUT).await;
        assert_eq!(frame.expect("alive"), Some(ToNode::Heartbeat));
    }
    assert_eq!(
        next_command(&mut node, HEARTBEAT_TIMEOUT)
            .await
            .expect("a closed stream is no silence"),
        None
    );
}

//! The same-node sender: one credit per element, and no element without one.

use super::*;
use crate::runtime::credit::CHANNEL_CREDITS;
use crate::runtime::test_support::{assert_never_sends_without_credit, probe};
use std::time::Duration;

#[tokio::test]
async fn a_local_sender_never_sends_without_credit() {
    let (actor, mut received) = probe().await;
    let gauge = Arc::new(ChannelGauge::default());
    let mut sender = ChannelSender::local(actor, 1, gauge.clone(), Default::default());
    assert_never_sends_without_credit(&mut sender, &mut received, 1).await;
    assert_eq!(gauge.max_queued(), u64::from(CHANNEL_CREDITS), "never more");
}

#[tokio::test]
async fn a_local_sender_to_a_stopped_task_fails() {
    let (actor, _received) = probe().await;
    let mut sender = ChannelSender::local(actor.clone(), 0, Default::default(), Default::default());
    actor.stop(None);
    while actor.get_status() != ractor::ActorStatus::Stopped {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let e = sender
        .send(StreamElement::End)
        .await
        .expect_err("no receiver");
    assert_eq!(e.to_string(), "channel: the receiving task has stopped");
}

//! The same-node sender: one credit per element, and no element without one.

use super::*;
use crate::runtime::credit::CHANNEL_CREDITS;
use crate::runtime::test_support::{probe, Delivered};
use std::time::Duration;

#[tokio::test]
async fn a_local_sender_never_sends_without_credit() {
    let (actor, mut received) = probe().await;
    let gauge = Arc::new(ChannelGauge::default());
    let mut sender = ChannelSender::local(actor, 1, gauge.clone());
    for wm in 0..i64::from(CHANNEL_CREDITS) {
        sender
            .send(StreamElement::Watermark(wm))
            .await
            .expect("send");
    }
    let mut held = Vec::new();
    for wm in 0..i64::from(CHANNEL_CREDITS) {
        match received.next().await {
            Delivered::Input {
                input,
                element,
                credit,
            } => {
                assert_eq!((input, element), (1, StreamElement::Watermark(wm)));
                held.push(credit);
            }
            other => panic!("{other:?}"),
        }
    }
    let mut next = Box::pin(sender.send(StreamElement::Watermark(99)));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut next)
            .await
            .is_err(),
        "sent a ninth element while the receiver held all {CHANNEL_CREDITS} credits"
    );
    assert!(received.is_quiet().await, "nothing arrived without credit");
    assert_eq!(gauge.max_queued(), u64::from(CHANNEL_CREDITS));
    drop(held.remove(0));
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("a returned credit lets the sender go on")
        .expect("send");
    assert_eq!(
        received.next().await.element(),
        StreamElement::Watermark(99)
    );
    assert_eq!(gauge.max_queued(), u64::from(CHANNEL_CREDITS), "never more");
}

#[tokio::test]
async fn a_local_sender_to_a_stopped_task_fails() {
    let (actor, _received) = probe().await;
    let mut sender = ChannelSender::local(actor.clone(), 0, Default::default());
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

//! Credits: one travels with each element, is counted on the receiver's gauge while queued,
//! and goes back to the sender when dropped.

use super::*;
use tokio::sync::Semaphore;

#[test]
fn a_local_credit_holds_its_permit_until_dropped() {
    let credits = Arc::new(Semaphore::new(2));
    let gauge = Arc::new(ChannelGauge::default());
    let permit = credits.clone().try_acquire_owned().expect("a free credit");
    let credit = Credit::local(gauge.clone(), permit);
    assert_eq!(
        credits.available_permits(),
        1,
        "the element holds one credit"
    );
    assert_eq!(gauge.queued.load(Ordering::Acquire), 1);
    drop(credit);
    assert_eq!(
        credits.available_permits(),
        2,
        "dropping it returned the credit"
    );
    assert_eq!(gauge.queued.load(Ordering::Acquire), 0);
    assert_eq!(gauge.max_queued(), 1, "the deepest queue is remembered");
}

#[test]
fn a_remote_credit_grants_one_more_element_when_dropped() {
    let (returns, mut granted) = mpsc::unbounded_channel();
    let gauge = Arc::new(ChannelGauge::default());
    let credit = Credit::remote(gauge.clone(), returns);
    assert!(granted.try_recv().is_err(), "nothing granted while held");
    drop(credit);
    assert_eq!(granted.try_recv().ok(), Some(1));
    assert!(granted.try_recv().is_err(), "exactly one grant per credit");
    assert_eq!(gauge.queued.load(Ordering::Acquire), 0);
}

#[test]
fn a_remote_credit_outliving_its_channel_is_dropped_quietly() {
    let (returns, granted) = mpsc::unbounded_channel();
    let gauge = Arc::new(ChannelGauge::default());
    let credit = Credit::remote(gauge.clone(), returns);
    drop(granted);
    drop(credit);
    assert_eq!(gauge.queued.load(Ordering::Acquire), 0);
}

#[test]
fn the_gauge_counts_queued_elements_and_keeps_the_most_ever() {
    let credits = Arc::new(Semaphore::new(CHANNEL_CREDITS as usize));
    let gauge = Arc::new(ChannelGauge::default());
    let take = || Credit::local(gauge.clone(), credits.clone().try_acquire_owned().unwrap());
    let mut held: Vec<Credit> = (0..3).map(|_| take()).collect();
    held.truncate(1);
    held.push(take());
    assert_eq!(gauge.queued.load(Ordering::Acquire), 2);
    assert_eq!(gauge.max_queued(), 3);
    assert_eq!(
        credits.available_permits(),
        CHANNEL_CREDITS as usize - 2,
        "only the held credits are missing"
    );
}

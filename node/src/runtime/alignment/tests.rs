//! Alignment over several inputs: inputs that delivered the barrier are blocked and their
//! elements held with their credits, ended inputs leave the alignment, and a newer barrier
//! abandons the one being aligned.

use super::*;
use crate::runtime::test_support::{batch_of, record, TestChannel};
use quiver_protocol::{CheckpointId, Generation};

fn barrier(checkpoint: u64) -> Barrier {
    Barrier {
        checkpoint: CheckpointId(checkpoint),
        generation: Generation(1),
        serving: 0,
    }
}

/// Offers a barrier; `Some` once it aligned.
fn offer(alignment: &mut Alignment, input: usize, barrier: Barrier) -> Option<Barrier> {
    match alignment.on_barrier(input, barrier) {
        OnBarrier::Waiting => None,
        OnBarrier::Aligned(b) => Some(b),
        OnBarrier::Abandoned(held) => panic!("abandoned, {} held", held.len()),
    }
}

fn held(channel: &TestChannel, input: usize, ts: i64) -> Held {
    Held {
        input,
        element: StreamElement::Records(batch_of(vec![record(1, 1.0, ts)])),
        credit: channel.credit(),
    }
}

#[test]
fn a_single_input_aligns_at_once() {
    let mut alignment = Alignment::new(1);
    assert_eq!(offer(&mut alignment, 0, barrier(1)), Some(barrier(1)));
    assert!(alignment.release().is_empty());
    assert!(!alignment.is_blocked(0));
}

#[test]
fn inputs_that_delivered_the_barrier_hold_their_elements_with_their_credits_until_all_did() {
    let channels = [TestChannel::new(), TestChannel::new(), TestChannel::new()];
    let mut alignment = Alignment::new(3);
    assert_eq!(offer(&mut alignment, 0, barrier(1)), None);
    assert!(alignment.is_blocked(0) && !alignment.is_blocked(1) && !alignment.is_blocked(2));
    alignment.hold(held(&channels[0], 0, 10));
    assert_eq!(offer(&mut alignment, 2, barrier(1)), None);
    alignment.hold(held(&channels[2], 2, 20));
    alignment.hold(held(&channels[0], 0, 11));
    assert_eq!(
        channels.iter().map(TestChannel::held).collect::<Vec<_>>(),
        vec![2, 0, 1],
        "held elements keep their credits: the blocked senders get no new ones"
    );
    assert_eq!(offer(&mut alignment, 1, barrier(1)), Some(barrier(1)));
    let released = alignment.release();
    let order: Vec<(usize, i64)> = released
        .iter()
        .map(|h| match &h.element {
            StreamElement::Records(b) => (h.input, b.event_time()[0]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(order, vec![(0, 10), (2, 20), (0, 11)], "arrival order");
    assert!(
        (0..3).all(|i| !alignment.is_blocked(i)),
        "every input reads again"
    );
    drop(released);
    assert!(
        channels.iter().all(|c| c.held() == 0),
        "credits return once replayed"
    );
}

#[test]
fn the_next_barrier_aligns_afresh() {
    let mut alignment = Alignment::new(2);
    offer(&mut alignment, 1, barrier(1));
    assert_eq!(offer(&mut alignment, 0, barrier(1)), Some(barrier(1)));
    alignment.release();
    assert_eq!(offer(&mut alignment, 0, barrier(2)), None);
    assert_eq!(offer(&mut alignment, 1, barrier(2)), Some(barrier(2)));
}

#[test]
fn an_input_ending_during_alignment_no_longer_takes_part() {
    let mut alignment = Alignment::new(3);
    offer(&mut alignment, 0, barrier(1));
    assert_eq!(
        alignment.on_end(1),
        None,
        "input 2 has not delivered it yet"
    );
    assert_eq!(offer(&mut alignment, 2, barrier(1)), Some(barrier(1)));
}

#[test]
fn the_last_waited_for_input_ending_completes_the_alignment() {
    let channel = TestChannel::new();
    let mut alignment = Alignment::new(2);
    offer(&mut alignment, 0, barrier(1));
    alignment.hold(held(&channel, 0, 5));
    assert_eq!(alignment.on_end(1), Some(barrier(1)));
    assert_eq!(alignment.release().len(), 1);
}

#[test]
fn an_ended_input_is_left_out_of_later_alignments() {
    let mut alignment = Alignment::new(3);
    assert_eq!(alignment.on_end(2), None, "no barrier pending");
    offer(&mut alignment, 0, barrier(1));
    assert_eq!(offer(&mut alignment, 1, barrier(1)), Some(barrier(1)));
    alignment.release();
    offer(&mut alignment, 1, barrier(2));
    assert_eq!(offer(&mut alignment, 0, barrier(2)), Some(barrier(2)));
}

#[test]
fn a_newer_barrier_abandons_the_one_being_aligned_and_hands_back_what_was_held() {
    let channel = TestChannel::new();
    let mut alignment = Alignment::new(3);
    offer(&mut alignment, 0, barrier(1));
    alignment.hold(held(&channel, 0, 10));
    alignment.hold(held(&channel, 0, 11));
    offer(&mut alignment, 1, barrier(1));
    // Input 2 skipped barrier 1: it was abandoned.
    let OnBarrier::Abandoned(replay) = alignment.on_barrier(2, barrier(2)) else {
        panic!("barrier 2 abandons barrier 1");
    };
    let order: Vec<(usize, i64)> = replay
        .iter()
        .map(|h| match &h.element {
            StreamElement::Records(b) => (h.input, b.event_time()[0]),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(order, vec![(0, 10), (0, 11)], "what input 0 held, in order");
    assert!(
        (0..3).all(|i| !alignment.is_blocked(i)),
        "nobody waits for 1"
    );
    assert_eq!(channel.held(), 2, "the credits travel with the replay");
    drop(replay);
    assert_eq!(offer(&mut alignment, 2, barrier(2)), None, "offered again");
    assert!(alignment.is_blocked(2));
    assert_eq!(offer(&mut alignment, 0, barrier(2)), None);
    assert_eq!(offer(&mut alignment, 1, barrier(2)), Some(barrier(2)));
}

#[test]
fn a_barrier_older_than_the_one_being_aligned_is_dropped() {
    let mut alignment = Alignment::new(2);
    offer(&mut alignment, 1, barrier(2));
    assert_eq!(offer(&mut alignment, 0, barrier(1)), None);
    assert!(
        !alignment.is_blocked(0),
        "input 0 still reads: 1 was abandoned"
    );
    assert_eq!(offer(&mut alignment, 0, barrier(2)), Some(barrier(2)));
}

#[test]
fn the_alignment_time_is_taken_once() {
    let mut alignment = Alignment::new(2);
    offer(&mut alignment, 0, barrier(1));
    std::thread::sleep(std::time::Duration::from_millis(5));
    offer(&mut alignment, 1, barrier(1));
    assert!(alignment.take_duration() >= std::time::Duration::from_millis(5));
    assert_eq!(alignment.take_duration(), std::time::Duration::ZERO);
}

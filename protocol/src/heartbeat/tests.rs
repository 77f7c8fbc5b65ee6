//! Heartbeats are checked when built and when decoded: a timeout shorter than two intervals
//! (one late beat would read as a death) or a near-zero interval is refused, also from a
//! peer, where a zero interval would otherwise reach a timer that panics on it.

use super::*;
use crate::codec;
use crate::ids::NodeId;
use crate::messages::ToNode;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_timeout_of_two_intervals_or_more_is_taken_and_a_shorter_one_refused() {
    assert_eq!(
        Heartbeats::new(ms(250), ms(500)).map(|h| h.timeout()),
        Ok(ms(500))
    );
    assert_eq!(
        Heartbeats::new(ms(250), ms(499)),
        Err(HeartbeatError::TimeoutTooShort {
            interval: ms(250),
            timeout: ms(499)
        })
    );
    assert_eq!(
        Heartbeats::new(ms(9), ms(1000)),
        Err(HeartbeatError::IntervalTooShort(ms(9)))
    );
    assert!(
        Heartbeats::new(Duration::MAX, Duration::MAX).is_ok(),
        "no overflow"
    );
}

#[test]
fn the_defaults_keep_the_rule() {
    let d = Heartbeats::default();
    assert_eq!(Heartbeats::new(d.interval(), d.timeout()), Ok(d));
}

#[test]
fn silence_is_looked_for_every_half_interval_and_at_least_every_250_ms() {
    let check = |interval| Heartbeats::new(ms(interval), ms(interval * 4)).map(|h| h.check_every());
    assert_eq!(check(100), Ok(ms(50)));
    assert_eq!(check(500), Ok(ms(250)));
    assert_eq!(check(10_000), Ok(ms(250)));
}

#[test]
fn a_welcome_carries_the_heartbeats_and_a_bad_one_does_not_decode() {
    let heartbeats = Heartbeats::new(ms(100), ms(700)).expect("valid");
    let welcome = ToNode::Welcome {
        node: NodeId(4),
        heartbeats,
    };
    let bytes = codec::encode(&welcome).expect("encodes");
    assert_eq!(codec::decode::<ToNode>(&bytes).expect("decodes"), welcome);

    // The same frame with a zero interval, as a faulty peer could send it.
    let forged = Heartbeats {
        interval: Duration::ZERO,
        timeout: ms(700),
    };
    let bytes = codec::encode(&ToNode::Welcome {
        node: NodeId(4),
        heartbeats: forged,
    })
    .expect("encodes");
    assert!(codec::decode::<ToNode>(&bytes).is_err());
}

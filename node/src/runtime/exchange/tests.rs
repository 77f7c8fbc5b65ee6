//! Two exchanges over real QUIC on 127.0.0.1 (node certificates of one generated bundle),
//! a probe registered as the receiving task: elements cross in order to the input of their
//! upstream partition, a remote sender never sends without credit, and channels of another
//! generation or to a task that is not there are refused.

use super::*;
use crate::runtime::sender::ChannelSender;
use crate::runtime::test_support::{
    assert_never_sends_without_credit, batch_of, probe, record, Delivered, Received, GENERATION,
};
use quiver_protocol::messages::ChannelId;
use quiver_protocol::pki::{generate_bundle, TlsIdentity};
use quiver_protocol::{Barrier, CheckpointId};

const JOB: JobId = JobId(1);
const TO: OperatorId = OperatorId(2);

/// An exchange serving on a free port of 127.0.0.1.
fn node(identity: &TlsIdentity) -> (Arc<Exchange>, SocketAddr) {
    let endpoint =
        transport::endpoint("127.0.0.1:0".parse().expect("address"), identity).expect("endpoint");
    let addr = endpoint.local_addr().expect("address");
    let exchange = Exchange::new(endpoint);
    tokio::spawn(exchange.clone().serve());
    (exchange, addr)
}

/// Two nodes of one cluster: the one that dials, and the other with its address.
fn two_nodes() -> (Arc<Exchange>, Arc<Exchange>, SocketAddr) {
    let bundle = generate_bundle().expect("certificates");
    let identity = TlsIdentity::from_bundle(&bundle, Role::Node).expect("identity");
    let (from, _) = node(&identity);
    let (to, addr) = node(&identity);
    (from, to, addr)
}

/// A sending node, a receiving node whose task (`TO`, partition 0, two inputs, generation
/// `registered`) is a probe, and a channel from upstream partition 1 opened at
/// `generation`.
struct Pair {
    sender: ChannelSender,
    received: Received,
    counters: Arc<TaskCounters>,
    sent: Arc<TaskCounters>,
}

/// Node `node` at `addr` as session `session` knows it.
fn peer(session: u64, node: u64, addr: std::net::SocketAddr) -> Peer {
    Peer {
        session,
        node: NodeId(node),
        addr,
    }
}

async fn pair(registered: Generation, generation: Generation) -> Pair {
    pair_with(registered, generation, None).await
}

/// [`pair`], where the upstream operator is a source whose partitions on the receiving node
/// read in step with `in_step` (registered before the channel opens).
async fn pair_with(registered: Generation, generation: Generation, in_step: Option<Peers>) -> Pair {
    let (from, addr, received, counters) = nodes(registered, in_step).await;
    let open = channel_open(generation);
    let sent = Arc::new(TaskCounters::new(0));
    let remote = from
        .open(peer(1, 2, addr), open, sent.clone())
        .await
        .expect("open");
    Pair {
        sender: ChannelSender::Remote(remote),
        received,
        counters,
        sent,
    }
}

/// The header of the channel from upstream partition 1 into the probe, at `generation`.
fn channel_open(generation: Generation) -> ChannelOpen {
    ChannelOpen {
        job: JOB,
        generation,
        channel: ChannelId {
            from: OperatorId(1),
            from_partition: PartitionId(1),
            to: TO,
            to_partition: PartitionId(0),
        },
    }
}

/// A sending node, and a receiving node (its address, what its probe task receives and the
/// probe's counters).
async fn nodes(
    registered: Generation,
    in_step: Option<Peers>,
) -> (Arc<Exchange>, SocketAddr, Received, Arc<TaskCounters>) {
    let (from, to, addr) = two_nodes();
    if let Some(peers) = in_step {
        to.register_source((JOB, OperatorId(1)), registered, peers);
    }
    let (actor, received) = probe().await;
    let counters = Arc::new(TaskCounters::new(2));
    to.register(
        (JOB, TO, PartitionId(0)),
        TaskEntry {
            generation: registered,
            actor,
            counters: counters.clone(),
            columns: batch_of(vec![record(0, 0.0, 0)])
                .columns()
                .iter()
                .map(|c| c.ty())
                .collect(),
        },
    );
    (from, addr, received, counters)
}

fn barrier() -> StreamElement {
    StreamElement::Barrier(Barrier {
        checkpoint: CheckpointId(7),
        generation: GENERATION,
        serving: 0,
    })
}

#[tokio::test]
async fn elements_cross_in_order_to_the_input_of_their_upstream_partition() {
    let mut p = pair(GENERATION, GENERATION).await;
    let elements = vec![
        StreamElement::Records(batch_of(vec![record(1, 1.5, 10), record(2, 2.5, 11)])),
        StreamElement::Watermark(10),
        barrier(),
        StreamElement::Records(batch_of(vec![record(3, 3.5, 12)])),
        StreamElement::End,
    ];
    for element in elements.clone() {
        p.sender.send(element).await.expect("send");
    }
    for expected in elements {
        match p.received.next().await {
            Delivered::Input { input, element, .. } => {
                assert_eq!((input, element), (1, expected));
            }
            other => panic!("{other:?}"),
        }
    }
    let received = p
        .counters
        .bytes_received
        .load(std::sync::atomic::Ordering::Relaxed);
    let sent = p.sent.bytes_sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(received > 0 && sent > 0, "traffic is counted");
    assert!(p.received.is_quiet().await, "nothing after the end");
}

#[tokio::test]
async fn a_remote_sender_never_sends_without_credit() {
    let mut p = pair(GENERATION, GENERATION).await;
    assert_never_sends_without_credit(&mut p.sender, &mut p.received, 1).await;
    let gauge = &p.counters.inputs[1];
    assert_eq!(gauge.max_queued(), u64::from(CHANNEL_CREDITS), "never more");
}

#[tokio::test]
async fn a_channel_of_another_generation_is_refused() {
    let mut p = pair(GENERATION, Generation(GENERATION.0 - 1)).await;
    let e = p
        .sender
        .send(StreamElement::Watermark(1))
        .await
        .expect_err("refused");
    assert_eq!(
        e.to_string(),
        "channel: the receiving node closed the channel"
    );
    assert!(p.received.is_quiet().await, "the task got nothing");
}

#[tokio::test]
async fn a_channel_finished_before_its_end_fails_the_input() {
    let mut p = pair(GENERATION, GENERATION).await;
    p.sender
        .send(StreamElement::Watermark(1))
        .await
        .expect("send");
    assert_eq!(
        p.received.next().await.element(),
        StreamElement::Watermark(1)
    );
    let ChannelSender::Remote(remote) = p.sender else {
        panic!("a remote sender");
    };
    remote.finish_without_end();
    match p.received.next().await {
        Delivered::Failed { input, error } => {
            assert_eq!(input, 1);
            assert!(
                error.contains("closed the channel before its end"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_channel_whose_sending_task_stopped_goes_quiet_without_failing_the_input() {
    // The sending task failed (its node reports that) or was cancelled: the receiver must not
    // report a broken channel of its own, which could reach the coordinator first.
    let mut p = pair(GENERATION, GENERATION).await;
    p.sender
        .send(StreamElement::Watermark(1))
        .await
        .expect("send");
    assert_eq!(
        p.received.next().await.element(),
        StreamElement::Watermark(1)
    );
    drop(p.sender);
    assert!(p.received.is_quiet().await, "the input reported a failure");
}

#[tokio::test]
async fn watermarks_from_a_partition_of_an_in_step_source_reach_its_partitions_here() {
    // Source 1 reads in step: its partition 0 is on the receiving node, 1 is the sender's.
    let peers = Arc::new(SourcePeers::new(2, [0]));
    let mut p = pair_with(GENERATION, GENERATION, Some(peers.clone())).await;
    assert_eq!(peers.publish(0, 0).0, i64::MAX, "nothing heard yet");
    let elements = [
        StreamElement::Watermark(5_000),
        StreamElement::Records(batch_of(vec![record(1, 1.0, 6_000)])),
        StreamElement::Watermark(4_000),
    ];
    for element in elements {
        p.sender.send(element.clone()).await.expect("send");
        assert_eq!(p.received.next().await.element(), element);
    }
    // Partition 0 stays where it was: no step of its own leads what it heard (see
    // `SourcePeers`).
    assert_eq!(peers.publish(0, 0).0, 5_000, "the highest heard");
    p.sender.send(StreamElement::End).await.expect("send");
    assert_eq!(p.received.next().await.element(), StreamElement::End);
    assert_eq!(peers.publish(0, 0).0, i64::MAX, "its end: +∞");
}

/// The elements a receiving probe gets, each taken with its credit.
async fn take_with_credits(received: &mut Received, n: usize) -> Vec<(StreamElement, Credit)> {
    let mut taken = Vec::new();
    for _ in 0..n {
        match received.next().await {
            Delivered::Input {
                input: 1,
                element,
                credit,
            } => taken.push((element, credit)),
            other => panic!("{other:?}"),
        }
    }
    taken
}

#[tokio::test]
async fn elements_sent_together_go_out_as_far_as_the_credits_reach_and_the_rest_follows_in_order() {
    let Pair {
        mut sender,
        mut received,
        counters,
        ..
    } = pair(GENERATION, GENERATION).await;
    let credits = CHANNEL_CREDITS as usize;
    // A batch and its watermark per step, more than the credits, then the end.
    let elements: Vec<StreamElement> = (0..credits as i64)
        .flat_map(|t| {
            [
                StreamElement::Records(batch_of(vec![record(t, 1.0, t)])),
                StreamElement::Watermark(t),
            ]
        })
        .chain([StreamElement::End])
        .collect();
    let expected = elements.clone();
    let send = tokio::spawn(async move { sender.send_all(elements).await });

    // The first `credits` elements arrive while the receiver holds every credit: the sender
    // wrote them before it waited for more.
    let held = take_with_credits(&mut received, credits).await;
    assert!(received.is_quiet().await, "nothing beyond the credits");
    assert!(!send.is_finished(), "the sender waits for credit");
    let mut got: Vec<StreamElement> = Vec::new();
    for (element, credit) in held {
        got.push(element);
        drop(credit);
    }
    // Each returned credit lets one more element go.
    while got.len() < expected.len() {
        let (element, credit) = take_with_credits(&mut received, 1).await.remove(0);
        got.push(element);
        drop(credit);
    }
    assert_eq!(got, expected, "in order, each once");
    tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("the sender is done")
        .expect("no panic")
        .expect("sent");
    assert_eq!(
        counters.inputs[1].max_queued(),
        u64::from(CHANNEL_CREDITS),
        "never more queued than the credits"
    );
    assert!(received.is_quiet().await, "nothing after the end");
}

#[tokio::test]
async fn a_node_restarted_at_an_address_gets_a_new_connection_and_the_old_one_closes() {
    let (from, _to, addr) = two_nodes();
    let old = from.connection(peer(1, 2, addr)).await.expect("dial");
    let again = from.connection(peer(1, 2, addr)).await.expect("reuse");
    assert_eq!(
        old.stable_id(),
        again.stable_id(),
        "one connection per live node"
    );
    // The coordinator now places a new node (a restarted process) at that address.
    let new = from.connection(peer(1, 3, addr)).await.expect("dial again");
    assert_ne!(
        new.stable_id(),
        old.stable_id(),
        "the new node got the old connection"
    );
    assert!(
        old.close_reason().is_some(),
        "the old node's connection stays open"
    );
    assert_eq!(
        from.peer_table().len(),
        1,
        "the old node's connection is still kept"
    );
}

/// A restarted coordinator numbers nodes from 1 again: in the new session the same id at
/// the same address may be another process (a node restarted behind that address), which
/// must not get the connection to the one that was there before.
#[tokio::test]
async fn a_new_session_dials_again_where_an_old_one_named_the_same_node() {
    let (from, _to, addr) = two_nodes();
    let first = from.begin_session();
    let old = from.connection(peer(first, 4, addr)).await.expect("dial");
    let second = from.begin_session();
    assert!(second > first);
    assert!(
        from.peer_table().is_empty(),
        "the old session's peers are forgotten"
    );
    let new = from
        .connection(peer(second, 4, addr))
        .await
        .expect("dial again");
    assert_ne!(
        new.stable_id(),
        old.stable_id(),
        "the old session's connection was reused"
    );
    // A channel of the old session still dialling (its tasks are being cancelled) gets no
    // connection and leaves the new session's alone.
    assert!(from.connection(peer(first, 4, addr)).await.is_err());
    assert!(new.close_reason().is_none());
    let again = from.connection(peer(second, 4, addr)).await.expect("reuse");
    assert_eq!(again.stable_id(), new.stable_id());
}

#[tokio::test]
async fn a_sender_that_ignores_its_credits_is_cut_off() {
    let (from, addr, mut received, _) = nodes(GENERATION, None).await;
    let connection = transport::connect(from.endpoint(), addr)
        .await
        .expect("connect");
    let (mut send, _replies) = connection.open_bi().await.expect("open a stream");
    codec::write_frame(&mut send, &channel_open(GENERATION))
        .await
        .expect("header");
    // One element more than the receiver granted, written without waiting for any credit.
    let mut frames = Vec::new();
    for wm in 0..=i64::from(CHANNEL_CREDITS) {
        let start = codec::start_frame(&mut frames);
        StreamElement::Watermark(wm)
            .encode_into(&mut frames)
            .expect("encode");
        codec::seal_frame(&mut frames, start).expect("frame");
    }
    send.write_all(&frames).await.expect("write");
    // The probe holds every credit it gets: none comes back to be granted again.
    let mut held = Vec::new();
    for wm in 0..i64::from(CHANNEL_CREDITS) {
        match received.next().await {
            Delivered::Input {
                element, credit, ..
            } => {
                assert_eq!(element, StreamElement::Watermark(wm));
                held.push(credit);
            }
            other => panic!("{other:?}"),
        }
    }
    match received.next().await {
        Delivered::Failed { input, error } => {
            assert_eq!(input, 1);
            assert!(error.contains("ignores flow control"), "{error}");
        }
        other => panic!("the element past the credits was taken: {other:?}"),
    }
}

//! Wire frames (`quiver_protocol::codec`): a stream of length-prefixed frames read with
//! [`codec::read_frame_bytes`], each payload decoded as every message type a peer reads
//! first or in a loop (coordinator requests, node and coordinator control messages, admin
//! responses, channel headers, upload replies, state frames) and as a channel's stream
//! element.
//!
//! Properties: reading and decoding return typed errors, never panic; a frame over
//! [`codec::MAX_FRAME_BYTES`] is refused before its payload is read; a message that decodes
//! encodes again, and that encoding decodes to a message with the same encoding.

use quiver_protocol::batch::ColumnType;
use quiver_protocol::codec::{self, CodecError};
use quiver_protocol::messages::{
    AdminRequest, AdminResponse, ChannelOpen, ChannelReply, CoordinatorRequest, NodeHello,
    StateFetch, StateFrame, ToCoordinator, ToNode, UploadReply,
};
use quiver_protocol::{CheckpointId, JobId, KeyGroup, StreamElement};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Checks one input: a stream of frames.
pub fn check(data: &[u8]) {
    for payload in payloads(data) {
        let Ok(payload) = payload else { break };
        round_trip::<CoordinatorRequest>(&payload);
        round_trip::<AdminResponse>(&payload);
        round_trip::<ToNode>(&payload);
        round_trip::<ToCoordinator>(&payload);
        round_trip::<ChannelOpen>(&payload);
        round_trip::<ChannelReply>(&payload);
        round_trip::<UploadReply>(&payload);
        round_trip::<StateFrame>(&payload);
        let columns = [ColumnType::I64, ColumnType::F64, ColumnType::Str];
        if let Ok(element) = StreamElement::decode(&payload, &columns) {
            let mut again = Vec::new();
            element
                .encode_into(&mut again)
                .expect("a decoded element encodes");
            let back = StreamElement::decode(&again, &columns).expect("its encoding decodes");
            let mut third = Vec::new();
            back.encode_into(&mut third).expect("encodes again");
            assert_eq!(again, third, "a stream element changed on a round trip");
        }
    }
}

/// The frames of `data` as [`codec::read_frame_bytes`] reads them from a stream, up to the
/// first error (included) or the end.
pub fn payloads(data: &[u8]) -> impl Iterator<Item = Result<Vec<u8>, CodecError>> + '_ {
    let mut reader = data;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let next = ready(codec::read_frame_bytes(&mut reader)).transpose();
        failed = matches!(next, Some(Err(_)));
        next
    })
}

/// Runs a future that never waits (a read from a byte slice) to its end.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a read from a byte slice never waits"),
    }
}

/// Decodes `bytes` as a `T`; if that works, its encoding must decode to a message with the
/// same encoding (equality of encodings, since a NaN in a message is not equal to itself).
fn round_trip<T: Serialize + DeserializeOwned>(bytes: &[u8]) {
    let Ok(msg) = codec::decode::<T>(bytes) else {
        return;
    };
    let again = codec::encode(&msg).expect("a decoded message encodes");
    let back: T = codec::decode(&again).expect("the encoding of a decoded message decodes");
    assert_eq!(
        codec::encode(&back).expect("encodes again"),
        again,
        "a {} changed on a round trip",
        std::any::type_name::<T>()
    );
}

/// Frames of real messages of each kind a peer reads.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        frames(&[codec::encode(&CoordinatorRequest::Join(NodeHello {
            listen: "127.0.0.1:7000".parse().expect("an address"),
            slots: "4,training=2".parse().expect("slots"),
        }))]),
        frames(&[codec::encode(&CoordinatorRequest::Admin(
            AdminRequest::List,
        ))]),
        frames(&[codec::encode(&CoordinatorRequest::FetchState(StateFetch {
            job: JobId(3),
            checkpoint: CheckpointId(9),
            operator: "per_user".into(),
            groups: 0..64,
        }))]),
        frames(&[
            codec::encode(&StateFrame::Chunk {
                operator: "agg".into(),
                group: KeyGroup(5),
                bytes: vec![1, 2, 3],
                more: false,
            }),
            codec::encode(&StateFrame::Done),
        ]),
        frames(&[codec::encode(&UploadReply::Refused(
            "stale generation".into(),
        ))]),
        frames(&[codec::encode(&ToNode::Welcome {
            node: quiver_protocol::NodeId(2),
            heartbeats: quiver_protocol::heartbeat::Heartbeats::default(),
        })]),
    ];
    let mut element = Vec::new();
    StreamElement::Watermark(1_700_000_000_000)
        .encode_into(&mut element)
        .expect("a watermark encodes");
    seeds.push(frames(&[Ok(element)]));
    seeds
}

/// Frames with the given payloads, as `codec::write_frame` writes them.
fn frames(payloads: &[Result<Vec<u8>, CodecError>]) -> Vec<u8> {
    let mut out = Vec::new();
    for payload in payloads {
        let payload = payload.as_ref().expect("a seed message encodes");
        let start = codec::start_frame(&mut out);
        out.extend_from_slice(payload);
        codec::seal_frame(&mut out, start).expect("a seed frame is small");
    }
    out
}

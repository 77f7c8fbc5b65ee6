//! State chunks on an upload or fetch stream (`quiver_protocol::state_stream`): frames read
//! as [`StateFrame`]s, whose chunks go through the [`GroupAssembler`] that the coordinator
//! (uploads) and nodes (restores) use.
//!
//! Properties: no panic; the assembled groups hold exactly the chunk bytes that arrived and
//! were accepted, in order (reassembly neither loses nor invents bytes, so it cannot grow
//! beyond its input; a chunk past a limit is refused whole).

use crate::frame::payloads;
use quiver_protocol::codec;
use quiver_protocol::messages::StateFrame;
use quiver_protocol::state_stream::{write_group, GroupAssembler};
use quiver_protocol::KeyGroup;

/// Checks one input: a stream of frames carrying state chunks.
pub fn check(data: &[u8]) {
    let mut assembler = GroupAssembler::default();
    let mut arrived = Vec::new();
    for payload in payloads(data) {
        let Ok(payload) = payload else { break };
        match codec::decode::<StateFrame>(&payload) {
            Ok(StateFrame::Chunk {
                operator,
                group,
                bytes,
                more,
            }) => {
                let len = bytes.len();
                arrived.extend_from_slice(&bytes);
                if assembler.push(operator, group, bytes, more).is_err() {
                    // Past a limit: refused, and nothing of the chunk kept.
                    arrived.truncate(arrived.len() - len);
                    break;
                }
            }
            Ok(StateFrame::Done) | Ok(StateFrame::Error(_)) | Err(_) => break,
        }
    }
    let assembled: Vec<u8> = assembler
        .finish()
        .into_iter()
        .flat_map(|(_, _, bytes)| bytes)
        .collect();
    assert_eq!(assembled, arrived, "reassembly changed the chunk bytes");
}

/// Groups written by [`write_group`] as an upload writes them, then the end frame.
pub fn seeds() -> Vec<Vec<u8>> {
    let groups: [&[(&str, u32, &[u8])]; 3] = [
        &[("per_user", 3, b"\x01\x02\x03state")],
        &[("agg", 0, b""), ("agg", 1, b"one"), ("src", 0, b"\x00pos")],
        &[("learner", 7, &[0x5a; 300])],
    ];
    groups
        .iter()
        .map(|groups| {
            let mut out = Vec::new();
            for (operator, group, bytes) in groups.iter() {
                crate::frame::ready(write_group(&mut out, operator, KeyGroup(*group), bytes))
                    .expect("writing to a vector works");
            }
            let end = codec::encode(&StateFrame::Done).expect("encodes");
            let start = codec::start_frame(&mut out);
            out.extend_from_slice(&end);
            codec::seal_frame(&mut out, start).expect("a small frame");
            out
        })
        .collect()
}

//! State streams: groups survive chunking whatever their size, and reassembly refuses a key
//! group or a transfer one byte past its limit, keeping nothing of the refused chunk.

use super::*;

/// The frames of `groups` as a sender writes them, ending with `Done`.
async fn wire(groups: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (operator, group, bytes) in groups {
        write_group(&mut wire, operator, KeyGroup(*group), bytes)
            .await
            .expect("write a group");
    }
    codec::write_frame(&mut wire, &StateFrame::Done)
        .await
        .expect("write the end");
    wire
}

#[tokio::test]
async fn groups_survive_chunking_whatever_their_size() {
    let big = vec![7u8; STATE_CHUNK_BYTES * 2 + 5];
    let sent = [
        ("agg", 3, big.clone()),
        ("agg", 4, Vec::new()),
        ("src", 0, b"pos".to_vec()),
    ];
    let wire = wire(&sent).await;
    let groups = read_groups(&mut wire.as_slice(), TransferLimits::default())
        .await
        .expect("within the limits");
    assert_eq!(
        groups,
        vec![
            ("agg".to_string(), KeyGroup(3), big),
            ("agg".to_string(), KeyGroup(4), Vec::new()),
            ("src".to_string(), KeyGroup(0), b"pos".to_vec()),
        ]
    );
}

#[test]
fn a_key_group_one_byte_past_its_limit_is_refused() {
    let limits = TransferLimits {
        group: 10,
        transfer: 100,
    };
    let mut at_limit = GroupAssembler::new(limits);
    at_limit
        .push("agg".into(), KeyGroup(1), vec![1; 6], true)
        .expect("6 bytes");
    at_limit
        .push("agg".into(), KeyGroup(1), vec![2; 4], false)
        .expect("10 bytes: the limit itself is allowed");

    let mut past = GroupAssembler::new(limits);
    past.push("agg".into(), KeyGroup(1), vec![1; 6], true)
        .expect("6 bytes");
    let refused = past.push("agg".into(), KeyGroup(1), vec![2; 5], false);
    assert!(
        matches!(
            refused,
            Err(StateStreamError::GroupTooLarge { ref operator, group: KeyGroup(1), limit: 10 })
                if operator == "agg"
        ),
        "{refused:?}"
    );
    assert_eq!(
        past.finish(),
        vec![("agg".to_string(), KeyGroup(1), vec![1; 6])],
        "nothing of the refused chunk is kept"
    );
}

#[test]
fn a_transfer_one_byte_past_its_limit_is_refused() {
    let limits = TransferLimits {
        group: 100,
        transfer: 20,
    };
    let mut assembler = GroupAssembler::new(limits);
    for group in 0..2 {
        assembler
            .push("agg".into(), KeyGroup(group), vec![0; 10], false)
            .expect("10 bytes a group, 20 in all");
    }
    let refused = assembler.push("agg".into(), KeyGroup(2), vec![0; 1], false);
    assert!(
        matches!(
            refused,
            Err(StateStreamError::TransferTooLarge { limit: 20 })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_hostile_stream_past_the_limit_is_refused_before_its_end() {
    // One group sent as more chunks than the limit allows, then more that are never read.
    let limits = TransferLimits {
        group: STATE_CHUNK_BYTES * 2,
        transfer: STATE_CHUNK_BYTES * 4,
    };
    let huge = vec![9u8; STATE_CHUNK_BYTES * 2 + 1];
    let wire = wire(&[("agg", 0, huge), ("agg", 1, vec![1; 3])]).await;
    let refused = read_groups(&mut wire.as_slice(), limits).await;
    assert!(
        matches!(
            refused,
            Err(StateStreamError::GroupTooLarge {
                group: KeyGroup(0),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        refused.map(|_| ()).unwrap_err().to_string(),
        format!(
            "kg0 of agg is larger than the {}-byte limit of one key group",
            STATE_CHUNK_BYTES * 2
        )
    );
}

#[tokio::test]
async fn a_stream_without_its_end_or_with_the_senders_error_is_refused() {
    let mut cut = wire(&[("agg", 0, vec![1; 3])]).await;
    cut.truncate(cut.len() - 1);
    let ended = read_groups(&mut cut.as_slice(), TransferLimits::default()).await;
    assert!(
        matches!(
            ended,
            Err(StateStreamError::Codec(_) | StateStreamError::EndedEarly)
        ),
        "{ended:?}"
    );
    let mut refused = Vec::new();
    codec::write_frame(
        &mut refused,
        &StateFrame::Error("no such checkpoint".into()),
    )
    .await
    .expect("write");
    let error = read_groups(&mut refused.as_slice(), TransferLimits::default())
        .await
        .map(|_| ())
        .expect_err("the sender's error");
    assert_eq!(error.to_string(), "no such checkpoint");
}

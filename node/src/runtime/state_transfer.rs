//! Moving snapshot state between a node and the coordinator's checkpoint store.
//!
//! A task acknowledges a checkpoint by uploading its state on a stream of its own
//! ([`CoordinatorRequest::UploadState`]), so the control stream never carries large frames;
//! a restoring task fetches each operator's key groups the same way. Key groups larger than a
//! frame travel as several chunks.

use super::RuntimeError;
use crate::operator::KeyGroupState;
use quiver_protocol::codec;
use quiver_protocol::messages::{
    CoordinatorRequest, StateFetch, StateFrame, StateUpload, UploadReply,
};

/// The most state bytes in one frame.
const CHUNK_BYTES: usize = 4 << 20;

/// The node's connection to the coordinator, for state transfers.
#[derive(Clone)]
pub struct CoordinatorLink {
    connection: quinn::Connection,
}

impl CoordinatorLink {
    /// A link over the node's connection to the coordinator.
    pub fn new(connection: quinn::Connection) -> CoordinatorLink {
        CoordinatorLink { connection }
    }

    /// Uploads a task's snapshot; returns once the coordinator stored it.
    pub(crate) async fn upload(
        &self,
        header: StateUpload,
        states: Vec<(String, KeyGroupState)>,
    ) -> Result<(), RuntimeError> {
        let (mut send, mut recv) = self.open().await?;
        codec::write_frame(&mut send, &CoordinatorRequest::UploadState(header)).await?;
        for (operator, state) in states {
            let mut chunks = state.bytes.chunks(CHUNK_BYTES).peekable();
            if chunks.peek().is_none() {
                let frame = StateFrame::Chunk {
                    operator: operator.clone(),
                    group: state.group,
                    bytes: Vec::new(),
                    more: false,
                };
                codec::write_frame(&mut send, &frame).await?;
            }
            while let Some(chunk) = chunks.next() {
                let frame = StateFrame::Chunk {
                    operator: operator.clone(),
                    group: state.group,
                    bytes: chunk.to_vec(),
                    more: chunks.peek().is_some(),
                };
                codec::write_frame(&mut send, &frame).await?;
            }
        }
        codec::write_frame(&mut send, &StateFrame::Done).await?;
        let _ = send.finish();
        match codec::read_frame::<_, UploadReply>(&mut recv).await? {
            Some(UploadReply::Stored) => Ok(()),
            Some(UploadReply::Refused(why)) => Err(RuntimeError::Plan(format!(
                "the coordinator refused the snapshot: {why}"
            ))),
            None => Err(RuntimeError::ChannelClosed(
                "the coordinator closed the upload without answering".into(),
            )),
        }
    }

    /// Fetches one operator's state for the given key groups.
    pub(crate) async fn fetch(
        &self,
        fetch: StateFetch,
    ) -> Result<Vec<KeyGroupState>, RuntimeError> {
        let (mut send, mut recv) = self.open().await?;
        codec::write_frame(&mut send, &CoordinatorRequest::FetchState(fetch)).await?;
        let _ = send.finish();
        let mut states: Vec<KeyGroupState> = Vec::new();
        let mut continuing = false;
        loop {
            match codec::read_frame::<_, StateFrame>(&mut recv).await? {
                Some(StateFrame::Chunk {
                    group, bytes, more, ..
                }) => {
                    match states.last_mut() {
                        Some(last) if continuing && last.group == group => {
                            last.bytes.extend_from_slice(&bytes)
                        }
                        _ => states.push(KeyGroupState { group, bytes }),
                    }
                    continuing = more;
                }
                Some(StateFrame::Done) => return Ok(states),
                Some(StateFrame::Error(why)) => {
                    return Err(RuntimeError::Plan(format!("cannot restore state: {why}")))
                }
                None => {
                    return Err(RuntimeError::ChannelClosed(
                        "the coordinator ended a state fetch early".into(),
                    ))
                }
            }
        }
    }

    async fn open(&self) -> Result<(quinn::SendStream, quinn::RecvStream), RuntimeError> {
        self.connection.open_bi().await.map_err(|e| {
            RuntimeError::ChannelClosed(format!("cannot open a stream to the coordinator: {e}"))
        })
    }
}

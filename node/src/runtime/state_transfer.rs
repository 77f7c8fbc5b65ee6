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
use quiver_protocol::state_stream::{self, StateStreamError, TransferLimits};

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
            state_stream::write_group(&mut send, &operator, state.group, &state.bytes).await?;
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
        match state_stream::read_groups(&mut recv, TransferLimits::default()).await {
            Ok(groups) => Ok(groups
                .into_iter()
                .map(|(_, group, bytes)| KeyGroupState { group, bytes })
                .collect()),
            Err(StateStreamError::Codec(e)) => Err(e.into()),
            Err(StateStreamError::EndedEarly) => Err(RuntimeError::ChannelClosed(
                "the coordinator ended a state fetch early".into(),
            )),
            Err(e) => Err(RuntimeError::Plan(format!("cannot restore state: {e}"))),
        }
    }

    async fn open(&self) -> Result<(quinn::SendStream, quinn::RecvStream), RuntimeError> {
        self.connection.open_bi().await.map_err(|e| {
            RuntimeError::ChannelClosed(format!("cannot open a stream to the coordinator: {e}"))
        })
    }
}

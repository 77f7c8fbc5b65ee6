//! The exchange: data channels between nodes over QUIC.
//!
//! Each node's endpoint accepts connections from other nodes (node certificates only) and
//! dials the nodes it sends to, keeping one connection per peer it sends to (so one per
//! ordered pair of nodes); each channel is one bidirectional stream on it: a [`ChannelOpen`]
//! frame, then stream elements one way and credit grants the other way. The receiving side
//! checks that the target task exists in the same generation and delivers elements to its
//! mailbox with a credit that, when dropped, grants the sender one more element.

use super::credit::{Credit, CHANNEL_CREDITS};
use super::metrics::TaskCounters;
use super::sender::{self, RemoteSender};
use super::source_peers::SourcePeers;
use super::task::TaskMsg;
use super::RuntimeError;
use quiver_protocol::batch::ColumnType;
use quiver_protocol::codec;
use quiver_protocol::messages::{ChannelOpen, ChannelReply};
use quiver_protocol::pki::Role;
use quiver_protocol::transport;
use quiver_protocol::{Generation, JobId, NodeId, OperatorId, PartitionId, StreamElement};
use ractor::ActorRef;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// A deployed task that channels can reach.
#[derive(Clone)]
pub(crate) struct TaskEntry {
    pub(crate) generation: Generation,
    pub(crate) actor: ActorRef<TaskMsg>,
    pub(crate) counters: Arc<TaskCounters>,
    /// The column types of the records it reads: a batch of others is a bad frame.
    pub(crate) columns: Arc<[ColumnType]>,
}

type TaskKey = (JobId, OperatorId, PartitionId);

/// Another node as one membership session of this node knows it (see
/// [`Exchange::begin_session`]): its id and the address its exchange listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Peer {
    /// The session of this node that named it.
    pub(crate) session: u64,
    /// Its id in that session's coordinator.
    pub(crate) node: NodeId,
    /// Where its exchange listens.
    pub(crate) addr: SocketAddr,
}

/// The partitions of a source that read in step on this node, by job and source.
type SourceKey = (JobId, OperatorId);
type Peers = Arc<SourcePeers<ActorRef<TaskMsg>>>;

/// Data channels between nodes.
pub struct Exchange {
    endpoint: quinn::Endpoint,
    tasks: Mutex<HashMap<TaskKey, TaskEntry>>,
    peers: Mutex<HashMap<Peer, quinn::Connection>>,
    /// The newest membership session ([`Exchange::begin_session`]).
    session: AtomicU64,
    /// Sources whose partitions here read in step, told what the channels from the others
    /// say of their watermarks.
    sources: Mutex<HashMap<SourceKey, (Generation, Peers)>>,
}

impl Exchange {
    /// An exchange on `endpoint` (which also dials other nodes).
    pub fn new(endpoint: quinn::Endpoint) -> Arc<Exchange> {
        Arc::new(Exchange {
            endpoint,
            tasks: Mutex::default(),
            peers: Mutex::default(),
            session: AtomicU64::new(0),
            sources: Mutex::default(),
        })
    }

    /// Starts a membership session (this node joined a coordinator) and returns its number;
    /// the connections earlier sessions dialled are forgotten. Node ids are the coordinator's
    /// and a restarted coordinator numbers nodes from 1 again, so an id of an earlier session
    /// may name another process now: at the same address (a node restarted behind it) a
    /// connection kept from then would reach the dead process, and look alive until QUIC's
    /// idle timeout (10 s; chaos run 15 found it).
    pub(crate) fn begin_session(&self) -> u64 {
        let session = self.session.fetch_add(1, Ordering::Relaxed) + 1;
        self.peer_table().retain(|peer, _| peer.session >= session);
        session
    }

    /// The endpoint (to dial the coordinator with the same identity).
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    pub(crate) fn register(&self, key: TaskKey, entry: TaskEntry) {
        self.lock().insert(key, entry);
    }

    pub(crate) fn unregister_job(&self, job: JobId) {
        self.lock().retain(|(j, _, _), _| *j != job);
        self.source_table().retain(|(j, _), _| *j != job);
    }

    /// The partitions of `source` here read in step in `generation`: watermarks arriving
    /// from its partitions on other nodes go to `peers`.
    pub(crate) fn register_source(&self, key: SourceKey, generation: Generation, peers: Peers) {
        self.source_table().insert(key, (generation, peers));
    }

    /// The in-step partitions of `key` here, when they run `generation`.
    fn source_peers(&self, key: SourceKey, generation: Generation) -> Option<Peers> {
        self.source_table()
            .get(&key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, peers)| peers.clone())
    }

    fn source_table(&self) -> std::sync::MutexGuard<'_, HashMap<SourceKey, (Generation, Peers)>> {
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn task(&self, key: &TaskKey) -> Option<TaskEntry> {
        self.lock().get(key).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TaskKey, TaskEntry>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens a channel to a task on `peer`: a node and the address its exchange listens on.
    pub(crate) async fn open(
        &self,
        peer: Peer,
        open: ChannelOpen,
        counters: Arc<TaskCounters>,
    ) -> Result<RemoteSender, RuntimeError> {
        let addr = peer.addr;
        let connection = self.connection(peer).await?;
        let (mut send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| RuntimeError::ChannelClosed(format!("open a channel to {addr}: {e}")))?;
        codec::write_frame(&mut send, &open).await?;
        Ok(RemoteSender::new(send, recv, counters))
    }

    /// The live connection to `peer`, dialled if there is none. The dial runs without holding
    /// the peer table, so an unreachable node delays only its own channels; when two dials
    /// race, the first connection stored wins.
    ///
    /// Connections are kept per session, node *and* address: a node restarted on the same
    /// address joins as a new node, and its channels must not go over the connection to the
    /// process that died there (it would look alive until QUIC's idle timeout, 10 s). Storing
    /// a connection to a new node at an address closes and forgets the old node's; a channel
    /// of an ended session (see [`Exchange::begin_session`]) gets no connection.
    async fn connection(&self, peer: Peer) -> Result<quinn::Connection, RuntimeError> {
        if let Some(c) = self.live_peer(peer) {
            return Ok(c);
        }
        let dialled = transport::connect(&self.endpoint, peer.addr).await?;
        if let Some(c) = self.live_peer(peer) {
            return Ok(c);
        }
        let mut peers = self.peer_table();
        if peer.session < self.session.load(Ordering::Relaxed) {
            // Its tasks are being cancelled: it must not replace the new session's connection.
            return Err(RuntimeError::ChannelClosed(format!(
                "{}: this node joined the coordinator again since the channel was planned",
                peer.addr
            )));
        }
        peers.retain(|old, c| {
            let replaced = old.addr == peer.addr && old.node != peer.node;
            if replaced {
                c.close(0u32.into(), b"the node at this address was replaced");
            }
            !replaced
        });
        peers.insert(peer, dialled.clone());
        Ok(dialled)
    }

    fn live_peer(&self, peer: Peer) -> Option<quinn::Connection> {
        self.peer_table()
            .get(&peer)
            .filter(|c| c.close_reason().is_none())
            .cloned()
    }

    fn peer_table(&self) -> std::sync::MutexGuard<'_, HashMap<Peer, quinn::Connection>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts channels from other nodes until the endpoint closes.
    pub async fn serve(self: Arc<Self>) {
        while let Some(incoming) = self.endpoint.accept().await {
            let exchange = self.clone();
            tokio::spawn(async move {
                let connection = match incoming.await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("refused an incoming connection: {e}");
                        return;
                    }
                };
                match transport::peer_role(&connection) {
                    Ok(Role::Node) => {}
                    Ok(role) => {
                        tracing::warn!(
                            "refused a {role:?} connection from {}: only nodes open channels",
                            connection.remote_address()
                        );
                        connection.close(1u32.into(), b"only nodes may open channels");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!("refused a connection: {e}");
                        connection.close(1u32.into(), b"no role");
                        return;
                    }
                }
                while let Ok((send, recv)) = connection.accept_bi().await {
                    let exchange = exchange.clone();
                    tokio::spawn(async move {
                        if let Err(e) = exchange.receive(send, recv).await {
                            tracing::warn!("channel from another node failed: {e}");
                        }
                    });
                }
            });
        }
    }

    /// Serves one incoming channel: checks it, grants credits, delivers its elements.
    async fn receive(
        &self,
        mut send: quinn::SendStream,
        recv: quinn::RecvStream,
    ) -> Result<(), RuntimeError> {
        let mut recv = CountingReader::new(recv);
        let open: ChannelOpen = match tokio::time::timeout(
            Duration::from_secs(5),
            codec::read_frame(&mut recv),
        )
        .await
        {
            Ok(Ok(Some(open))) => open,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(RuntimeError::ChannelClosed(
                    "no channel header within 5 s".into(),
                ))
            }
        };
        // Traffic counts stream elements only, as the sender does.
        recv.take_count();
        let key = (open.job, open.channel.to, open.channel.to_partition);
        let entry = match self.task(&key) {
            Some(e) if e.generation == open.generation => e,
            Some(e) => {
                let why = format!(
                    "stale channel: {} runs {}, the sender is at {}",
                    open.job, e.generation, open.generation
                );
                codec::write_frame(&mut send, &ChannelReply::Refused(why.clone())).await?;
                let _ = send.finish();
                return Err(RuntimeError::ChannelClosed(why));
            }
            None => {
                let why = format!("no task {:?} of {} here", open.channel, open.job);
                codec::write_frame(&mut send, &ChannelReply::Refused(why.clone())).await?;
                let _ = send.finish();
                return Err(RuntimeError::ChannelClosed(why));
            }
        };
        let input = entry.input_of(open.channel.from_partition);
        let gauge = entry
            .counters
            .inputs
            .get(input)
            .cloned()
            .ok_or_else(|| RuntimeError::ChannelClosed(format!("no input {input}")))?;
        let in_step = self.source_peers((open.job, open.channel.from), open.generation);
        // Unbounded, but it never holds more than CHANNEL_CREDITS returns: each is a credit
        // of an element taken below, and a sender that sends past its credits is cut off.
        let (returns, mut returned) = mpsc::unbounded_channel::<u32>();
        // Credits granted so far; counted before each grant is written, so the sender can never
        // rightly have spent more than this.
        let granted = Arc::new(AtomicU64::new(u64::from(CHANNEL_CREDITS)));
        let granting = granted.clone();
        tokio::spawn(async move {
            let mut grant = CHANNEL_CREDITS;
            loop {
                if codec::write_frame(&mut send, &ChannelReply::Credit(grant))
                    .await
                    .is_err()
                {
                    return;
                }
                let Some(n) = returned.recv().await else {
                    return;
                };
                grant = n;
                while let Ok(n) = returned.try_recv() {
                    grant += n;
                }
                granting.fetch_add(u64::from(grant), Ordering::AcqRel);
            }
        });
        let mut taken = 0u64;
        loop {
            let frame = codec::read_frame_bytes(&mut recv).await.and_then(|f| {
                f.map(|f| StreamElement::decode(&f, &entry.columns))
                    .transpose()
            });
            let element: StreamElement = match frame {
                Ok(Some(element)) => element,
                Ok(None) => {
                    let error = "the sending node closed the channel before its end".to_string();
                    let _ = entry
                        .actor
                        .send_message(TaskMsg::InputFailed { input, error });
                    return Ok(());
                }
                Err(e) if sender::sender_stopped(&e) => {
                    tracing::debug!("input {input} stopped: its sending task stopped");
                    return Ok(());
                }
                Err(e) => {
                    let error = format!("bad frame from the sending node: {e}");
                    let _ = entry.actor.send_message(TaskMsg::InputFailed {
                        input,
                        error: error.clone(),
                    });
                    return Err(RuntimeError::ChannelClosed(error));
                }
            };
            taken += 1;
            if taken > granted.load(Ordering::Acquire) {
                let error = format!(
                    "the sending node sent element {taken} with {} credits granted: it ignores \
                     flow control",
                    granted.load(Ordering::Acquire)
                );
                let _ = entry.actor.send_message(TaskMsg::InputFailed {
                    input,
                    error: error.clone(),
                });
                return Err(RuntimeError::ChannelClosed(error));
            }
            TaskCounters::add(&entry.counters.bytes_received, recv.take_count());
            if let Some(peers) = &in_step {
                tell_peers(peers, open.channel.from_partition, &element);
            }
            let end = matches!(element, StreamElement::End);
            let credit = Credit::remote(gauge.clone(), returns.clone());
            if entry
                .actor
                .send_message(TaskMsg::Input {
                    input,
                    element,
                    credit,
                })
                .is_err()
                || end
            {
                return Ok(());
            }
        }
    }
}

/// Tells the source's partitions here where partition `from` of it (on another node) is,
/// when `element` says: its watermark, or +∞ once it is idle or ended.
fn tell_peers(peers: &Peers, from: PartitionId, element: &StreamElement) {
    let watermark = match element {
        StreamElement::Watermark(w) => *w,
        StreamElement::Idle | StreamElement::End => i64::MAX,
        StreamElement::Records(_) | StreamElement::Barrier(_) => return,
    };
    for peer in peers.heard(from.0 as usize, watermark) {
        let _ = peer.send_message(TaskMsg::PeersMoved);
    }
}

impl TaskEntry {
    /// The task's input index of a channel from upstream partition `from` (same node or
    /// another): a task with one input (a forward channel) has input 0; the others are
    /// indexed by the upstream partition.
    pub(crate) fn input_of(&self, from: PartitionId) -> usize {
        if self.counters.inputs.len() == 1 {
            0
        } else {
            from.0 as usize
        }
    }
}

/// Counts the bytes read through it.
struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader { inner, count: 0 }
    }

    fn take_count(&mut self) -> u64 {
        std::mem::take(&mut self.count)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for CountingReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.count += (buf.filled().len() - before) as u64;
        result
    }
}

#[cfg(test)]
mod tests;

//! The coordinator's QUIC front: admin requests and node control streams.
//!
//! Every stream opened to the coordinator starts with a [`CoordinatorRequest`] frame. Admin
//! requests get one answer; mutating ones (submit, cancel, savepoints, model aliases) need an
//! admin certificate. A `Join` (node certificates only) keeps the stream as that node's
//! control stream.

use crate::jobs::Cluster;
use crate::store::{Store, StoreError};
use quiver_protocol::codec;
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::messages::{
    AdminRequest, AdminResponse, CoordinatorRequest, NodeHello, StateFetch, StateFrame,
    StateUpload, ToCoordinator, ToNode, UploadReply,
};
use quiver_protocol::models::SwapChange;
use quiver_protocol::outbox::{Inbox, Outbox};
use quiver_protocol::state_stream::{self, TransferLimits};
use quiver_protocol::{CheckpointId, JobId};

use quiver_protocol::pki::{Role, TlsIdentity};
use quiver_protocol::transport::{self, TransportError};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// Its store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Its endpoint could not start.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Commands a node may leave unread before it is declared lost: far more than a live node
/// ever has in flight (a few per job and checkpoint, an alignment report per heartbeat).
const OUTBOX_CAPACITY: usize = 4096;

/// A running coordinator.
pub struct Coordinator {
    cluster: Mutex<Cluster>,
    endpoint: quinn::Endpoint,
    /// Why the store stopped writing, once it did (`crate::health`).
    store_failed: tokio::sync::watch::Receiver<Option<String>>,
}

impl Coordinator {
    /// Opens the store in `data_dir`, binds `listen` and serves until the process ends.
    /// Returns the coordinator (its address via [`Coordinator::local_addr`]).
    pub fn start(
        data_dir: &Path,
        listen: SocketAddr,
        identity: &TlsIdentity,
    ) -> Result<Arc<Coordinator>, CoordinatorError> {
        Self::start_with(data_dir, listen, identity, Heartbeats::default())
    }

    /// [`Coordinator::start`] with nodes beating every `heartbeats.interval()` and declared
    /// dead after `heartbeats.timeout()` without a beat (shorter: faster recovery; longer:
    /// fewer false alarms on a loaded machine); the coordinator beats to them as often.
    pub fn start_with(
        data_dir: &Path,
        listen: SocketAddr,
        identity: &TlsIdentity,
        heartbeats: Heartbeats,
    ) -> Result<Arc<Coordinator>, CoordinatorError> {
        let store = Store::open(data_dir)?;
        let (failed, store_failed) = tokio::sync::watch::channel(None);
        tokio::spawn(crate::health::watch_store(store.db().clone(), failed));
        let cluster = Cluster::new(store, heartbeats)?;
        let endpoint = transport::endpoint(listen, identity)?;
        let coordinator = Arc::new(Coordinator {
            cluster: Mutex::new(cluster),
            endpoint,
            store_failed,
        });
        if let Some(addr) = coordinator.local_addr() {
            coordinator.set_advertised(addr.to_string());
        }
        tokio::spawn(coordinator.clone().accept_loop());
        tokio::spawn(coordinator.clone().offload_loop());
        let ticker = coordinator.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeats.check_every());
            loop {
                tick.tick().await;
                ticker.cluster().tick();
            }
        });
        Ok(coordinator)
    }

    /// Resolves with the cause once its store can no longer write (see `crate::health`);
    /// never, while it can.
    pub async fn store_failure(&self) -> String {
        let mut failed = self.store_failed.clone();
        let why = match failed.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        };
        why
    }

    /// Why its store stopped writing, if it did.
    pub fn store_failed_now(&self) -> Option<String> {
        self.store_failed.borrow().clone()
    }

    /// Sets where nodes and admins reach it, as reports show it (`--advertise`; by default
    /// the address it listens on).
    pub fn set_advertised(&self, address: String) {
        self.cluster().advertised = address;
    }

    /// Where it listens.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    pub(crate) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the store work the cluster queues (`jobs::Offload`) on the blocking pool, each
    /// item as it comes, and hands every outcome back under the lock.
    async fn offload_loop(self: Arc<Self>) {
        let wake = self.cluster().offloads_waker();
        loop {
            wake.notified().await;
            let (work, store) = {
                let mut cluster = self.cluster();
                (cluster.take_offloads(), cluster.checkpoint_store())
            };
            for offload in work {
                let (coordinator, store) = (self.clone(), store.clone());
                tokio::spawn(async move {
                    let fallback = offload.failed("the store task panicked");
                    let outcome = tokio::task::spawn_blocking(move || offload.run(&store))
                        .await
                        .unwrap_or(fallback);
                    let registration = coordinator.cluster().offload_done(outcome);
                    if let Some(registration) = registration {
                        register(registration);
                    }
                });
            }
        }
    }

    async fn accept_loop(self: Arc<Self>) {
        while let Some(incoming) = self.endpoint.accept().await {
            let coordinator = self.clone();
            tokio::spawn(async move {
                let connection = match incoming.await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::debug!("refused a connection: {e}");
                        return;
                    }
                };
                let role = match transport::peer_role(&connection) {
                    Ok(role) => role,
                    Err(e) => {
                        tracing::warn!("refused a connection without a role: {e}");
                        connection.close(1u32.into(), b"no role in certificate");
                        return;
                    }
                };
                while let Ok((send, recv)) = connection.accept_bi().await {
                    let coordinator = coordinator.clone();
                    tokio::spawn(async move {
                        if let Err(e) = coordinator.serve_stream(role, send, recv).await {
                            tracing::warn!(
                                "a stream from a peer with the {} role failed: {e}",
                                role.name()
                            );
                        }
                    });
                }
            });
        }
    }

    async fn serve_stream(
        &self,
        role: Role,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) -> Result<(), codec::CodecError> {
        let first = tokio::time::timeout(Duration::from_secs(10), codec::read_frame(&mut recv))
            .await
            .map_err(|_| {
                codec::CodecError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no request within 10 s",
                ))
            })??;
        match first {
            None => Ok(()),
            Some(CoordinatorRequest::Admin(AdminRequest::ModelSwap { job, stage, change }))
                if role == Role::Admin =>
            {
                let response = self.swap(job, stage, change).await;
                codec::write_frame(&mut send, &response).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::Admin(AdminRequest::Savepoint { job, stop })) => {
                let response = if role == Role::Admin {
                    self.savepoint(job, stop).await
                } else {
                    self.admin(role, AdminRequest::Savepoint { job, stop })
                };
                codec::write_frame(&mut send, &response).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::Admin(AdminRequest::ExportModel {
                job,
                stage,
                version,
            })) => {
                let response = self.export_model(job, &stage, version).await;
                codec::write_frame(&mut send, &response).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::Admin(request)) => {
                let response = self.admin(role, request);
                codec::write_frame(&mut send, &response).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::Join(hello)) if role == Role::Node => {
                self.node_session(hello, send, recv).await
            }
            Some(CoordinatorRequest::Join(_)) => {
                tracing::warn!(
                    "refused a join: only node certificates may join, this one has the {} role",
                    role.name()
                );
                Ok(())
            }
            Some(CoordinatorRequest::UploadState(upload)) if role == Role::Node => {
                let reply = self.receive_state(&upload, &mut recv).await;
                codec::write_frame(&mut send, &reply).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::FetchState(fetch)) if role == Role::Node => {
                self.send_state(&fetch, &mut send).await?;
                let _ = send.finish();
                Ok(())
            }
            Some(CoordinatorRequest::UploadState(_) | CoordinatorRequest::FetchState(_)) => {
                tracing::warn!(
                    "refused a state transfer: only nodes move state, this certificate has the {} role",
                    role.name()
                );
                Ok(())
            }
        }
    }

    /// Answers one admin request.
    fn admin(&self, role: Role, request: AdminRequest) -> AdminResponse {
        let mutating = matches!(
            request,
            AdminRequest::Submit { .. }
                | AdminRequest::Cancel { .. }
                | AdminRequest::SetAlias { .. }
                | AdminRequest::ModelSwap { .. }
                | AdminRequest::ImportModel { .. }
        );
        if mutating && role != Role::Admin {
            return AdminResponse::Error(format!(
                "permission denied: submitting, cancelling or savepointing jobs (and setting \
                 model aliases, swapping or importing models) needs an admin certificate, this connection presented a {} \
                 certificate; use --certs with admin.crt/admin.key",
                role.name()
            ));
        }
        let mut cluster = self.cluster();
        match request {
            AdminRequest::Submit {
                spec_toml,
                base_dir,
                from_savepoint,
            } => match cluster.submit(spec_toml, base_dir, from_savepoint) {
                Ok(job) => AdminResponse::Submitted { job },
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::List => AdminResponse::Jobs(cluster.list()),
            AdminRequest::Status { job } => match cluster.status(job) {
                Ok(report) => AdminResponse::Status(report),
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::Cancel { job } => match cluster.cancel(job) {
                Ok(()) => AdminResponse::Cancelled { job },
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::Cluster => AdminResponse::Cluster(cluster.cluster()),
            AdminRequest::Checkpoints { job } => match cluster.checkpoint_list(job) {
                Ok(list) => AdminResponse::Checkpoints(list),
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::Models { job } => match cluster.model_list(job) {
                Ok(list) => AdminResponse::Models(list),
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::SetAlias {
                job,
                stage,
                alias,
                version,
            } => match cluster.set_alias(job, &stage, &alias, version) {
                Ok(previous) => AdminResponse::AliasSet { previous },
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::ImportModel {
                job,
                stage,
                file,
                contents,
                alias,
            } => match cluster.import_model(job, &stage, &file, &contents, alias.as_deref()) {
                Ok(version) => AdminResponse::Imported(version),
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::ModelStatus { job } => match cluster.model_status(job) {
                Ok(status) => AdminResponse::ModelStatus(status),
                Err(e) => AdminResponse::Error(e),
            },
            AdminRequest::Savepoint { .. } | AdminRequest::ModelSwap { .. } => {
                AdminResponse::Error("savepoints and swaps are answered asynchronously".into())
            }
            AdminRequest::ExportModel { .. } => {
                AdminResponse::Error("model exports are answered asynchronously".into())
            }
        }
    }

    /// `quiver model export`: checks the request under the cluster lock, then reads the
    /// parameters from the checkpoint store off it (any certificate may read).
    async fn export_model(&self, job: JobId, stage: &str, version: CheckpointId) -> AdminResponse {
        let (registry, request) = match self.cluster().export_request(job, stage, version) {
            Ok(found) => found,
            Err(e) => return AdminResponse::Error(e),
        };
        match tokio::task::spawn_blocking(move || registry.export(&request)).await {
            Ok(Ok(export)) => AdminResponse::ModelExport(export),
            Ok(Err(e)) => AdminResponse::Error(e.to_string()),
            Err(e) => AdminResponse::Error(format!("the export of {job} {version} failed: {e}")),
        }
    }

    /// Swaps what a learner serves and waits until every partition switched.
    async fn swap(&self, job: JobId, stage: String, change: SwapChange) -> AdminResponse {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cluster().request_swap(job, &stage, change, tx);
        match tokio::time::timeout(Duration::from_secs(120), rx).await {
            Ok(Ok(Ok(report))) => AdminResponse::Swapped(report),
            Ok(Ok(Err(e))) => AdminResponse::Error(e),
            Ok(Err(_)) => AdminResponse::Error(format!("{job} ended before the swap completed")),
            Err(_) => AdminResponse::Error(format!(
                "the swap of {stage} in {job} took longer than 120 s; see `quiver model status {job}`"
            )),
        }
    }

    /// Takes a savepoint and waits for it.
    async fn savepoint(&self, job: JobId, stop: bool) -> AdminResponse {
        let waiter = match self.cluster().request_savepoint(job, stop) {
            Ok(waiter) => waiter,
            Err(e) => return AdminResponse::Error(e),
        };
        match tokio::time::timeout(Duration::from_secs(120), waiter).await {
            Ok(Ok(Ok(savepoint))) => AdminResponse::Savepoint(savepoint),
            Ok(Ok(Err(e))) => AdminResponse::Error(e),
            Ok(Err(_)) => {
                AdminResponse::Error(format!("{job} ended before the savepoint completed"))
            }
            Err(_) => {
                AdminResponse::Error(format!("the savepoint of {job} took longer than 120 s"))
            }
        }
    }

    /// Stores an uploaded snapshot; its completion is the task's acknowledgement.
    async fn receive_state(
        &self,
        upload: &StateUpload,
        recv: &mut quinn::RecvStream,
    ) -> UploadReply {
        let (job, generation, checkpoint) = (upload.job, upload.generation, upload.checkpoint);
        let (store, bases) = {
            let cluster = self.cluster();
            if let Err(why) = cluster.accepts_upload(job, generation, checkpoint) {
                return UploadReply::Refused(why);
            }
            // Where each delta's base is stored: this job, or the job of the savepoint it
            // started from.
            let bases: Vec<_> = upload
                .incremental
                .iter()
                .map(|i| i.base.map(|b| (cluster.state_owner(job, b), b)))
                .collect();
            (cluster.checkpoint_store(), bases)
        };
        // Bounded: a faulty or hostile node cannot make the coordinator hold more than the
        // limits; a refusal drops the stream, which stops the sender.
        let mut groups = match state_stream::read_groups(recv, TransferLimits::default()).await {
            Ok(groups) => groups,
            Err(e) => {
                tracing::warn!("refused an upload of {job} {checkpoint}: {e}");
                return UploadReply::Refused(e.to_string());
            }
        };
        let incremental = upload.incremental.clone();
        // sled writes block: keep them off the async workers.
        let stored = tokio::task::spawn_blocking(move || {
            for (state, base) in incremental.iter().zip(bases) {
                let (deltas, rest): (Vec<_>, Vec<_>) = groups
                    .into_iter()
                    .partition(|(op, _, _)| *op == state.operator);
                groups = rest;
                let deltas: Vec<_> = deltas.into_iter().map(|(_, g, b)| (g, b)).collect();
                store.put_incremental(job, checkpoint, generation, base, state, &deltas)?;
            }
            groups.iter().try_for_each(|(operator, group, bytes)| {
                store.put_state(job, checkpoint, operator, *group, bytes)
            })
        })
        .await;
        match stored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return UploadReply::Refused(e.to_string()),
            Err(e) => return UploadReply::Refused(format!("storing the snapshot failed: {e}")),
        }
        self.cluster()
            .checkpoint_ack(job, generation, checkpoint, upload.task);
        UploadReply::Stored
    }

    /// Streams one operator's stored state to a restoring task.
    async fn send_state(
        &self,
        fetch: &StateFetch,
        send: &mut quinn::SendStream,
    ) -> Result<(), codec::CodecError> {
        let (store, owner) = {
            let cluster = self.cluster();
            (
                cluster.checkpoint_store(),
                cluster.state_owner(fetch.job, fetch.checkpoint),
            )
        };
        // Reading and checking the blobs blocks: off the cluster lock and the async workers.
        let (checkpoint, operator, groups) = (
            fetch.checkpoint,
            fetch.operator.clone(),
            fetch.groups.clone(),
        );
        let state = tokio::task::spawn_blocking(move || {
            store
                .read_state(owner, checkpoint, &operator, groups)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading the state failed: {e}")));
        match state {
            Ok(groups) => {
                for (group, bytes) in groups {
                    state_stream::write_group(send, &fetch.operator, group, &bytes).await?;
                }
                codec::write_frame(send, &StateFrame::Done).await
            }
            Err(why) => codec::write_frame(send, &StateFrame::Error(why)).await,
        }
    }

    /// A node's control stream: commands out, heartbeats and task events in.
    async fn node_session(
        &self,
        hello: NodeHello,
        mut send: quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) -> Result<(), codec::CodecError> {
        let (outbox, inbox) = Outbox::new(OUTBOX_CAPACITY);
        let Inbox {
            messages: mut commands,
            overflow,
        } = inbox;
        let (node, heartbeats) = {
            let mut cluster = self.cluster();
            let node = cluster.join(hello.listen, hello.slots, outbox);
            (node, cluster.heartbeats())
        };
        // Commands as they come, and a heartbeat every interval so the node can tell a
        // live coordinator from a dead one long before QUIC's idle timeout.
        let writer = tokio::spawn(async move {
            let mut beat = tokio::time::interval(heartbeats.interval());
            loop {
                // Biased: the welcome, queued at join, goes before any heartbeat.
                let command = tokio::select! {
                    biased;
                    command = commands.recv() => match command {
                        Some(command) => command,
                        None => break,
                    },
                    _ = beat.tick() => ToNode::Heartbeat,
                };
                if codec::write_frame(&mut send, &command).await.is_err() {
                    break;
                }
            }
        });
        let (why, result) = loop {
            tokio::select! {
                frame = codec::read_frame::<_, ToCoordinator>(&mut recv) => match frame {
                    Ok(Some(message)) => self.on_node_message(node, Instant::now(), message),
                    Ok(None) => break ("its control stream closed".to_string(), Ok(())),
                    Err(e) => break (format!("its control stream failed: {e}"), Err(e)),
                },
                () = overflow.notified() => break (
                    format!("it left {OUTBOX_CAPACITY} commands unread"),
                    Ok(()),
                ),
            }
        };
        writer.abort();
        self.cluster().node_lost(node, &why);
        result
    }

    /// A message from `node`, read off its stream `at`.
    fn on_node_message(&self, node: quiver_protocol::NodeId, at: Instant, message: ToCoordinator) {
        let mut cluster = self.cluster();
        match message {
            ToCoordinator::Heartbeat { tasks, served } => {
                cluster.heartbeat(node, at, tasks, served)
            }
            ToCoordinator::ServingPrepared {
                job,
                generation,
                epoch,
                result,
            } => cluster.serving_prepared(node, job, generation, epoch, result),
            ToCoordinator::Deployed { job, generation } => cluster.deployed(node, job, generation),
            ToCoordinator::DeployFailed {
                job,
                generation,
                error,
            } => cluster.deploy_failed(node, job, generation, error),
            ToCoordinator::TaskFinished {
                job,
                generation,
                task,
                metrics,
            } => cluster.task_finished(job, generation, task, *metrics),
            ToCoordinator::Committed {
                job,
                generation,
                task,
                checkpoint,
            } => cluster.committed(job, generation, task, checkpoint),
            ToCoordinator::SourceExhausted {
                job,
                generation,
                task,
            } => cluster.source_exhausted(job, generation, task),
            ToCoordinator::TaskFailed {
                job,
                generation,
                task,
                error,
            } => cluster.task_failed(job, generation, task, error),
            ToCoordinator::SourceWatermarks { reports } => cluster.source_watermarks(reports),
        }
    }
}

/// Registers a checkpoint's model versions: the registry reads the checkpoint's chains and
/// flushes, so off the cluster lock and the async workers.
fn register(registration: crate::registry::Registration) {
    let (job, checkpoint) = (registration.job, registration.checkpoint);
    tokio::task::spawn_blocking(move || match registration.run() {
        Ok(stages) if !stages.is_empty() => {
            tracing::info!("{job}: registered {checkpoint} of {}", stages.join(", "))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("{job}: cannot register the models of {checkpoint}: {e}"),
    });
}

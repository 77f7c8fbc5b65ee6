//! The node process: joins the coordinator, runs what it deploys, and reports back.
//!
//! A node keeps one control stream to the coordinator: it sends heartbeats (with every task's
//! counters), task events and, for sources aligned across nodes, their partitions' watermarks
//! between heartbeats (`service/alignment_reports.rs`), and receives deploy / start / cancel
//! commands and the coordinator's heartbeats, at the interval and with the timeout the
//! coordinator's welcome says. If the stream breaks, or the coordinator says nothing for that
//! timeout (it was killed or frozen), the node closes the connection, cancels everything it
//! runs (the coordinator treats it as lost) and joins again as a new node.

mod alignment_reports;

use crate::runtime::exchange::Exchange;
use crate::runtime::pools::PoolThreads;
use crate::runtime::state_transfer::CoordinatorLink;
use crate::runtime::{Runtime, TaskEvent, TaskEventKind};
use alignment_reports::{SentWatermarks, ALIGNMENT_REPORT_INTERVAL};
use quiver_protocol::codec;
use quiver_protocol::host_port::HostPort;
use quiver_protocol::messages::{
    CoordinatorRequest, NodeHello, ToCoordinator, ToNode, HEARTBEAT_TIMEOUT,
};
use quiver_protocol::outbox::{Inbox, Outbox};
use quiver_protocol::pki::TlsIdentity;
use quiver_protocol::transport;
use quiver_protocol::Barrier;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch};

/// Messages the coordinator may leave unread before the node takes it for dead: heartbeats
/// and task events, far more than a live coordinator ever leaves queued.
const OUTBOX_CAPACITY: usize = 1024;

/// What a node needs to run.
#[derive(Clone)]
pub struct NodeConfig {
    /// The coordinator's address; a host name is resolved at every join, so a coordinator
    /// restarted elsewhere under the same name is found.
    pub coordinator: HostPort,
    /// Where the exchange listens (port 0: any).
    pub listen: SocketAddr,
    /// The address other nodes reach the exchange at, if not the bound one (a proxy or NAT
    /// in between).
    pub advertise: Option<SocketAddr>,
    /// The slots it offers, shared and reserved per pool.
    pub slots: quiver_protocol::NodeSlots,
    /// Where to serve `/metrics` over HTTP, if anywhere.
    pub http: Option<SocketAddr>,
    /// The node certificate and the cluster CA.
    pub identity: TlsIdentity,
}

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Its endpoint could not start.
    #[error(transparent)]
    Transport(#[from] transport::TransportError),
    /// Its HTTP server could not start.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// A started node: its exchange address, and the task running it.
pub struct NodeHandle {
    /// Where its exchange listens.
    pub listen: SocketAddr,
    /// Where it serves `/metrics`, if it does.
    pub http: Option<SocketAddr>,
    /// The node's main loop (runs until the process ends).
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts a node: binds its endpoint, then joins the coordinator (again whenever the control
/// stream breaks).
pub fn start_node(config: NodeConfig) -> Result<NodeHandle, NodeError> {
    let endpoint = transport::endpoint(config.listen, &config.identity)?;
    let listen = endpoint
        .local_addr()
        .map_err(|source| transport::TransportError::Bind {
            addr: config.listen,
            source,
        })?;
    let advertised = config.advertise.unwrap_or(listen);
    let (current, watched) = watch::channel(None);
    let http = match config.http {
        Some(addr) => Some(
            crate::http::serve(watched, addr).map_err(|source| NodeError::Http { addr, source })?,
        ),
        None => None,
    };
    let exchange = Exchange::new(endpoint);
    tokio::spawn(exchange.clone().serve());
    let pools = Arc::new(PoolThreads::default());
    let task = tokio::spawn(async move {
        loop {
            let outcome = session(&config, advertised, &exchange, &pools, &current).await;
            current.send_replace(None);
            match outcome {
                Ok(()) => {
                    tracing::warn!("the coordinator closed the control stream; joining again")
                }
                // Already a heartbeat timeout late: join again at once (a coordinator still
                // down holds the attempt for the connect timeout, so this never spins).
                Err(e) if e.is::<CoordinatorSilent>() => {
                    tracing::warn!("{e}; joining {} again", config.coordinator);
                    continue;
                }
                Err(e) => tracing::warn!(
                    "cannot reach coordinator at {}: {e}; retrying in 1 s",
                    config.coordinator
                ),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(NodeHandle { listen, http, task })
}

/// One membership session: join, then serve commands until the control stream breaks.
async fn session(
    config: &NodeConfig,
    listen: SocketAddr,
    exchange: &Arc<Exchange>,
    pools: &Arc<PoolThreads>,
    current: &watch::Sender<Option<Arc<Runtime>>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let coordinator = config.coordinator.resolve().await?;
    let connection = transport::connect(exchange.endpoint(), coordinator).await?;
    let (mut send, mut recv) = connection.open_bi().await?;
    let hello = NodeHello {
        listen,
        slots: config.slots.clone(),
    };
    codec::write_frame(&mut send, &CoordinatorRequest::Join(hello)).await?;
    let (node, heartbeats) = match next_command(&mut recv, HEARTBEAT_TIMEOUT).await? {
        Some(ToNode::Welcome { node, heartbeats }) => (node, heartbeats),
        other => {
            return Err(format!("expected a welcome from the coordinator, got {other:?}").into())
        }
    };
    tracing::info!(
        "joined the coordinator at {} as {node}; exchange on {listen}; heartbeats every {} ms, \
         timeout {} ms",
        config.coordinator,
        heartbeats.interval().as_millis(),
        heartbeats.timeout().as_millis()
    );

    // Unbounded, but only this node's tasks fill it, each with a few events per command the
    // node read (a commit) or per deployment (finished, ran dry, failed), and the reporter
    // moves them on at once into the bounded outbox.
    let (events_tx, mut events) = mpsc::unbounded_channel::<TaskEvent>();
    let link = CoordinatorLink::new(connection.clone());
    let runtime = Arc::new(Runtime::new(
        node,
        exchange.clone(),
        link,
        events_tx,
        pools.clone(),
    ));
    current.send_replace(Some(runtime.clone()));
    let (out_tx, inbox) = Outbox::new(OUTBOX_CAPACITY);
    let Inbox {
        messages: mut out,
        overflow,
    } = inbox;

    let writer = tokio::spawn(async move {
        while let Some(message) = out.recv().await {
            if let Err(e) = codec::write_frame(&mut send, &message).await {
                tracing::warn!("control stream write failed: {e}");
                break;
            }
        }
    });
    let heartbeat = {
        let (runtime, out_tx) = (runtime.clone(), out_tx.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(heartbeats.interval());
            loop {
                tick.tick().await;
                let (tasks, served) = (runtime.metrics(), runtime.served());
                out_tx.send(ToCoordinator::Heartbeat { tasks, served });
            }
        })
    };
    let alignment = {
        let (runtime, out_tx) = (runtime.clone(), out_tx.clone());
        tokio::spawn(async move {
            let mut sent = SentWatermarks::default();
            loop {
                let current = runtime.alignment_reports();
                // Nothing here is aligned across nodes: look again a heartbeat later (an idle
                // node woken 50 times a second used 3× the CPU).
                let next = if current.is_empty() {
                    heartbeats.interval()
                } else {
                    ALIGNMENT_REPORT_INTERVAL
                };
                let reports = sent.due(current);
                if !reports.is_empty() {
                    out_tx.send(ToCoordinator::SourceWatermarks { reports });
                }
                tokio::time::sleep(next).await;
            }
        })
    };
    let reporter = {
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let message = match event.kind {
                    TaskEventKind::Finished(metrics) => ToCoordinator::TaskFinished {
                        job: event.job,
                        generation: event.generation,
                        task: event.task,
                        metrics,
                    },
                    TaskEventKind::Committed(checkpoint) => ToCoordinator::Committed {
                        job: event.job,
                        generation: event.generation,
                        task: event.task,
                        checkpoint,
                    },
                    TaskEventKind::SourceExhausted => ToCoordinator::SourceExhausted {
                        job: event.job,
                        generation: event.generation,
                        task: event.task,
                    },
                    TaskEventKind::Failed(error) => ToCoordinator::TaskFailed {
                        job: event.job,
                        generation: event.generation,
                        task: event.task,
                        error,
                    },
                };
                out_tx.send(message);
            }
        })
    };

    let result = tokio::select! {
        result = serve_commands(&mut recv, heartbeats.timeout(), &runtime, &out_tx) => result,
        () = overflow.notified() => Err(format!(
            "the coordinator left {OUTBOX_CAPACITY} messages unread: taking it for dead"
        )
        .into()),
    };
    // Whatever ended the session, the connection is done: closing it stops our streams to
    // the coordinator at once instead of at QUIC's idle timeout.
    connection.close(0u32.into(), b"session over");
    for (job, _, _, _) in runtime.metrics() {
        runtime.cancel(job);
    }
    heartbeat.abort();
    alignment.abort();
    reporter.abort();
    writer.abort();
    result
}

/// Serves the coordinator's commands until the stream ends, or the coordinator is silent for
/// `timeout`.
async fn serve_commands(
    recv: &mut quinn::RecvStream,
    timeout: Duration,
    runtime: &Arc<Runtime>,
    out: &Outbox<ToCoordinator>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    while let Some(command) = next_command(recv, timeout).await? {
        match command {
            ToNode::Welcome { .. } | ToNode::Heartbeat => {}
            ToNode::Deploy(deployment) => {
                let (job, generation) = (deployment.job, deployment.generation);
                let reply = match runtime.deploy(*deployment).await {
                    Ok(()) => ToCoordinator::Deployed { job, generation },
                    Err(e) => ToCoordinator::DeployFailed {
                        job,
                        generation,
                        error: e.failure(),
                    },
                };
                out.send(reply);
            }
            ToNode::Start { job, generation } => {
                // Connecting channels waits on other nodes: do it beside the command loop.
                let (runtime, out) = (runtime.clone(), out.clone());
                tokio::spawn(async move {
                    if let Err(e) = runtime.start(job, generation).await {
                        runtime.cancel(job);
                        out.send(ToCoordinator::DeployFailed {
                            job,
                            generation,
                            error: e.failure(),
                        });
                    }
                });
            }
            ToNode::TriggerCheckpoint {
                job,
                generation,
                checkpoint,
                then,
                serving,
            } => runtime.trigger(
                job,
                Barrier {
                    checkpoint,
                    generation,
                    serving,
                },
                then,
            ),
            ToNode::PrepareServing {
                job,
                generation,
                table,
            } => {
                // Loading versions fetches state from the coordinator: beside the command loop.
                let (runtime, out) = (runtime.clone(), out.clone());
                tokio::spawn(async move {
                    let epoch = table.epoch;
                    let result = runtime
                        .prepare_serving(job, generation, table)
                        .await
                        .map_err(|e| e.to_string());
                    out.send(ToCoordinator::ServingPrepared {
                        job,
                        generation,
                        epoch,
                        result,
                    });
                });
            }
            ToNode::CommitCheckpoint {
                job,
                generation,
                checkpoint,
            } => runtime.commit(job, generation, checkpoint),
            ToNode::AlignSource {
                job,
                generation,
                source,
                watermarks,
            } => runtime.align(job, generation, source, &watermarks),
            ToNode::Cancel { job, generation } => runtime.cancel_up_to(job, generation),
        }
    }
    Ok(())
}

/// The coordinator said nothing, not even a heartbeat, for this long.
#[derive(Debug, thiserror::Error)]
#[error(
    "the coordinator was silent for {} ms (no heartbeat): taking it for dead",
    .0.as_millis()
)]
pub struct CoordinatorSilent(pub Duration);

/// The next frame of the control stream (`None`: the coordinator closed it), or
/// [`CoordinatorSilent`] if none arrives within `timeout`. A frame that arrived while the
/// node was busy elsewhere is read first, so only a silent coordinator times out.
async fn next_command<R: AsyncRead + Unpin>(
    recv: &mut R,
    timeout: Duration,
) -> Result<Option<ToNode>, Box<dyn std::error::Error + Send + Sync>> {
    match tokio::time::timeout(timeout, codec::read_frame::<_, ToNode>(recv)).await {
        Ok(frame) => Ok(frame?),
        Err(_) => Err(Box::new(CoordinatorSilent(timeout))),
    }
}

#[cfg(test)]
mod tests;

//! A node's HTTP side (`quiver node --http ADDR`): `/metrics` for Prometheus with the counters
//! of every task it runs now, labelled as the coordinator labels them (less `node`), and
//! whether it has joined a coordinator; `/health` and `/ready` for supervisors' probes.
//! Read-only and without a certificate: bind it where only your monitoring reaches.

mod probes;

use crate::runtime::Runtime;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use quiver_protocol::metrics::{labels, Exposition, TaskSample, CONTENT_TYPE};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// The runtime of the node's current membership session (`None` between sessions).
pub type Current = watch::Receiver<Option<Arc<Runtime>>>;

/// Binds `addr` (at once, so a busy port is an error here) and serves `/metrics` (and the probes) until the process ends; returns the bound address.
pub fn serve(current: Current, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .with_state(current);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the HTTP server on {bound} stopped: {e}");
        }
    });
    Ok(bound)
}

async fn metrics(State(current): State<Current>) -> impl IntoResponse {
    let runtime = current.borrow().clone();
    let tasks = runtime
        .as_ref()
        .map(|r| r.named_metrics())
        .unwrap_or_default();
    let mut out = Exposition::default();
    out.gauge(
        "node_joined",
        "1 while the node is a member of a coordinator's cluster, 0 while it (re)joins.",
        [(Vec::new(), if runtime.is_some() { 1.0 } else { 0.0 })],
    );
    let samples: Vec<TaskSample<'_>> = tasks
        .iter()
        .map(|(job, task, operators, metrics)| TaskSample {
            labels: labels([
                ("job", job.to_string()),
                ("operator", operators.clone()),
                ("partition", task.partition.0.to_string()),
            ]),
            metrics,
        })
        .collect();
    out.tasks(&samples);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.encode())
}

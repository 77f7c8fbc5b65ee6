//! The coordinator's HTTP side (`quiver coordinator --http ADDR`): the dashboard at `/` (one
//! page embedded in the binary, no external assets), `/metrics` for Prometheus and a
//! read-only JSON API — `/api/cluster`, `/api/jobs`, `/api/jobs/{id}`,
//! `/api/jobs/{id}/graph`, `/api/jobs/{id}/checkpoints` (those kept),
//! `/api/jobs/{id}/checkpoints/history` (the newest completed, kept or not),
//! `/api/jobs/{id}/models` — with the
//! same reports the admin CLI shows (`quiver ... --json`); `/health` and `/ready` for
//! supervisors' probes. It changes nothing and needs no certificate, so it binds
//! 127.0.0.1 unless told otherwise; every action stays on the mutual-TLS admin API.

mod probes;

use crate::Coordinator;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use quiver_protocol::metrics::CONTENT_TYPE;
use quiver_protocol::JobId;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The default address of `--http`.
pub const DEFAULT_HTTP: &str = "127.0.0.1:7680";

/// Binds `addr` (at once, so a busy port is an error here) and serves the coordinator's HTTP endpoints on it until the process ends;
/// returns the bound address (port 0 picks one).
pub fn serve(coordinator: Arc<Coordinator>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(dashboard))
        .route("/metrics", get(metrics))
        .route("/api/cluster", get(cluster))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/{id}", get(job))
        .route("/api/jobs/{id}/graph", get(graph))
        .route("/api/jobs/{id}/checkpoints", get(checkpoints))
        .route(
            "/api/jobs/{id}/checkpoints/history",
            get(checkpoint_history),
        )
        .route("/api/jobs/{id}/models", get(models))
        .route("/health", get(probes::health))
        .route("/ready", get(probes::ready))
        .with_state(coordinator);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the HTTP server on {bound} stopped: {e}");
        }
    });
    Ok(bound)
}

type Shared = State<Arc<Coordinator>>;

/// The dashboard: cluster, jobs with their operator graphs, checkpoints, models and data
/// quality, refreshed every second from the JSON API.
const DASHBOARD: &str = include_str!("http/dashboard.html");

async fn dashboard() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        DASHBOARD,
    )
        .into_response()
}

async fn metrics(State(c): Shared) -> Response {
    let text = c.cluster().exposition().encode();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn cluster(State(c): Shared) -> Response {
    Json(c.cluster().cluster()).into_response()
}

async fn jobs(State(c): Shared) -> Response {
    Json(c.cluster().list()).into_response()
}

async fn job(State(c): Shared, Path(id): Path<String>) -> Response {
    answer(&id, |job| c.cluster().status(job))
}

async fn graph(State(c): Shared, Path(id): Path<String>) -> Response {
    answer(&id, |job| c.cluster().graph(job))
}

async fn checkpoints(State(c): Shared, Path(id): Path<String>) -> Response {
    answer(&id, |job| c.cluster().checkpoint_list(job))
}

/// The job's newest completed checkpoints, whether retention kept them or not, read from
/// the store off the cluster lock.
async fn checkpoint_history(State(c): Shared, Path(id): Path<String>) -> Response {
    let read = move || {
        answer(&id, |job| {
            let store = c.cluster().history_of(job)?;
            store.history(job).map_err(|e| e.to_string())
        })
    };
    tokio::task::spawn_blocking(read)
        .await
        .unwrap_or_else(|e| not_found(format!("the history could not be read: {e}")))
}

/// Every registered version of the job's learners, and what they serve with live figures.
async fn models(State(c): Shared, Path(id): Path<String>) -> Response {
    answer(&id, |job| {
        let cluster = c.cluster();
        Ok(serde_json::json!({
            "versions": cluster.model_list(job)?,
            "status": cluster.model_status(job)?,
        }))
    })
}

/// The JSON of `report(job)` for the job `id` (`job-3` or `3`), or a 404 saying why.
fn answer<T: Serialize>(id: &str, report: impl FnOnce(JobId) -> Result<T, String>) -> Response {
    let Some(job) = JobId::parse(id) else {
        let why = format!("{id:?} is not a job id; expected e.g. job-3 (see /api/jobs)");
        return not_found(why);
    };
    match report(job) {
        Ok(report) => Json(report).into_response(),
        Err(why) => not_found(why),
    }
}

fn not_found(why: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": why })),
    )
        .into_response()
}

//! Probes for supervisors (Kubernetes `livenessProbe` / `readinessProbe`, `deploy/`):
//! `/health` answers 200 once the coordinator's state can be locked (a wedged coordinator
//! times out instead), `/ready` 200 while its store writes (it was loaded before the HTTP side
//! started), 503 with the store's failure once it cannot.

use super::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `/health`: alive.
pub(super) async fn health(State(c): Shared) -> Response {
    drop(c.cluster());
    (StatusCode::OK, "ok\n").into_response()
}

/// `/ready`: the store is loaded and writes.
pub(super) async fn ready(State(c): Shared) -> Response {
    match c.store_failed_now() {
        None => (StatusCode::OK, "ready\n").into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: the store cannot write ({why})\n"),
        )
            .into_response(),
    }
}

//! Probes for supervisors (Kubernetes `livenessProbe` / `readinessProbe`, `deploy/`):
//! `/health` answers 200 while the node's HTTP side runs, `/ready` 200 while the node is a
//! member of a coordinator's cluster (it can take partitions), 503 while it (re)joins.

use super::Current;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `/health`: alive.
pub(super) async fn health() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

/// `/ready`: joined.
pub(super) async fn ready(State(current): State<Current>) -> Response {
    if current.borrow().is_some() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: joining the coordinator\n",
        )
            .into_response()
    }
}

//! The serving HTTP API and page, over any [`Lookup`] (the embedded [`Tables`], or Redis for
//! `quiver serve`, `super::redis`):
//! - `GET /{table}/{key}`: the key's row as a JSON object (404 when there is none), e.g.
//!   `GET /recommendations/1`; an `items` array of whole numbers is written as integers;
//! - `GET /{table}`: up to 1,000 rows of a table, as a JSON array;
//! - `GET /api/tables`: each table's rows and updates (`[{"table","rows","updates"}]`);
//! - `GET /health`: `{"status":"ok"}`; `GET /metrics`: Prometheus text;
//! - `GET /`: the live page (`page.html`: a user's recommendations, throughput, model
//!   versions and the A/B split's click-through).

use super::store::{TableStats, Tables};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use quiver_protocol::metrics::{Exposition, CONTENT_TYPE};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Rows `GET /{table}` returns at most.
const MAX_LISTED_ROWS: usize = 1_000;

/// Where the API reads rows.
pub trait Lookup: Send + Sync + 'static {
    /// The row of `key` in `table` as JSON text (`Ok(None)`: no row).
    fn get(&self, table: &str, key: &str) -> Result<Option<String>, String>;
    /// Up to `limit` rows of `table`.
    fn rows(&self, table: &str, limit: usize) -> Result<Vec<String>, String>;
    /// Every table's counters (empty when the store cannot tell).
    fn stats(&self) -> Result<Vec<TableStats>, String>;
}

impl Lookup for Tables {
    fn get(&self, table: &str, key: &str) -> Result<Option<String>, String> {
        Ok(Tables::get(self, table, key).map(|row| row.to_string()))
    }

    fn rows(&self, table: &str, limit: usize) -> Result<Vec<String>, String> {
        Ok(Tables::rows(self, table, limit)
            .unwrap_or_default()
            .iter()
            .map(|r| r.to_string())
            .collect())
    }

    fn stats(&self) -> Result<Vec<TableStats>, String> {
        Ok(Tables::stats(self))
    }
}

/// The API's state: the store and its request counter.
struct Api {
    lookup: Arc<dyn Lookup>,
    requests: AtomicU64,
}

/// The API's routes over `lookup`.
pub fn router(lookup: Arc<dyn Lookup>) -> Router {
    let api = Arc::new(Api {
        lookup,
        requests: AtomicU64::new(0),
    });
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/tables", get(tables))
        .route("/{table}", get(table_rows))
        .route("/{table}/{key}", get(row))
        .with_state(api)
}

/// Serves the API over `lookup` on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    lookup: Arc<dyn Lookup>,
) -> std::io::Result<()> {
    axum::serve(listener, router(lookup)).await
}

/// Binds `addr` now and serves the API over `tables` on a thread of its own; returns the
/// bound address.
pub fn spawn(addr: SocketAddr, tables: Arc<Tables>) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("quiver-serving".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => {
                        if let Err(e) = serve(listener, tables).await {
                            tracing::error!("the serving API on {bound} stopped: {e}");
                        }
                    }
                    Err(e) => tracing::error!("the serving API on {bound} cannot start: {e}"),
                }
            })
        })?;
    Ok(bound)
}

/// A JSON response with `status`.
fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A JSON error response.
fn error(status: StatusCode, message: String) -> Response {
    json(status, serde_json::json!({ "error": message }).to_string())
}

/// `row` with an `items` array of whole numbers written as integers (item ids travel as
/// vectors of floats).
fn with_integer_items(row: &str) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(row) else {
        return row.to_string();
    };
    if let Some(Value::Array(items)) = value.get_mut("items") {
        for item in items.iter_mut() {
            if let Some(x) = item
                .as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
            {
                *item = Value::from(x as i64);
            }
        }
    }
    value.to_string()
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn health() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#.to_string())
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let stats = api.ask(|lookup| lookup.stats()).await.unwrap_or_default();
    let mut out = Exposition::default();
    let by_table = |f: fn(&TableStats) -> u64| {
        stats
            .iter()
            .map(move |s| (vec![("table".to_string(), s.table.clone())], f(s)))
            .collect::<Vec<_>>()
    };
    out.gauge(
        "serving_rows",
        "Keys with a row, per table",
        by_table(|s| s.rows)
            .into_iter()
            .map(|(labels, n)| (labels, n as f64)),
    );
    out.counter(
        "serving_updates",
        "Rows published into the table since the process started",
        by_table(|s| s.updates),
    );
    out.counter(
        "serving_requests",
        "Requests the serving API answered",
        [(Vec::new(), api.requests.load(Ordering::Relaxed))],
    );
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], out.encode()).into_response()
}

impl Api {
    /// Counts a request and runs `query` on the store off the async workers (Redis answers
    /// over the network); a store error is a 503.
    async fn ask<T: Send + 'static>(
        &self,
        query: impl FnOnce(&dyn Lookup) -> Result<T, String> + Send + 'static,
    ) -> Result<T, Response> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let lookup = self.lookup.clone();
        match tokio::task::spawn_blocking(move || query(lookup.as_ref())).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e)),
            Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    }
}

async fn tables(State(api): State<Arc<Api>>) -> Response {
    match api.ask(|lookup| lookup.stats()).await {
        Ok(stats) => json(
            StatusCode::OK,
            serde_json::to_string(&stats).unwrap_or_default(),
        ),
        Err(response) => response,
    }
}

async fn table_rows(State(api): State<Arc<Api>>, Path(table): Path<String>) -> Response {
    match api
        .ask(move |lookup| lookup.rows(&table, MAX_LISTED_ROWS))
        .await
    {
        Ok(rows) => {
            let rows: Vec<String> = rows.iter().map(|r| with_integer_items(r)).collect();
            json(StatusCode::OK, format!("[{}]", rows.join(",")))
        }
        Err(response) => response,
    }
}

async fn row(State(api): State<Arc<Api>>, Path((table, key)): Path<(String, String)>) -> Response {
    let (t, k) = (table.clone(), key.clone());
    match api.ask(move |lookup| lookup.get(&t, &k)).await {
        Ok(Some(row)) => json(StatusCode::OK, with_integer_items(&row)),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no row for key {key:?} in table {table:?} yet"),
        ),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_item_ids_are_written_as_integers() {
        let row = r#"{"user":1,"items":[20.0,3.0],"scores":[1.0,0.5]}"#;
        assert_eq!(
            with_integer_items(row),
            r#"{"items":[20,3],"scores":[1.0,0.5],"user":1}"#
        );
    }
}

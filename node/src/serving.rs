//! Serving: the embedded serving store that `kind = "serve"` sinks publish committed rows
//! into ([`store`]), and the HTTP API and page that answer from it — or from Redis, for
//! `quiver serve` ([`api`]).
//!
//! A process has one store per `listen` address, created by the first sink partition that
//! names it, which also starts the API there on a thread of its own (so the API outlives
//! deployments and recoveries of the job in this process). The store is memory only: a node
//! process that ends takes its tables with it, and a partition redeployed on another node
//! serves its keys from there as their rows come again. Across nodes, and to survive
//! restarts, write to Redis and serve with `quiver serve --redis URL`.

pub mod api;
pub mod redis;
pub mod store;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use store::Tables;

/// The stores of this process, by the address their API listens on.
fn stores() -> &'static Mutex<HashMap<String, Arc<Tables>>> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<Tables>>>> = OnceLock::new();
    STORES.get_or_init(Mutex::default)
}

/// The store whose API listens on `listen` (`HOST:PORT`), started with its API the first time
/// it is asked for. Fails when the address cannot be bound.
pub fn store_at(listen: &str) -> Result<Arc<Tables>, String> {
    let mut stores = stores().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(tables) = stores.get(listen) {
        return Ok(tables.clone());
    }
    let addr: SocketAddr = listen
        .parse::<quiver_protocol::host_port::HostPort>()
        .and_then(|hp| hp.resolve_blocking())
        .map_err(|e| e.to_string())?;
    let tables = Arc::new(Tables::default());
    let bound = api::spawn(addr, tables.clone()).map_err(|e| {
        format!("the serving API cannot listen on {listen}: {e}; set the sink's listen to a free HOST:PORT")
    })?;
    tracing::info!("serving API on http://{bound}/ (GET /TABLE/KEY, /health, /metrics)");
    eprintln!("serving API and page: http://{bound}/");
    stores.insert(listen.to_string(), tables.clone());
    Ok(tables)
}

//! The serving API's rows read from Redis (`quiver serve --redis URL`): the keys `redis`
//! sinks write as `{table}:{key}`, each holding a row as JSON.

use super::api::Lookup;
use super::store::TableStats;
use std::sync::Mutex;
use std::time::Duration;

/// How long a connect, a read or a write to Redis may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// Keys a table listing or count scans at most.
const MAX_SCANNED: usize = 100_000;

/// Rows in a Redis server, over one connection made again after an error.
pub struct RedisLookup {
    client: redis::Client,
    connection: Mutex<Option<redis::Connection>>,
    /// The tables `/api/tables` counts (Redis has no list of them).
    tables: Vec<String>,
}

impl RedisLookup {
    /// A lookup in the server at `url` (`redis://HOST:PORT[/DB]`), counting `tables`.
    pub fn new(url: &str, tables: Vec<String>) -> Result<RedisLookup, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("{url:?} is not a Redis URL (redis://HOST:PORT[/DB]): {e}"))?;
        Ok(RedisLookup {
            client,
            connection: Mutex::new(None),
            tables,
        })
    }

    /// Runs `query` on the connection, connecting first if there is none; an error drops the
    /// connection, so the next call connects again.
    fn with<T>(
        &self,
        query: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let mut held = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(TIMEOUT)
                .and_then(|con| {
                    con.set_read_timeout(Some(TIMEOUT))?;
                    con.set_write_timeout(Some(TIMEOUT))?;
                    Ok(con)
                })
                .map_err(|e| format!("cannot reach Redis: {e}"))?;
            *held = Some(con);
        }
        let Some(con) = held.as_mut() else {
            return Err("no connection to Redis".to_string());
        };
        query(con).map_err(|e| {
            *held = None;
            format!("Redis: {e}")
        })
    }

    /// Up to `limit` keys of `table`, by a SCAN of `{table}:*`.
    fn keys(
        con: &mut redis::Connection,
        table: &str,
        limit: usize,
    ) -> redis::RedisResult<Vec<String>> {
        let pattern = format!("{table}:*");
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(con)?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 || keys.len() >= limit {
                keys.truncate(limit);
                keys.sort_unstable();
                return Ok(keys);
            }
        }
    }
}

impl Lookup for RedisLookup {
    fn get(&self, table: &str, key: &str) -> Result<Option<String>, String> {
        self.with(|con| redis::cmd("GET").arg(format!("{table}:{key}")).query(con))
    }

    fn rows(&self, table: &str, limit: usize) -> Result<Vec<String>, String> {
        self.with(|con| {
            let keys = Self::keys(con, table, limit)?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let rows: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(con)?;
            Ok(rows.into_iter().flatten().collect())
        })
    }

    fn stats(&self) -> Result<Vec<TableStats>, String> {
        self.tables
            .iter()
            .map(|table| {
                let rows = self.with(|con| Self::keys(con, table, MAX_SCANNED))?.len() as u64;
                Ok(TableStats {
                    table: table.clone(),
                    rows,
                    updates: 0,
                })
            })
            .collect()
    }
}

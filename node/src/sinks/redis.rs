//! The `redis` sink: each row is stored with `SET key value` in a Redis server (standalone,
//! not Redis Cluster), the key rendered from the row by the sink's template
//! ([`row_key::RowKey`], e.g. `rec:{user}`), the value the row as the JSON object every sink
//! writes ([`JsonEncoder`]); with `ttl` every `SET` carries `PX ttl`. Later rows of a key
//! replace earlier ones (upsert): Redis holds the last row of each key.
//!
//! **Without checkpoints** every batch is written as it arrives: one pipeline of `SET`s, one
//! round trip per batch, in row order.
//!
//! **With checkpoints** (exactly-once) the sink takes part in the two-phase commit
//! ([`staging`]): rows are kept in memory, the last one per key, until the next barrier; at
//! barrier `n` they are staged into Redis as hashes named by (lineage, sink, generation, `n`,
//! partition, chunk) ([`names`]); when checkpoint `n` completed one Lua script per chunk
//! applies them (`SET`s the keys, deletes the chunk) — atomically per chunk, and idempotently:
//! an applied chunk is gone, so applying it again is a no-op. A deployment built for a
//! recovery first makes its run and generation the sink's owner, so scripts of older
//! generations (a zombie partition of a paused node) or of the run a resumed job continues
//! fail without writing, then applies what the restored checkpoint covers and discards the
//! rest. So Redis only ever holds rows of completed
//! checkpoints, each key's value only moves forward from one checkpoint's last row to a later
//! one's, and no value is written in part. Keys under `quiver:` are the sink's own.
//!
//! Connecting waits at most [`CONNECT_TIMEOUT`], every reply at most [`IO_TIMEOUT`]; a Redis
//! that is down or too slow is an I/O error, so the job recovers. A run whose sink another run
//! took over fails for good.

mod names;
mod row_key;
mod scripts;
mod staging;

use super::json::JsonEncoder;
use super::SinkContext;
use crate::blocking::blocking;
use crate::operator::{OperatorError, Sink};
use quiver_protocol::batch::Batch;
use quiver_protocol::spec::RedisSink as RedisSpec;
use quiver_protocol::{CheckpointId, Schema};
use redis::Connection;
use row_key::RowKey;
use staging::Staging;
use std::time::Duration;

/// The longest wait for a connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest wait for a reply (or to send a request).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One partition of a Redis sink.
pub struct RedisSink {
    con: Connection,
    key: RowKey,
    encoder: JsonEncoder,
    /// `None`: write as rows come (no checkpoints); `Some`: two-phase commit.
    staging: Option<Staging>,
    ttl_ms: u64,
    /// The key being rendered.
    scratch: String,
    /// What errors say: `redis sink "out"`.
    label: String,
}

impl std::fmt::Debug for RedisSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSink")
            .field("sink", &self.label)
            .finish_non_exhaustive()
    }
}

impl RedisSink {
    /// Connects partition `ctx` of sink `sink` to its server, writing rows of `input`; with
    /// `ctx.exactly_once` it then settles what earlier generations staged ([`Staging`]).
    pub fn new(
        sink: &str,
        spec: &RedisSpec,
        input: &Schema,
        ctx: &SinkContext,
    ) -> Result<RedisSink, OperatorError> {
        let label = format!("redis sink {sink:?}");
        let key = RowKey::new(sink, &spec.key, input)?;
        let client = redis::Client::open(spec.url.as_str()).map_err(|e| {
            OperatorError::Config(format!("{label}: url {:?} is not usable: {e}", spec.url))
        })?;
        let io = |what: &str, e: redis::RedisError| {
            OperatorError::Io(format!("{label}: cannot {what} {}: {e}", spec.url))
        };
        let mut con = client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|e| io("connect to", e))?;
        con.set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| con.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| io("set timeouts on the connection to", e))?;
        // Redis's millisecond expiry fits any valid TTL (at most `MAX_REDIS_TTL`).
        let ttl_ms = spec.ttl.map_or(0, |t| t.as_millis().max(1) as u64);
        let staging = match ctx.exactly_once {
            true => Some(Staging::recover(&mut con, sink, ctx, ttl_ms)?),
            false => None,
        };
        Ok(RedisSink {
            con,
            key,
            encoder: JsonEncoder::new(input),
            staging,
            ttl_ms,
            scratch: String::new(),
            label,
        })
    }

    /// Writes `batch` at once: a pipeline of `SET`s, one round trip.
    fn write_through(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        let mut pipe = redis::pipe();
        let mut value = Vec::new();
        for row in 0..batch.len() {
            self.key.render(batch, row, &mut self.scratch)?;
            value.clear();
            self.encoder.encode(batch, row, &mut value);
            let set = pipe.cmd("SET").arg(&self.scratch).arg(&value);
            if self.ttl_ms > 0 {
                set.arg("PX").arg(self.ttl_ms);
            }
            set.ignore();
        }
        blocking(|| pipe.exec(&mut self.con))
            .map_err(|e| OperatorError::Io(format!("{}: cannot write: {e}", self.label)))
    }
}

impl Sink for RedisSink {
    fn write_batch(&mut self, batch: &Batch) -> Result<(), OperatorError> {
        if batch.is_empty() {
            return Ok(());
        }
        let Some(staging) = &mut self.staging else {
            return self.write_through(batch);
        };
        for row in 0..batch.len() {
            self.key.render(batch, row, &mut self.scratch)?;
            staging.put(&self.scratch, |value| {
                self.encoder.encode(batch, row, value)
            });
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        match &self.staging {
            Some(staging) if staging.has_unstaged() => Err(OperatorError::Io(format!(
                "{}: records after the final barrier, which no checkpoint covers",
                self.label
            ))),
            _ => Ok(()),
        }
    }

    fn prepare_commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        match &mut self.staging {
            Some(staging) => blocking(|| staging.stage(&mut self.con, checkpoint)),
            None => Ok(()),
        }
    }

    fn commit(&mut self, checkpoint: CheckpointId) -> Result<(), OperatorError> {
        match &mut self.staging {
            Some(staging) => blocking(|| staging.commit(&mut self.con, checkpoint)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;

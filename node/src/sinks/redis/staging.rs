//! The exactly-once side of the Redis sink: the last value per key since the previous
//! barrier, staged into Redis at each barrier and applied when the checkpoint completed
//! (keys and scripts: [`super::names`], [`super::scripts`]).

use super::names::{settle, Chunk, Namespace, Owner};
use super::scripts::Scripts;
use crate::operator::OperatorError;
use crate::sinks::SinkContext;
use quiver_protocol::CheckpointId;
use redis::Connection;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Most entries in one staged chunk: one `apply` script `SET`s at most this many keys, so it
/// holds Redis for about a millisecond (0.8–0.9 ms for 150-byte rows on the loaded 2-core
/// build machine, `bench/redis_apply.py`).
pub(super) const CHUNK_ENTRIES: usize = 256;
/// Most bytes (keys and values) in one staged chunk, so large rows keep a call as short (a
/// single larger entry gets a chunk of its own).
pub(super) const CHUNK_BYTES: usize = 256 << 10;

/// One sink partition's two-phase-commit state.
#[derive(Debug)]
pub(super) struct Staging {
    ns: Namespace,
    scripts: Scripts,
    owner: Owner,
    partition: u32,
    /// Keys expire this long after they are applied (0: never).
    ttl_ms: u64,
    /// The last value written per key since the previous barrier.
    buffer: FxHashMap<String, Vec<u8>>,
    /// The chunks staged per barrier whose checkpoint has not been committed yet.
    pending: BTreeMap<CheckpointId, u32>,
    /// What each operation says in errors: `redis sink "out" partition 1`.
    label: String,
}

impl Staging {
    /// Takes over sink `sink` for the deployment `ctx` describes: makes its run and
    /// generation the owner (other runs and older generations can no longer write), then
    /// settles what earlier generations staged ([`settle`]): applies the chunks the restored
    /// checkpoint covers, in checkpoint order, and discards the rest.
    pub(super) fn recover(
        con: &mut Connection,
        sink: &str,
        ctx: &SinkContext,
        ttl_ms: u64,
    ) -> Result<Staging, OperatorError> {
        let label = format!("redis sink {sink:?} partition {}", ctx.partition);
        let io = |what: &str, e| failure(&label, what, e);
        let scripts = Scripts::load(con).map_err(|e| io("load its scripts", e))?;
        let ns = Namespace::new(ctx.lineage, sink);
        let owner = Owner {
            run: ctx.run,
            generation: ctx.generation,
        };
        let members: Vec<String> = scripts
            .claim(&ns, &owner)
            .query(con)
            .map_err(|e| io("claim the sink for this generation", e))?;
        let settlement = settle(members.iter().map(String::as_str), ctx);
        for chunk in &settlement.apply {
            scripts
                .apply(&ns, &owner, chunk, ttl_ms)
                .exec(con)
                .map_err(|e| io("apply a chunk the restored checkpoint covers", e))?;
        }
        for chunk in &settlement.discard {
            scripts
                .discard(&ns, &owner, chunk)
                .exec(con)
                .map_err(|e| io("discard a chunk no checkpoint covers", e))?;
        }
        Ok(Staging {
            ns,
            scripts,
            owner,
            partition: ctx.partition,
            ttl_ms,
            buffer: FxHashMap::default(),
            pending: BTreeMap::new(),
            label,
        })
    }

    /// The value of `key` is now the one `encode` writes (replacing an earlier one of this
    /// interval).
    pub(super) fn put(&mut self, key: &str, encode: impl FnOnce(&mut Vec<u8>)) {
        let value = match self.buffer.get_mut(key) {
            Some(value) => value,
            None => self.buffer.entry(key.to_string()).or_default(),
        };
        value.clear();
        encode(value);
    }

    /// Whether rows were written since the last barrier.
    pub(super) fn has_unstaged(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Barrier `checkpoint`: writes the buffer into Redis as chunks of at most
    /// [`CHUNK_ENTRIES`] entries and [`CHUNK_BYTES`] bytes, in one round trip (each chunk
    /// atomic; a barrier staged in part never completes, so recovery discards its chunks).
    pub(super) fn stage(
        &mut self,
        con: &mut Connection,
        checkpoint: CheckpointId,
    ) -> Result<(), OperatorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let entries: Vec<(String, Vec<u8>)> = self.buffer.drain().collect();
        let mut pipe = redis::pipe();
        let mut chunks = 0u32;
        let mut rest = entries.as_slice();
        while !rest.is_empty() {
            let mut bytes = 0;
            let len = rest
                .iter()
                .take(CHUNK_ENTRIES)
                .take_while(|(k, v)| {
                    bytes += k.len() + v.len();
                    bytes <= CHUNK_BYTES
                })
                .count()
                .max(1);
            let (chunk, later) = rest.split_at(len);
            let name = self.chunk(checkpoint, chunks);
            let pairs = chunk.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
            pipe.add_command(self.scripts.stage(&self.ns, &self.owner, &name, pairs))
                .ignore();
            chunks += 1;
            rest = later;
        }
        pipe.exec(con).map_err(|e| {
            failure(
                &self.label,
                &format!("stage checkpoint {}", checkpoint.0),
                e,
            )
        })?;
        self.pending.insert(checkpoint, chunks);
        Ok(())
    }

    /// Checkpoint `checkpoint` completed: applies every chunk staged at a barrier up to it,
    /// in order, one script call each.
    pub(super) fn commit(
        &mut self,
        con: &mut Connection,
        checkpoint: CheckpointId,
    ) -> Result<(), OperatorError> {
        for (c, chunks) in crate::sinks::take_due(&mut self.pending, checkpoint) {
            for index in 0..chunks {
                let chunk = self.chunk(c, index);
                self.scripts
                    .apply(&self.ns, &self.owner, &chunk, self.ttl_ms)
                    .exec(con)
                    .map_err(|e| failure(&self.label, &format!("apply checkpoint {}", c.0), e))?;
            }
        }
        Ok(())
    }

    fn chunk(&self, checkpoint: CheckpointId, index: u32) -> Chunk {
        Chunk {
            checkpoint,
            generation: self.owner.generation,
            partition: self.partition,
            index,
        }
    }
}

/// What a failed Redis call means for the job. `FENCED` — another run or a newer generation
/// owns the sink — is permanent: retrying cannot win the sink back (and a zombie's failure is
/// ignored anyway). Anything else is I/O, so the job recovers.
fn failure(label: &str, what: &str, e: redis::RedisError) -> OperatorError {
    let message = format!("{label}: cannot {what}: {e}");
    match e.code() {
        Some("FENCED") => OperatorError::Config(message),
        _ => OperatorError::Io(message),
    }
}

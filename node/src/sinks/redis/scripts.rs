//! The Lua scripts of the Redis sink's two-phase commit (key names: [`super::names`]). Redis
//! runs each script atomically, so every step below is all or nothing, and each first checks
//! the fence: a script of a generation older than the newest deployed one writes nothing and
//! fails with `FENCED`.
//! - `claim`: raises the fence to the caller's generation and lists the staged chunks;
//! - `stage`: writes one chunk (its hash, then its name into the index);
//! - `apply`: `SET`s each entry of the chunk (with `PX ttl` when the sink has a TTL), then
//!   deletes the chunk and its index entry; a chunk that is gone was applied (or discarded)
//!   already, so a repeat is a no-op;
//! - `discard`: deletes a chunk and its index entry.

use super::names::{Chunk, Namespace};
use quiver_protocol::Generation;
use redis::{Cmd, Connection, RedisResult};

/// Fails with `FENCED` when a newer generation than `ARGV[1]` is deployed (`KEYS[1]`).
const FENCE: &str = r"
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if fence > tonumber(ARGV[1]) then
  return redis.error_reply('FENCED generation ' .. fence .. ' of the job took over the sink; '
    .. 'generation ' .. ARGV[1] .. ' may not write to it')
end
";

/// `KEYS`: fence, index. `ARGV`: generation. Returns the index's members.
const CLAIM: &str = r"
if fence < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
end
return redis.call('SMEMBERS', KEYS[2])
";

/// `KEYS`: fence, index, chunk. `ARGV`: generation, member, then key and value pairs.
const STAGE: &str = r"
redis.call('DEL', KEYS[3])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
";

/// `KEYS`: fence, index, chunk. `ARGV`: generation, member, TTL in ms (0: none). Returns
/// the entries applied: 0 when the chunk was settled already (it is gone).
const APPLY: &str = r"
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  if ARGV[3] == '0' then
    redis.call('SET', entries[i], entries[i + 1])
  else
    redis.call('SET', entries[i], entries[i + 1], 'PX', ARGV[3])
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return #entries / 2
";

/// `KEYS`: fence, index, chunk. `ARGV`: generation, member.
const DISCARD: &str = r"
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
";

/// The scripts, loaded into the server (`SCRIPT LOAD`), by their SHA-1. A server that
/// restarted has lost them: `EVALSHA` then fails with `NOSCRIPT`, the task fails, and the
/// recovered deployment loads them again.
#[derive(Debug)]
pub(super) struct Scripts {
    claim: String,
    stage: String,
    apply: String,
    discard: String,
}

impl Scripts {
    /// Loads every script into the server `con` talks to.
    pub(super) fn load(con: &mut Connection) -> RedisResult<Scripts> {
        let mut load = |body: &str| -> RedisResult<String> {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(format!("{FENCE}{body}"))
                .query(con)
        };
        Ok(Scripts {
            claim: load(CLAIM)?,
            stage: load(STAGE)?,
            apply: load(APPLY)?,
            discard: load(DISCARD)?,
        })
    }

    /// Raises the fence to `generation`; the command returns the index's members.
    pub(super) fn claim(&self, ns: &Namespace, generation: Generation) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.claim)
            .arg(2)
            .arg(ns.fence())
            .arg(ns.index())
            .arg(generation.0);
        cmd
    }

    /// Stages `entries` (Redis key, value) as `chunk`.
    pub(super) fn stage<'e>(
        &self,
        ns: &Namespace,
        generation: Generation,
        chunk: &Chunk,
        entries: impl Iterator<Item = (&'e str, &'e [u8])>,
    ) -> Cmd {
        let mut cmd = self.on_chunk(&self.stage, ns, generation, chunk);
        for (key, value) in entries {
            cmd.arg(key).arg(value);
        }
        cmd
    }

    /// Applies `chunk` unless it was settled already; `ttl_ms` 0: keys never expire.
    pub(super) fn apply(
        &self,
        ns: &Namespace,
        generation: Generation,
        chunk: &Chunk,
        ttl_ms: u64,
    ) -> Cmd {
        let mut cmd = self.on_chunk(&self.apply, ns, generation, chunk);
        cmd.arg(ttl_ms);
        cmd
    }

    /// Deletes `chunk` unapplied.
    pub(super) fn discard(&self, ns: &Namespace, generation: Generation, chunk: &Chunk) -> Cmd {
        self.on_chunk(&self.discard, ns, generation, chunk)
    }

    /// `EVALSHA sha 3 fence index chunk generation member`.
    fn on_chunk(&self, sha: &str, ns: &Namespace, generation: Generation, chunk: &Chunk) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(sha)
            .arg(3)
            .arg(ns.fence())
            .arg(ns.index())
            .arg(ns.chunk(chunk))
            .arg(generation.0)
            .arg(chunk.member());
        cmd
    }
}

//! The Lua scripts of the Redis sink's two-phase commit (key names: [`super::names`]). Redis
//! runs each script atomically, so every step below is all or nothing.
//! - `claim`: makes the caller's run and generation the sink's owner — unless a newer
//!   generation of the same run owns it — and lists the staged chunks. A new run (a job
//!   resumed from a savepoint) takes the sink over from the run it continues;
//! - `stage`: writes one chunk (its hash, then its name into the index);
//! - `apply`: `SET`s each entry of the chunk (with `PX ttl` when the sink has a TTL), then
//!   deletes the chunk and its index entry; a chunk that is gone was applied (or discarded)
//!   already, so a repeat is a no-op;
//! - `discard`: deletes a chunk and its index entry.
//!
//! `stage`, `apply` and `discard` first check the owner: a caller of another run, or of an
//! older generation than the owner's, writes nothing and fails with `FENCED`.

use super::names::{Chunk, Namespace, Owner};
use redis::{Cmd, Connection, RedisResult};

/// Fails with `FENCED` unless the owner (`KEYS[1]`) is run `ARGV[1]` at a generation up to
/// `ARGV[2]`.
const FENCE: &str = r"
local owner = redis.call('HMGET', KEYS[1], 'run', 'generation')
if owner[1] ~= ARGV[1] or tonumber(owner[2]) > tonumber(ARGV[2]) then
  return redis.error_reply('FENCED run ' .. tostring(owner[1]) .. ' generation '
    .. tostring(owner[2]) .. ' owns the sink; run ' .. ARGV[1] .. ' generation ' .. ARGV[2]
    .. ' may not write to it')
end
";

/// `KEYS`: owner, index. `ARGV`: run, generation. Returns the index's members.
const CLAIM: &str = r"
local owner = redis.call('HMGET', KEYS[1], 'run', 'generation')
if owner[1] == ARGV[1] and tonumber(owner[2]) > tonumber(ARGV[2]) then
  return redis.error_reply('FENCED generation ' .. owner[2] .. ' of run ' .. ARGV[1]
    .. ' owns the sink; generation ' .. ARGV[2] .. ' may not take it over')
end
redis.call('HSET', KEYS[1], 'run', ARGV[1], 'generation', ARGV[2])
return redis.call('SMEMBERS', KEYS[2])
";

/// `KEYS`: owner, index, chunk. `ARGV`: run, generation, member, then key and value pairs.
const STAGE: &str = r"
redis.call('DEL', KEYS[3])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
end
redis.call('SADD', KEYS[2], ARGV[3])
return 1
";

/// `KEYS`: owner, index, chunk. `ARGV`: run, generation, member, TTL in ms (0: none). Returns
/// the entries applied: 0 when the chunk was settled already (it is gone).
const APPLY: &str = r"
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  if ARGV[4] == '0' then
    redis.call('SET', entries[i], entries[i + 1])
  else
    redis.call('SET', entries[i], entries[i + 1], 'PX', ARGV[4])
  end
end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[3])
return #entries / 2
";

/// `KEYS`: owner, index, chunk. `ARGV`: run, generation, member.
const DISCARD: &str = r"
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[2], ARGV[3])
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
        let mut load = |script: &str| -> RedisResult<String> {
            redis::cmd("SCRIPT").arg("LOAD").arg(script).query(con)
        };
        Ok(Scripts {
            claim: load(CLAIM)?,
            stage: load(&format!("{FENCE}{STAGE}"))?,
            apply: load(&format!("{FENCE}{APPLY}"))?,
            discard: load(&format!("{FENCE}{DISCARD}"))?,
        })
    }

    /// Makes `owner` the sink's owner; the command returns the index's members.
    pub(super) fn claim(&self, ns: &Namespace, owner: &Owner) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&self.claim)
            .arg(2)
            .arg(ns.owner())
            .arg(ns.index())
            .arg(owner.run())
            .arg(owner.generation.0);
        cmd
    }

    /// Stages `entries` (Redis key, value) as `chunk`.
    pub(super) fn stage<'e>(
        &self,
        ns: &Namespace,
        owner: &Owner,
        chunk: &Chunk,
        entries: impl Iterator<Item = (&'e str, &'e [u8])>,
    ) -> Cmd {
        let mut cmd = self.on_chunk(&self.stage, ns, owner, chunk);
        for (key, value) in entries {
            cmd.arg(key).arg(value);
        }
        cmd
    }

    /// Applies `chunk` unless it was settled already; `ttl_ms` 0: keys never expire.
    pub(super) fn apply(&self, ns: &Namespace, owner: &Owner, chunk: &Chunk, ttl_ms: u64) -> Cmd {
        let mut cmd = self.on_chunk(&self.apply, ns, owner, chunk);
        cmd.arg(ttl_ms);
        cmd
    }

    /// Deletes `chunk` unapplied.
    pub(super) fn discard(&self, ns: &Namespace, owner: &Owner, chunk: &Chunk) -> Cmd {
        self.on_chunk(&self.discard, ns, owner, chunk)
    }

    /// `EVALSHA sha 3 owner index chunk run generation member`.
    fn on_chunk(&self, sha: &str, ns: &Namespace, owner: &Owner, chunk: &Chunk) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(sha)
            .arg(3)
            .arg(ns.owner())
            .arg(ns.index())
            .arg(ns.chunk(chunk))
            .arg(owner.run())
            .arg(owner.generation.0)
            .arg(chunk.member());
        cmd
    }
}

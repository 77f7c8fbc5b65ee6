//! The Redis sink against a real `redis-server` (started per test by
//! `scripts/services/redis.sh`, killed when the test ends): writing through, the two-phase
//! commit, every restore path, fencing, chunking, TTLs, key templates and a dead server.

use super::staging::{CHUNK_BYTES, CHUNK_ENTRIES};
use super::*;
use crate::sinks::test_context as ctx;
use quiver_protocol::batch::from_records;
use quiver_protocol::spec::KeyTemplate;
use quiver_protocol::{Record, Value, ValueType};
use quiver_test_services::Service;
use redis::Commands;
use serde_json::json;

/// A redis-server for one test, with its folder.
struct Server {
    service: Service,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Server {
            service: Service::redis(dir.path()),
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}/0", self.service.addr())
    }

    /// A connection of the test's own, to look at and change what the server holds.
    fn con(&self) -> Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the test's redis-server")
    }

    /// The value of `key`, parsed as JSON (`None`: absent).
    fn json(&self, key: &str) -> Option<serde_json::Value> {
        let text: Option<String> = self.con().get(key).expect("GET");
        text.map(|t| serde_json::from_str(&t).expect("a JSON value"))
    }

    /// Every key of the server, sorted.
    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.con().keys("*").expect("KEYS");
        keys.sort();
        keys
    }
}

fn schema() -> Schema {
    Schema::new([("user", ValueType::Str), ("n", ValueType::I64)])
}

/// A batch of (user, n) rows.
fn rows(rows: &[(&str, i64)]) -> Batch {
    let records: Vec<Record> = rows
        .iter()
        .map(|(user, n)| Record {
            event_time: 0,
            row: vec![Value::from(*user), Value::I64(*n)],
        })
        .collect();
    from_records(&schema(), &records).expect("rows of the schema")
}

fn spec(server: &Server, key: &str, ttl: Option<Duration>) -> RedisSpec {
    RedisSpec {
        url: server.url(),
        key: KeyTemplate::parse(key).expect("a valid template"),
        ttl,
    }
}

fn sink(server: &Server, ctx: &SinkContext) -> RedisSink {
    RedisSink::new("out", &spec(server, "user:{user}", None), &schema(), ctx).expect("sink")
}

fn user(name: &str, n: i64) -> Option<serde_json::Value> {
    Some(json!({"user": name, "n": n}))
}

/// The staged-chunk names still in the index.
fn staged(server: &Server) -> Vec<String> {
    let mut members: Vec<String> = server
        .con()
        .smembers("quiver:ab:out:staged")
        .expect("SMEMBERS");
    members.sort();
    members
}

#[test]
fn without_checkpoints_rows_are_written_as_they_come_and_the_last_one_wins() {
    let server = Server::start();
    let mut ctx = ctx(0, 1, 1, None);
    ctx.exactly_once = false;
    let mut sink = sink(&server, &ctx);
    sink.write_batch(&rows(&[("a", 1), ("b", 1), ("a", 2)]))
        .expect("write");
    assert_eq!(server.json("user:a"), user("a", 2));
    assert_eq!(server.json("user:b"), user("b", 1));
    sink.finish().expect("finish");
    assert_eq!(
        server.keys(),
        ["user:a", "user:b"],
        "no commit keys without checkpoints"
    );
}

#[test]
fn rows_appear_only_when_their_checkpoint_completes_last_row_per_key() {
    let server = Server::start();
    let mut sink = sink(&server, &ctx(0, 1, 1, None));
    sink.write_batch(&rows(&[("a", 1), ("b", 1), ("a", 2)]))
        .expect("write");
    assert_eq!(server.json("user:a"), None, "nothing before the barrier");
    sink.prepare_commit(CheckpointId(1)).expect("stage 1");
    assert_eq!(
        server.json("user:a"),
        None,
        "nothing before the checkpoint completes"
    );
    sink.write_batch(&rows(&[("a", 3)])).expect("write");
    sink.prepare_commit(CheckpointId(2)).expect("stage 2");
    sink.write_batch(&rows(&[("c", 1)])).expect("write");
    sink.prepare_commit(CheckpointId(3)).expect("stage 3");
    sink.commit(CheckpointId(2))
        .expect("commit 2 (and 1 before it)");
    assert_eq!(server.json("user:a"), user("a", 3));
    assert_eq!(server.json("user:b"), user("b", 1));
    assert_eq!(server.json("user:c"), None, "checkpoint 3 is not complete");
    sink.commit(CheckpointId(3)).expect("commit 3");
    assert_eq!(server.json("user:c"), user("c", 1));
    assert_eq!(
        staged(&server),
        Vec::<String>::new(),
        "applied chunks are deleted"
    );
    sink.finish().expect("finish");
}

#[test]
fn records_after_the_final_barrier_fail_finish() {
    let server = Server::start();
    let mut sink = sink(&server, &ctx(0, 1, 1, None));
    sink.write_batch(&rows(&[("a", 1)])).expect("write");
    assert!(sink.finish().is_err());
}

#[test]
fn restore_applies_the_staged_checkpoints_it_covers_and_discards_later_ones() {
    let server = Server::start();
    let mut old = sink(&server, &ctx(0, 1, 1, None));
    old.write_batch(&rows(&[("a", 1), ("b", 1)]))
        .expect("write");
    old.prepare_commit(CheckpointId(1)).expect("stage 1");
    old.write_batch(&rows(&[("a", 2)])).expect("write");
    old.prepare_commit(CheckpointId(2)).expect("stage 2");
    old.write_batch(&rows(&[("a", 3), ("c", 1)]))
        .expect("write");
    old.prepare_commit(CheckpointId(3)).expect("stage 3");
    // The node died before any commit arrived; checkpoint 2 completed, 3 did not.
    drop(old);
    let _new = sink(&server, &ctx(0, 1, 2, Some((2, 1))));
    assert_eq!(
        server.json("user:a"),
        user("a", 2),
        "1 then 2 applied, in order"
    );
    assert_eq!(server.json("user:b"), user("b", 1));
    assert_eq!(server.json("user:c"), None, "checkpoint 3 never completed");
    assert_eq!(staged(&server), Vec::<String>::new());
    assert_eq!(server.keys(), ["quiver:ab:out:owner", "user:a", "user:b"]);
}

#[test]
fn restore_applies_nothing_twice_after_the_commit_applied_it() {
    let server = Server::start();
    let mut old = sink(&server, &ctx(0, 1, 1, None));
    old.write_batch(&rows(&[("a", 1)])).expect("write");
    old.prepare_commit(CheckpointId(1)).expect("stage");
    old.commit(CheckpointId(1)).expect("commit");
    // A later writer (or a later checkpoint) changed the key: re-applying 1 would regress it.
    let _: () = server.con().set("user:a", "later").expect("SET");
    old.commit(CheckpointId(1)).expect("a repeated commit");
    let _new = sink(&server, &ctx(0, 1, 2, Some((1, 1))));
    let value: String = server.con().get("user:a").expect("GET");
    assert_eq!(value, "later", "checkpoint 1 applied once only");
}

#[test]
fn a_restore_before_any_checkpoint_discards_everything_staged() {
    let server = Server::start();
    let mut old = sink(&server, &ctx(0, 1, 1, None));
    old.write_batch(&rows(&[("a", 1)])).expect("write");
    old.prepare_commit(CheckpointId(1)).expect("stage");
    let _new = sink(&server, &ctx(0, 1, 2, None));
    assert_eq!(server.json("user:a"), None);
    assert_eq!(staged(&server), Vec::<String>::new());
}

#[test]
fn restore_discards_chunks_of_other_generations() {
    let server = Server::start();
    // Generation 1 staged checkpoint 5, never completed; generation 2 then restored
    // checkpoint 4 and staged its own 5, which completed.
    let mut first = sink(&server, &ctx(0, 1, 1, None));
    first.write_batch(&rows(&[("a", 100)])).expect("write");
    first.prepare_commit(CheckpointId(5)).expect("stage");
    let mut second = sink(&server, &ctx(0, 1, 2, Some((4, 1))));
    second.write_batch(&rows(&[("a", 5)])).expect("write");
    second.prepare_commit(CheckpointId(5)).expect("stage");
    let _third = sink(&server, &ctx(0, 1, 3, Some((5, 2))));
    assert_eq!(server.json("user:a"), user("a", 5));
    assert_eq!(staged(&server), Vec::<String>::new());
}

#[test]
fn a_stale_generation_cannot_stage_or_publish_after_a_recovery() {
    let server = Server::start();
    let mut zombie = sink(&server, &ctx(0, 1, 1, None));
    zombie.write_batch(&rows(&[("a", 1)])).expect("write");
    zombie.prepare_commit(CheckpointId(1)).expect("stage");
    // Generation 2 takes over from before checkpoint 1 (it never completed).
    let _new = sink(&server, &ctx(0, 1, 2, None));
    let late = zombie
        .commit(CheckpointId(1))
        .expect_err("the zombie is fenced");
    assert!(late.to_string().contains("FENCED"), "{late}");
    assert!(!late.is_transient(), "retrying cannot win the sink back");
    zombie
        .write_batch(&rows(&[("a", 2)]))
        .expect("write (in memory)");
    let stage = zombie.prepare_commit(CheckpointId(2)).expect_err("fenced");
    assert!(stage.to_string().contains("FENCED"), "{stage}");
    assert_eq!(server.json("user:a"), None);
    assert_eq!(staged(&server), Vec::<String>::new());
}

#[test]
fn a_resumed_run_takes_the_sink_over_from_the_run_it_continues() {
    let server = Server::start();
    // The first run took a savepoint at checkpoint 3 in generation 2, then went on through
    // recoveries to generation 7, where it staged checkpoint 9.
    let mut first = sink(&server, &ctx(0, 1, 7, Some((8, 6))));
    first.write_batch(&rows(&[("a", 9)])).expect("write");
    first.prepare_commit(CheckpointId(9)).expect("stage");
    // A job resumed from the savepoint: another run, starting at generation 3.
    let mut resumed = ctx(0, 1, 3, Some((3, 2)));
    resumed.run = 0x52;
    resumed.continues = Some(0x51);
    let mut second = sink(&server, &resumed);
    let late = first
        .commit(CheckpointId(9))
        .expect_err("the first run is fenced");
    assert!(late.to_string().contains("FENCED"), "{late}");
    assert_eq!(server.json("user:a"), None);
    second.write_batch(&rows(&[("a", 4)])).expect("write");
    second.prepare_commit(CheckpointId(4)).expect("stage");
    second.commit(CheckpointId(4)).expect("commit");
    assert_eq!(server.json("user:a"), user("a", 4));
    assert_eq!(staged(&server), Vec::<String>::new());
}

#[test]
fn partition_zero_settles_partitions_a_rescale_removed() {
    let server = Server::start();
    let mut gone = sink(&server, &ctx(2, 3, 1, None));
    gone.write_batch(&rows(&[("z", 7)])).expect("write");
    gone.prepare_commit(CheckpointId(1)).expect("stage");
    let _p1 = sink(&server, &ctx(1, 2, 2, Some((1, 1))));
    assert_eq!(
        server.json("user:z"),
        None,
        "partition 1 leaves partition 2's chunks"
    );
    let _p0 = sink(&server, &ctx(0, 2, 2, Some((1, 1))));
    assert_eq!(server.json("user:z"), user("z", 7));
}

#[test]
fn big_checkpoints_are_staged_and_applied_in_chunks() {
    let server = Server::start();
    let mut sink = sink(&server, &ctx(0, 1, 1, None));
    let n = 2 * CHUNK_ENTRIES + 10;
    let names: Vec<String> = (0..n).map(|i| format!("u{i}")).collect();
    let batch: Vec<(&str, i64)> = names.iter().map(|u| (u.as_str(), 1)).collect();
    sink.write_batch(&rows(&batch)).expect("write");
    sink.prepare_commit(CheckpointId(1)).expect("stage");
    assert_eq!(
        staged(&server),
        ["g1:c1:p0:k0", "g1:c1:p0:k1", "g1:c1:p0:k2"]
    );
    sink.commit(CheckpointId(1)).expect("commit");
    let keys = server.keys();
    assert_eq!(keys.len(), n + 1, "every key and the fence");
    assert_eq!(
        server.json(&format!("user:u{}", n - 1)),
        user(&format!("u{}", n - 1), 1)
    );
}

#[test]
fn big_rows_are_chunked_by_bytes() {
    let server = Server::start();
    let mut sink = sink(&server, &ctx(0, 1, 1, None));
    // Each entry (the name in its key and in its value) holds a little over 2/7 of
    // CHUNK_BYTES: three fit a chunk, four do not.
    let names: Vec<String> = (0..4)
        .map(|i| format!("{i}{}", "x".repeat(CHUNK_BYTES / 7)))
        .collect();
    let batch: Vec<(&str, i64)> = names.iter().map(|u| (u.as_str(), 1)).collect();
    sink.write_batch(&rows(&batch)).expect("write");
    sink.prepare_commit(CheckpointId(1)).expect("stage");
    assert_eq!(staged(&server), ["g1:c1:p0:k0", "g1:c1:p0:k1"]);
    sink.commit(CheckpointId(1)).expect("commit");
    for name in &names {
        assert_eq!(server.json(&format!("user:{name}")), user(name, 1));
    }
}

#[test]
fn ttl_makes_applied_keys_expire() {
    let server = Server::start();
    let ttl = Duration::from_secs(3600);
    let spec = spec(&server, "user:{user}", Some(ttl));
    let mut sink = RedisSink::new("out", &spec, &schema(), &ctx(0, 1, 1, None)).expect("sink");
    sink.write_batch(&rows(&[("a", 1)])).expect("write");
    sink.prepare_commit(CheckpointId(1)).expect("stage");
    sink.commit(CheckpointId(1)).expect("commit");
    let pttl: i64 = redis::cmd("PTTL")
        .arg("user:a")
        .query(&mut server.con())
        .expect("PTTL");
    assert!(pttl > 0 && pttl <= 3_600_000, "PTTL {pttl}");
    let fence: i64 = redis::cmd("PTTL")
        .arg("quiver:ab:out:owner")
        .query(&mut server.con())
        .expect("PTTL");
    assert_eq!(fence, -1, "the sink's own keys do not expire");
}

#[test]
fn key_templates_render_strings_numbers_and_bools() {
    let server = Server::start();
    let schema = Schema::new([
        ("s", ValueType::Str),
        ("i", ValueType::I64),
        ("b", ValueType::Bool),
    ]);
    let spec = spec(&server, "{{x}}:{s}/{i}-{b}", None);
    let mut ctx = ctx(0, 1, 1, None);
    ctx.exactly_once = false;
    let mut sink = RedisSink::new("out", &spec, &schema, &ctx).expect("sink");
    let record = |s: Value, i: Value, b: Value| Record {
        event_time: 0,
        row: vec![s, i, b],
    };
    let batch = from_records(
        &schema,
        &[record(
            Value::from("é x"),
            Value::I64(-12),
            Value::Bool(true),
        )],
    )
    .expect("batch");
    sink.write_batch(&batch).expect("write");
    assert_eq!(server.keys(), ["{x}:é x/-12-true"]);
    let null = from_records(
        &schema,
        &[record(Value::from("a"), Value::Null, Value::Bool(false))],
    )
    .expect("batch");
    let error = sink.write_batch(&null).expect_err("a null key column");
    assert!(!error.is_transient());
    assert!(
        error.to_string().contains("null in key column \"i\""),
        "{error}"
    );
}

#[test]
fn a_dead_server_is_a_transient_error() {
    let mut server = Server::start();
    let mut sink = sink(&server, &ctx(0, 1, 1, None));
    sink.write_batch(&rows(&[("a", 1)])).expect("write");
    sink.prepare_commit(CheckpointId(1)).expect("stage");
    server.service.kill();
    let error = sink
        .commit(CheckpointId(1))
        .expect_err("the server is gone");
    assert!(error.is_transient(), "{error}");
    let error = RedisSink::new(
        "out",
        &spec(&server, "user:{user}", None),
        &schema(),
        &ctx(0, 1, 2, None),
    )
    .expect_err("nothing listens");
    assert!(error.is_transient(), "{error}");
}

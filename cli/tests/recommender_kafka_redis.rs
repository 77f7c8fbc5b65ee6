//! The flagship on real services (issue 18, done-when 1): `examples/recommender/
//! job-kafka-redis.toml` reads behaviour events from a real Kafka-protocol broker (tansu) and
//! writes features, top-10 lists and the A/B table into a real `redis-server`, on a
//! coordinator and two nodes. Events are produced while the job runs and one node is killed
//! (SIGKILL) mid-stream. At the end every user's features in Redis equal what the test
//! computes from the events it produced (event and click counts, last event time, mean
//! strength), every user has a well-formed list, and the A/B table counts every event exactly
//! once: its per-variant list counts are the events of the users each variant served.
//! `quiver serve --redis` then answers the serving API from the same keys.

mod common;

use common::cluster::{restarts, Cluster};
use common::kafka::{Broker, Message};
use quiver_chaos_tests::{http_get, Process};
use quiver_test_services::Service;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// Events produced in all.
const EVENTS: i64 = 6000;
/// Distinct users.
const USERS: i64 = 40;
/// Topic partitions.
const PARTITIONS: i64 = 3;

/// Event `i` as the behaviour workload's schema has it: `(user, item, action, rating,
/// strength, clicked, ts)`; a cycle of views, clicks, carts, purchases and ratings.
fn event(i: i64) -> (i64, i64, &'static str, Option<f64>, f64, f64, i64) {
    let user = (i * 7) % USERS;
    let item = (i * 13 + i / 97) % 120;
    let (action, rating, strength, clicked) = match i % 10 {
        0..=4 => ("view", None, 1.0, 0.0),
        5 | 6 => ("click", None, 2.0, 1.0),
        7 => ("cart", None, 3.0, 1.0),
        8 => ("purchase", None, 5.0, 1.0),
        _ => {
            let r = (i % 5 + 1) as f64;
            ("rating", Some(r), r, 0.0)
        }
    };
    (user, item, action, rating, strength, clicked, i)
}

/// Produces events `range` as JSON messages keyed by user, each user's to one partition.
fn produce(broker: &Broker, range: std::ops::Range<i64>) {
    let mut by_partition: BTreeMap<i32, Vec<Message>> = BTreeMap::new();
    for i in range {
        let (user, item, action, rating, strength, clicked, ts) = event(i);
        let value = json!({"user": user, "item": item, "action": action, "rating": rating,
            "strength": strength, "clicked": clicked, "ts": ts});
        by_partition
            .entry((user % PARTITIONS) as i32)
            .or_default()
            .push((
                Some(user.to_string().into_bytes()),
                value.to_string().into_bytes(),
            ));
    }
    for (partition, messages) in by_partition {
        broker.produce("behaviour", partition, messages);
    }
}

/// The example's spec on the test's broker and Redis, checkpointing every 300 ms.
fn spec(broker: &Broker, redis_url: &str) -> String {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/recommender/job-kafka-redis.toml"
    );
    let text = std::fs::read_to_string(example).expect("read the example");
    let moved = text
        .replace("127.0.0.1:9092", &broker.addr)
        .replace("redis://127.0.0.1:6379", redis_url)
        .replace(
            "checkpoint_interval = \"1s\"",
            "checkpoint_interval = \"300ms\"",
        );
    assert_eq!(moved.matches(redis_url).count(), 6, "six redis sinks moved");
    moved
}

/// Every user's features as the test computes them: events, clicks, last event time, the
/// sum of strengths.
fn expected_features() -> BTreeMap<i64, (i64, f64, i64, f64)> {
    let mut features = BTreeMap::new();
    for i in 0..EVENTS {
        let (user, _, _, _, strength, clicked, ts) = event(i);
        let f = features.entry(user).or_insert((0, 0.0, i64::MIN, 0.0));
        f.0 += 1;
        f.1 += clicked;
        f.2 = f.2.max(ts);
        f.3 += strength;
    }
    features
}

/// The JSON row at `key`, if any.
fn row(con: &mut redis::Connection, key: &str) -> Option<Value> {
    let text: Option<String> = redis::cmd("GET").arg(key).query(con).expect("GET");
    text.map(|t| serde_json::from_str(&t).unwrap_or_else(|e| panic!("{key}: {e}: {t}")))
}

#[test]
fn the_recommender_on_kafka_and_redis_counts_every_event_once_through_a_node_kill() {
    let broker = Broker::start();
    broker.create_topic("behaviour", PARTITIONS as i32);
    let redis_dir = tempfile::tempdir().expect("tempdir");
    let redis = Service::redis(redis_dir.path());
    let url = format!("redis://{}/0", redis.addr());
    let mut con = redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .expect("connect to redis");

    produce(&broker, 0..1000);
    let cluster = Cluster::on_loopback(2);
    let spec_path = cluster.dir.path().join("job.toml");
    std::fs::write(&spec_path, spec(&broker, &url)).expect("write the spec");
    cluster.submit_spec(&spec_path);
    cluster.wait_for_checkpoint();
    for (n, start) in (1000..EVENTS).step_by(250).enumerate() {
        produce(&broker, start..(start + 250).min(EVENTS));
        if n == 8 {
            cluster.nodes[1].signal("KILL");
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let expected = expected_features();
    let started = Instant::now();
    loop {
        let done = expected.iter().all(|(user, (events, ..))| {
            row(&mut con, &format!("user_features:{user}"))
                .is_some_and(|r| r["events"].as_i64() == Some(*events))
        });
        if done {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "features incomplete\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Two more checkpoints: an event read twice would have been published by then.
    cluster.wait_for_two_more_checkpoints("job-1");
    let status = cluster.ok(&["job", "status", "job-1"]);
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");

    let mut events_per_variant: BTreeMap<String, i64> = BTreeMap::new();
    for (user, (events, clicks, last, strengths)) in &expected {
        let f = row(&mut con, &format!("user_features:{user}")).expect("features");
        assert_eq!(f["user"], *user, "{f}");
        assert_eq!(f["events"], *events, "user {user}: {f}");
        assert_eq!(f["clicks"].as_f64(), Some(*clicks), "user {user}: {f}");
        assert_eq!(f["last_seen"], *last, "user {user}: {f}");
        let mean = f["mean_strength"].as_f64().expect("mean_strength");
        assert!(
            (mean - strengths / *events as f64).abs() < 1e-9,
            "user {user}: {f}"
        );

        let r = row(&mut con, &format!("recommendations:{user}")).expect("a list");
        let items: Vec<f64> = r["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i.as_f64().expect("an item"))
            .collect();
        assert!(!items.is_empty() && items.len() <= 10, "user {user}: {r}");
        let distinct: HashSet<u64> = items.iter().map(|i| i.to_bits()).collect();
        assert_eq!(distinct.len(), items.len(), "user {user}: {r}");
        assert_eq!(
            r["ts"], *last,
            "the list follows the user's last event: {r}"
        );
        let taken = r["item"].as_f64().expect("item");
        assert!(!items.contains(&taken), "user {user}: {r}");
        assert!(r["model_version"].as_i64() > Some(0), "{r}");
        let variant = r["variant"].as_str().expect("variant").to_string();
        *events_per_variant.entry(variant).or_default() += events;
    }
    for (variant, events) in &events_per_variant {
        let ab = row(&mut con, &format!("ab:{variant}")).expect("an A/B row");
        assert_eq!(
            ab["lists"], *events,
            "variant {variant}: one list per event: {ab}"
        );
    }
    assert_eq!(events_per_variant.values().sum::<i64>(), EVENTS);

    // `quiver serve` answers the page's API from the same keys.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut serve = Process::start(
        "serve",
        Path::new(env!("CARGO_BIN_EXE_quiver")),
        &["serve", "--redis", &url, "--listen", &listen.to_string()],
        cluster.dir.path(),
    );
    serve.wait_for_log("serving API and page: http://", Duration::from_secs(20));
    let (status, body) = http_get(listen, "/recommendations/7");
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("JSON");
    let stored = row(&mut con, "recommendations:7").expect("user 7's list");
    assert_eq!(served["variant"], stored["variant"]);
    assert_eq!(served["ts"], stored["ts"]);
    assert!(
        served["items"][0].is_i64(),
        "item ids as integers: {served}"
    );
    let (_, ab) = http_get(listen, "/ab");
    let ab: Value = serde_json::from_str(&ab).expect("JSON");
    assert_eq!(
        ab.as_array().map(Vec::len),
        Some(events_per_variant.len()),
        "{ab}"
    );
    assert_eq!(http_get(listen, "/recommendations/no-such-user").0, 404);
    assert_eq!(http_get(listen, "/health").0, 200);
}

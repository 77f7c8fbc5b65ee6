//! Matrix factorisation rescales from a savepoint by key groups, end to end: a job at
//! parallelism 2 on a coordinator and two nodes is stopped with a savepoint mid-stream and
//! resumed at parallelism 1. Every output row, before and after, equals the `quiver-ml`
//! library run on the same rows: before the savepoint one model per partition, each fed the
//! ratings of the users whose key groups it owns, in file order; after it, partition 0's model
//! (its own key group holds the rest of the model) with every user's state from both
//! partitions, continuing on the remaining rows.

mod common;

use common::reco::{fnv1a, reco_job};
use common::{quiver, QUIVER};
use quiver_chaos_tests::{
    certs_init, read_committed_rows, start_coordinator, start_node, wait_for_alive_nodes,
};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::OnlineModel;
use quiver_protocol::batch::{Column, StrBuilder};
use quiver_protocol::keygroup::{key_group, key_hash_codes, partition_of};
use std::path::Path;
use std::time::{Duration, Instant};

const ROWS: usize = 4000;

/// Row `n`: user, item, rating, event time.
fn row(n: usize) -> (String, i64, f64, i64) {
    let n64 = n as i64;
    (
        format!("u{}", n * 7 % 23),
        n64 * 5 % 11,
        (n64 * 13 % 5) as f64 + 1.0,
        1_735_689_600_000 + n64 * 3,
    )
}

/// The spec of the job at stage parallelism `parallelism`, reading `ratings.csv`.
fn spec(dir: &Path, parallelism: u32) -> std::path::PathBuf {
    let job = "[job]\nname = \"reco\"\nmax_parallelism = 128\ncheckpoint_interval = \"300ms\"\n";
    let text = reco_job(job, 2000, parallelism);
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The partition (of 2) that owns `user`'s key group: the runtime's hash of the string.
fn partition_of_user(user: &str) -> u32 {
    let mut b = StrBuilder::with_capacity(1, user.len());
    b.push(user);
    let code = key_hash_codes(&[&Column::str(b.finish())], 1)[0];
    partition_of(key_group(code, 128), 128, 2).0
}

/// Predicts row `n` with `model`, then learns it: (prediction, model version before).
fn step(model: &mut MatrixFactorization, n: usize) -> (f64, i64) {
    let (user, item, rating, _) = row(n);
    let version = model.version().0 as i64;
    let prediction = model.predict_one(fnv1a(&user), item as u64);
    model.learn_one(fnv1a(&user), item as u64, rating).unwrap();
    (prediction, version)
}

#[test]
fn matrix_factorization_stopped_at_parallelism_2_resumes_at_1_with_every_users_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut csv = String::from("user,item,rating,ts\n");
    for n in 0..ROWS {
        let (user, item, rating, ts) = row(n);
        csv.push_str(&format!("{user},{item},{rating},{ts}\n"));
    }
    std::fs::write(root.join("ratings.csv"), csv).unwrap();

    let bin = Path::new(QUIVER);
    let certs = root.join("certs");
    certs_init(bin, &certs);
    let (coordinator, addr) = start_coordinator(bin, &certs, root);
    let _processes = [
        coordinator,
        start_node(bin, &certs, addr, root, "node1", 4),
        start_node(bin, &certs, addr, root, "node2", 4),
    ];
    wait_for_alive_nodes(bin, &certs, addr, 2, Duration::from_secs(20));
    let (certs, addr) = (certs.to_string_lossy().to_string(), addr.to_string());
    let cli = |args: &[&str]| -> String {
        let mut all = vec!["--certs", &certs, "--coordinator", &addr];
        all.extend_from_slice(args);
        let out = quiver(&all);
        assert!(
            out.status.success(),
            "quiver {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    let first = spec(root, 2);
    assert_eq!(cli(&["job", "submit", first.to_str().unwrap()]), "job-1");
    let start = Instant::now();
    while !cli(&["checkpoint", "list", "job-1"]).contains("job-1/chk-") {
        assert!(start.elapsed() < Duration::from_secs(30), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let savepoint = cli(&["job", "stop", "job-1"]);
    let before = read_committed_rows(&root.join("out"));
    let prefix = before.len();
    assert!(prefix > 0 && prefix < ROWS, "stopped mid-stream: {prefix}");

    let second = spec(root, 1);
    cli(&[
        "job",
        "submit",
        "--from-savepoint",
        &savepoint,
        "--wait",
        second.to_str().unwrap(),
    ]);
    let rows = read_committed_rows(&root.join("out"));
    assert_eq!(rows.len(), ROWS, "one output row per input row");

    // The library: one model per old partition over the prefix, then partition 0's model
    // with every user's state over the rest.
    let mut expected: Vec<(f64, i64)> = vec![(0.0, 0); ROWS];
    let mut models =
        [0, 1].map(|_| MatrixFactorization::new(MfParams::biased_mf_stream()).unwrap());
    for (n, slot) in expected.iter_mut().enumerate().take(prefix) {
        let p = partition_of_user(&row(n).0) as usize;
        *slot = step(&mut models[p], n);
    }
    // Partition 1's users were learnt before the savepoint and rated again after it: their
    // predictions after it need their state carried over.
    let moved: Vec<u64> = models[1].users().iter().map(|(u, _)| *u).collect();
    assert!((prefix..ROWS).any(|n| moved.contains(&fnv1a(&row(n).0))));
    let mut resumed = models[0].clone();
    for (user, state) in models[1].users() {
        resumed.insert_user(user, state).unwrap();
    }
    for (n, slot) in expected.iter_mut().enumerate().skip(prefix) {
        *slot = step(&mut resumed, n);
    }

    let start_ts = row(0).3;
    let mut seen = vec![false; ROWS];
    for r in &rows {
        let n = ((r["ts"].as_i64().unwrap() - start_ts) / 3) as usize;
        assert!(!seen[n], "row {n} twice");
        seen[n] = true;
        let found = (
            r["prediction"].as_f64().unwrap(),
            r["model_version"].as_i64().unwrap(),
        );
        assert_eq!(found, expected[n], "row {n} (savepoint after {prefix})");
    }
}

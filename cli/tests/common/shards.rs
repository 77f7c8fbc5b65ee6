//! What the kill -9 tests of parameter-server shards share (issue 15, done-when 2): finding
//! and killing the node of a learner's shard, the checkpoint the job then restores, the
//! parameters `quiver model export` reads from it, and the rows the recovered deployment
//! published.

use super::cluster::{restarts, Cluster};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a test may wait for any one thing on a loaded machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(240);

/// A row's non-negative integer `column`.
pub(crate) fn int(row: &Value, column: &str) -> u64 {
    row[column]
        .as_u64()
        .unwrap_or_else(|| panic!("{column} of {row}"))
}

/// `quiver checkpoint list job-1` as (checkpoint id, generation), oldest first.
pub(crate) fn checkpoints(cluster: &Cluster) -> Vec<(u64, u64)> {
    cluster
        .ok(&["checkpoint", "list", "job-1"])
        .lines()
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let id = columns.first()?.strip_prefix("job-1/chk-")?.parse().ok()?;
            Some((id, columns.get(2)?.parse().ok()?))
        })
        .collect()
}

/// The generation `quiver job status` shows (`job-1 NAME — Running (generation 2)`).
pub(crate) fn generation(status: &str) -> u64 {
    status
        .split("(generation ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no generation in {status}"))
}

/// The node (`node-2`) running shard 1 of `STAGE/params`, from `quiver job status` lines
/// such as `reg/params [p1] on node-2 running: ...`; `None` until it is placed.
fn node_of_shard_1(cluster: &Cluster, stage: &str) -> Option<String> {
    let shards = format!("{stage}/params");
    cluster
        .ok(&["job", "status", "job-1"])
        .lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with(&shards) && line.contains("[p1] on "))
        .find_map(|line| {
            let node = line.split(" on ").nth(1)?.split_whitespace().next()?;
            Some(node.to_string())
        })
}

/// Waits until the rows committed to sink folder `out` satisfy `done` (the sink publishes
/// at checkpoints: once a row is committed, a checkpoint whose barrier followed it
/// completed); returns them. `what` says what is awaited, for the failure.
pub(crate) fn wait_for_committed(
    cluster: &Cluster,
    out: &Path,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let rows = quiver_chaos_tests::read_committed_rows(out);
        if done(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what} was not committed:\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Submits `spec` as job-1 to a fresh cluster of two nodes, with `files` as `in/a.csv` and
/// `in/b.csv` (the two source partitions); returns the cluster and its folder.
pub(crate) fn two_file_job(files: [&str; 2], spec: &str) -> (Cluster, PathBuf) {
    let cluster = Cluster::on_loopback(2);
    let dir = cluster.dir.path().to_path_buf();
    std::fs::create_dir(dir.join("in")).expect("mkdir");
    std::fs::write(dir.join("in/a.csv"), files[0]).expect("write input");
    std::fs::write(dir.join("in/b.csv"), files[1]).expect("write input");
    std::fs::write(dir.join("job.toml"), spec).expect("write spec");
    cluster.submit_spec(&dir.join("job.toml"));
    (cluster, dir)
}

/// Waits until a checkpoint whose barrier fell inside phase (b) of both files completed: the
/// committed output (`dir/out`) holds a row of each file (ids from 0 and from `second`) for
/// which `probe` holds. Asserts that no file was read past `limit` rows by then (else the
/// machine is too slow for the test's rate).
pub(crate) fn wait_for_both_files_probed(
    cluster: &Cluster,
    dir: &Path,
    second: usize,
    probe: impl Fn(usize) -> bool,
    limit: usize,
) {
    let rows = wait_for_committed(cluster, &dir.join("out"), "a probe of each file", |rows| {
        [0, second].iter().all(|&first| {
            rows.iter()
                .map(|r| int(r, "id") as usize)
                .any(|id| id / second == first / second && probe(id))
        })
    });
    let last = rows.iter().map(|r| int(r, "id") as usize % second).max();
    assert!(
        last.unwrap_or(0) < limit,
        "phase (b) was half read before a checkpoint inside it completed (row {last:?} \
         published): the machine is too slow for this test's rate"
    );
}

/// Training went on after the restored checkpoint `restored`, whose exported parameters
/// are `p`: a later version of `stage` is registered, with other parameters.
pub(crate) fn assert_trained_on(cluster: &Cluster, stage: &str, restored: u64, p: &[f64]) {
    let newest = newest_version(cluster, stage);
    assert!(newest > restored, "no version after {restored} registered");
    let (last, _) = export(cluster, stage, newest);
    assert_ne!(
        last, p,
        "the parameters of version {newest} are the restored ones"
    );
}

/// What killing a shard's node led to.
pub(crate) struct Killed {
    /// The killed node's name.
    pub(crate) node: String,
    /// The generation that ran before the kill.
    pub(crate) generation: u64,
    /// The checkpoint the job restored.
    pub(crate) restored: u64,
}

/// Kills (SIGKILL) the node of shard 1 of `stage`'s parameter servers in job-1, waits for
/// the job to move to a new generation and names the checkpoint it restored: the newest
/// complete one of the generation before (none of an older generation completes after
/// that). Export it at once: retention prunes it after three checkpoints of the new one.
pub(crate) fn kill_node_of_shard_1(cluster: &Cluster, stage: &str) -> Killed {
    let first_generation = checkpoints(cluster).last().expect("a checkpoint").1;
    let node = node_of_shard_1(cluster, stage).expect("shard 1 runs somewhere");
    let victim = cluster
        .nodes
        .iter()
        .position(|p| p.log().contains(&format!(" as {node};")))
        .unwrap_or_else(|| panic!("which process is {node}?\n{}", cluster.logs()));
    cluster.nodes[victim].signal("KILL");
    let start = Instant::now();
    while generation(&cluster.ok(&["job", "status", "job-1"])) <= first_generation {
        assert!(
            start.elapsed() < PATIENCE,
            "the job did not move to a new generation after the kill:\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let restored = checkpoints(cluster)
        .iter()
        .filter(|c| c.1 == first_generation)
        .map(|c| c.0)
        .max()
        .expect("the restored checkpoint is still listed");
    Killed {
        node,
        generation: first_generation,
        restored,
    }
}

/// Waits until job-1 finished after at least one recovery; returns its status.
pub(crate) fn wait_for_recovered_finish(cluster: &Cluster) -> String {
    let start = Instant::now();
    let status = loop {
        let status = cluster.ok(&["job", "status", "job-1"]);
        if status.contains("— Finished") {
            break status;
        }
        assert!(
            !status.contains("— Failed") && !status.contains("— Cancelled"),
            "the job did not recover:\n{status}\n{}",
            cluster.logs()
        );
        assert!(
            start.elapsed() < PATIENCE,
            "the job did not finish:\n{status}\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(restarts(&status) >= 1, "no recovery happened:\n{status}");
    status
}

/// Asserts that `rows` hold each id in `ids` exactly once and no other.
pub(crate) fn assert_each_id_once(rows: &[Value], ids: impl Iterator<Item = usize>) {
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for row in rows {
        *seen.entry(int(row, "id") as usize).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "rows published more than once: {twice:?}");
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        ids.collect::<Vec<_>>(),
        "rows missing from the output"
    );
}

/// `quiver model export job-1 STAGE VERSION --json`: (parameters, the whole answer).
pub(crate) fn export(cluster: &Cluster, stage: &str, version: u64) -> (Vec<f64>, Value) {
    let text = cluster.ok(&[
        "model",
        "export",
        "job-1",
        stage,
        &version.to_string(),
        "--json",
    ]);
    let json: Value = serde_json::from_str(&text).expect("export --json is JSON");
    assert_eq!(json["stage"], stage, "{json}");
    assert_eq!(json["version"], version, "{json}");
    let parameters = json["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|v| v.as_f64().expect("a parameter is a number"))
        .collect();
    (parameters, json)
}

/// The newest version of `stage` `quiver model list job-1` shows.
pub(crate) fn newest_version(cluster: &Cluster, stage: &str) -> u64 {
    let list: Value = serde_json::from_str(&cluster.ok(&["model", "list", "job-1", "--json"]))
        .expect("model list --json");
    list.as_array()
        .expect("an array")
        .iter()
        .filter(|v| v["stage"] == stage)
        .map(|v| int(v, "version"))
        .max()
        .expect("registered versions")
}

/// The rows of the committed part files of sink folder `dir` that a generation after
/// `generation` published (`part-P-RUN-gG-cC.jsonl`).
pub(crate) fn committed_after(dir: &Path, generation: u64) -> Vec<Value> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the sink's folder").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(g) = name
            .strip_prefix("part-")
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .and_then(|rest| {
                rest.split('-')
                    .find_map(|part| part.strip_prefix('g')?.parse::<u64>().ok())
            })
        else {
            continue;
        };
        if g <= generation {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("read a part file");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            rows.push(serde_json::from_str(line).expect("a part file line is JSON"));
        }
    }
    rows
}

/// Runs `spec` (written as `dir/job.toml`) in `quiver local` to its end; the rows its sink
/// committed into `dir/out`, by their `id`.
pub(crate) fn run_local_rows_by_id(dir: &Path, spec: &str) -> BTreeMap<i64, Value> {
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).expect("write spec");
    super::run_local(&path);
    quiver_chaos_tests::read_committed_rows(&dir.join("out"))
        .into_iter()
        .map(|r| (r["id"].as_i64().expect("id"), r))
        .collect()
}

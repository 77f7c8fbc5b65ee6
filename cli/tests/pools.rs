//! Resource isolation (issue 15): a job whose operators are in two pools, on nodes that
//! reserve their slots for one pool each. The job waits, naming the pool it lacks, until a
//! node offers that pool's slots; then each pool's tasks run only on the node reserving its
//! slots (training ones on threads at the lowest OS priority), and the output is exactly
//! the naive reference's.

mod common;

use common::{
    assert_exactly_once, csv_source, events, per_user_stage, quiver, write_csv, QUIVER,
    RUNNING_STAGE,
};
use quiver_chaos_tests::{certs_init, node_args, start_coordinator, wait_for_alive_nodes, Process};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const EVENTS: usize = 3000;

/// The spend-per-user job at parallelism 4: the source and the running aggregate (and its
/// sink) in the `serving` pool, the windowed aggregate (and its sink) in `training`.
fn write_pools_job(dir: &Path) -> PathBuf {
    write_csv(dir, &events(EVENTS));
    let spec = format!(
        "[job]\nname = \"pools\"\nparallelism = 4\ncheckpoint_interval = \"200ms\"\n{}{}{RUNNING_STAGE}",
        csv_source("pool = \"serving\""),
        per_user_stage("pool = \"training\""),
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// Starts `quiver node` named `name` offering `slots` (a `--slots` value).
fn start_node(dir: &Path, addr: std::net::SocketAddr, name: &str, slots: &str) -> Process {
    let mut args = node_args(&dir.join("certs"), addr, dir, name, 1);
    // node_args ends with `--slots 1`: offer these slots instead.
    *args.last_mut().unwrap() = slots.to_string();
    Process::start(name, Path::new(QUIVER), &args, dir)
}

/// The name and nice value of each thread of process `pid` (Linux `/proc`).
fn threads_of(pid: u32) -> Vec<(String, i32)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the node runs");
    tasks.filter_map(|t| thread(&t.ok()?.path())).collect()
}

/// The name and nice value of the thread (or the main thread of the process) whose `/proc`
/// folder is `dir`.
fn thread(dir: &Path) -> Option<(String, i32)> {
    let name = std::fs::read_to_string(dir.join("comm")).ok()?;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // Fields after the parenthesised name start at field 3 (state); nice is field 19.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let nice = after_name.split_whitespace().nth(16)?.parse().ok()?;
    Some((name.trim().to_string(), nice))
}

/// The nice values of the threads of `pid` named `name`.
fn nice_of(pid: u32, name: &str) -> Vec<i32> {
    threads_of(pid)
        .into_iter()
        .filter(|(n, _)| n == name)
        .map(|(_, nice)| nice)
        .collect()
}

#[test]
fn a_job_in_two_pools_runs_each_pool_on_its_reserved_slots_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let spec = write_pools_job(root);
    let quiver_bin = Path::new(QUIVER);
    let certs = root.join("certs");
    certs_init(quiver_bin, &certs);
    let (coordinator, addr) = start_coordinator(quiver_bin, &certs, root);
    let serving = start_node(root, addr, "node1", "serving=4");
    wait_for_alive_nodes(quiver_bin, &certs, addr, 1, Duration::from_secs(20));
    let certs_arg = certs.to_string_lossy().to_string();
    let addr_arg = addr.to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["--certs", &certs_arg, "--coordinator", &addr_arg];
        all.extend_from_slice(args);
        let out = quiver(&all);
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    let submitted = cli(&["job", "submit", spec.to_str().unwrap()]);
    assert_eq!(submitted.trim(), "job-1", "{submitted}");
    // Only serving slots so far: the job waits and says which pool lacks what.
    let status_until = |wanted: &str, within: Duration| {
        let started = Instant::now();
        loop {
            let status = cli(&["job", "status", "job-1"]);
            if status.contains(wanted) || started.elapsed() > within {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let waiting = status_until("waiting for slots", Duration::from_secs(20));
    assert!(
        waiting.contains("pool `training` needs 4 slots")
            && waiting.contains("has 0 reserved for it and 0 shared free")
            && waiting.contains("`--slots training=4`"),
        "{waiting}"
    );
    let training = start_node(root, addr, "node2", "training=4");
    let finished = status_until("Finished", Duration::from_secs(90));
    assert!(
        finished.contains("Finished"),
        "{finished}\n{}\n{}\n{}",
        coordinator.log(),
        serving.log(),
        training.log()
    );
    assert_exactly_once(root, EVENTS);

    // Each node ran only its pool's tasks, on that pool's threads.
    let main_nice = |pid: u32| thread(Path::new(&format!("/proc/{pid}"))).expect("runs").1;
    let serving_threads = nice_of(serving.pid(), "quiver-serving");
    assert!(
        !serving_threads.is_empty(),
        "{:?}",
        threads_of(serving.pid())
    );
    assert!(serving_threads
        .iter()
        .all(|n| *n == main_nice(serving.pid())));
    assert!(nice_of(serving.pid(), "quiver-training").is_empty());
    let training_threads = nice_of(training.pid(), "quiver-training");
    assert!(
        !training_threads.is_empty(),
        "{:?}",
        threads_of(training.pid())
    );
    assert!(
        training_threads.iter().all(|n| *n == 19),
        "training threads at nice 19: {training_threads:?}"
    );
    assert!(nice_of(training.pid(), "quiver-serving").is_empty());
}

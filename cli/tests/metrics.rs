//! `/metrics` and the JSON API of a real cluster (a coordinator with `--http` and two nodes
//! with `--http`) while a job runs: the counters move, the nodes export at least what the
//! coordinator last heard from them, checkpoints show up, and at the end the JSON API's
//! report counts every generated record once at the source, once in the running count and
//! once in its sink (a running count writes one row per record). `quiver local --http`
//! serves the same while its job runs, and a source skipping known bad rows counts exactly
//! those on `/metrics`, as it counts the nulls, NaN and out-of-range values of the columns
//! that source and a stage after it watch (`checks`).

use quiver_chaos_tests::{
    certs_init, free_udp_port, http_get, node_args, run_with_timeout, start_coordinator,
    start_coordinator_with, Process,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const COUNT: u64 = 40_000;

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

fn free_tcp_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A generator at 10,000 records/s into a running count per user (one output row per
/// record) into files, with checkpoints every 200 ms.
fn write_job(dir: &Path) -> PathBuf {
    let spec = format!(
        r#"[job]
name = "metrics"
parallelism = 2
checkpoint_interval = "200ms"

[[source]]
name = "events"
kind = "generator"
count = {COUNT}
rate = 10000
keys = 100

[[stage]]
name = "counts"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "file"
input = "counts"
path = "out/"
"#
    );
    let file = dir.join("job.toml");
    std::fs::write(&file, spec).expect("write spec");
    file
}

/// The samples of `family` (`name{labels} value` lines), keyed by their labels.
fn samples(text: &str, family: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(family)?.strip_prefix('{')?;
            let (labels, value) = rest.rsplit_once("} ")?;
            Some((labels.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of `family` over the series whose labels contain `label`.
fn sum(text: &str, family: &str, label: &str) -> f64 {
    samples(text, family)
        .iter()
        .filter(|(l, _)| l.contains(label))
        .map(|(_, v)| v)
        .sum()
}

/// Checks histogram `family` in a scrape over the series whose labels contain `label`: each
/// has observations with a positive sum, cumulative buckets that never decrease and end in
/// `+Inf` at its count. Returns the count over those series.
fn check_histogram(text: &str, family: &str, label: &str) -> u64 {
    let counts = samples(text, &format!("{family}_count"));
    let sums = samples(text, &format!("{family}_sum"));
    let series: Vec<&String> = counts.keys().filter(|l| l.contains(label)).collect();
    assert!(!series.is_empty(), "no {family} for {label}:\n{text}");
    let mut total = 0;
    for labels in series {
        let count = counts[labels];
        assert!(
            count > 0.0 && sums[labels] > 0.0,
            "{family}{{{labels}}} empty:\n{text}"
        );
        let buckets: Vec<f64> = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&format!("{family}_bucket{{le=\""))?;
                let (_, rest) = rest.split_once("\",")?;
                let (series, value) = rest.rsplit_once("} ")?;
                (series == labels.as_str()).then(|| value.parse().ok())?
            })
            .collect();
        assert!(buckets.len() > 30, "{family}{{{labels}}} buckets:\n{text}");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{family}{{{labels}}} buckets not cumulative:\n{text}"
        );
        assert_eq!(
            buckets.last(),
            Some(&count),
            "{family}{{{labels}}}:\n{text}"
        );
        total += count as u64;
    }
    total
}

fn scrape(addr: SocketAddr) -> String {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// `quiver local --http ADDR SPEC` in `dir`, once it prints where its dashboard is; returns
/// the process and the HTTP address.
fn start_local_with_http(dir: &Path, spec: &Path) -> (Process, SocketAddr) {
    let http = free_tcp_addr();
    let args = [
        "local",
        "--http",
        &http.to_string(),
        &spec.to_string_lossy(),
    ];
    let mut local = Process::start("local", &quiver(), &args, dir);
    local.wait_for_log(
        &format!("dashboard: http://{http}/"),
        Duration::from_secs(30),
    );
    (local, http)
}

#[test]
fn metrics_and_the_json_api_follow_a_running_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let certs = root.join("certs");
    certs_init(&quiver(), &certs);
    let http = free_tcp_addr();
    let http_arg = http.to_string();
    let (mut coordinator, addr) =
        start_coordinator_with(&quiver(), &certs, root, &["--http", &http_arg]);
    coordinator.wait_for_log(
        &format!("metrics on http://{http}/metrics"),
        Duration::from_secs(20),
    );
    let node_http: Vec<SocketAddr> = (0..2).map(|_| free_tcp_addr()).collect();
    let mut nodes: Vec<Process> = node_http
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = format!("node{i}");
            let mut args = node_args(&certs, addr, root, &name, 2);
            args.extend(["--http".to_string(), h.to_string()]);
            Process::start(&name, &quiver(), &args, root)
        })
        .collect();
    for node in &mut nodes {
        node.wait_for_log("joined the coordinator", Duration::from_secs(20));
    }
    let before = scrape(http);
    assert_eq!(
        samples(&before, "quiver_nodes")["state=\"alive\""],
        2.0,
        "{before}"
    );
    for h in &node_http {
        assert!(scrape(*h).contains("quiver_node_joined 1"), "{h}");
    }

    // Submit without waiting, and watch it run.
    let spec = write_job(root);
    let (certs_arg, addr_arg) = (certs.to_string_lossy().to_string(), addr.to_string());
    let admin = |args: &[&str]| {
        let mut all = vec!["--certs", &certs_arg, "--coordinator", &addr_arg];
        all.extend_from_slice(args);
        run_with_timeout(&quiver(), &all, Duration::from_secs(120))
    };
    let submitted = admin(&["job", "submit", &spec.to_string_lossy()]);
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .to_string();
    let source = "operator=\"events";
    let counts = "operator=\"counts";

    // Mid-run: records flow, nodes export what they report, a checkpoint completed.
    let started = Instant::now();
    let (mut first, mut checkpointed) = (None, false);
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress:\n{}",
            scrape(http)
        );
        let text = scrape(http);
        let read = sum(&text, "quiver_task_records_in_total", source);
        if read > 0.0 && read < COUNT as f64 {
            let nodes_read: f64 = node_http
                .iter()
                .map(|h| sum(&scrape(*h), "quiver_task_records_in_total", source))
                .sum();
            // A node's figures are newer than what its last heartbeat told the coordinator.
            assert!(
                nodes_read >= read,
                "nodes {nodes_read} < coordinator {read}"
            );
            match first {
                None => first = Some(read),
                Some(f) if read > f => {
                    checkpointed |= !samples(&text, "quiver_job_last_checkpoint_id").is_empty();
                    if checkpointed {
                        break;
                    }
                }
                Some(_) => {}
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = scrape(http);
    let (read, written) = (
        sum(&text, "quiver_task_records_in_total", counts),
        sum(&text, "quiver_task_sink_records_total", counts),
    );
    assert!(
        written <= read && read > 0.0,
        "counts read {read}, wrote {written}"
    );
    for family in [
        "quiver_task_sink_records_total",
        "quiver_task_checkpoint_bytes",
        "quiver_task_checkpoint_encode_seconds",
        "quiver_job_last_checkpoint_duration_seconds",
        "quiver_job_last_checkpoint_store_seconds",
        "quiver_job_restarts_total",
    ] {
        assert!(
            !samples(&text, family).is_empty(),
            "{family} missing:\n{text}"
        );
    }
    // A checkpoint's upload waits for the coordinator to store the state: never 0 µs.
    let uploads = samples(&text, "quiver_task_checkpoint_upload_seconds");
    assert!(uploads.values().any(|&s| s > 0.0), "{text}");
    if !samples(&text, "quiver_task_source_watermark_seconds").is_empty() {
        let lag = samples(&text, "quiver_task_source_watermark_lag_seconds");
        assert!(
            !lag.is_empty() && lag.keys().all(|l| l.contains(source)),
            "{text}"
        );
    }
    assert!(
        samples(&text, "quiver_task_records_in_total")
            .keys()
            .all(|l| l.contains(&format!("job=\"{job}\"")) && l.contains("node=\"node-")),
        "{text}"
    );

    // Latency: the running count's sink saw stamped batches, every task timed its batches
    // and counted its waits for credit, on the coordinator and on the nodes.
    for text in std::iter::once(text.clone()).chain(node_http.iter().map(|h| scrape(*h))) {
        check_histogram(&text, "quiver_task_sink_latency_seconds", counts);
        check_histogram(&text, "quiver_task_batch_seconds", counts);
        check_histogram(&text, "quiver_task_batch_seconds", source);
        let waits = samples(&text, "quiver_task_backpressure_seconds_total");
        assert!(
            waits.keys().any(|l| l.contains(source)) && waits.keys().any(|l| l.contains(counts)),
            "{text}"
        );
        let aligned = samples(&text, "quiver_task_source_aligned_seconds_total");
        assert!(
            !aligned.is_empty() && aligned.keys().all(|l| l.contains(source)),
            "{text}"
        );
    }

    // The JSON API: the cluster, the job list, the job's report and checkpoints.
    let (status, cluster) = http_get(http, "/api/cluster");
    assert_eq!(status, 200);
    let cluster: serde_json::Value = serde_json::from_str(&cluster).expect("cluster JSON");
    assert_eq!(
        cluster["nodes"].as_array().map(Vec::len),
        Some(2),
        "{cluster}"
    );
    let (status, list) = http_get(http, "/api/jobs");
    assert_eq!(status, 200);
    assert!(list.contains("\"metrics\""), "{list}");
    let (status, body) = http_get(http, "/api/jobs/job-999");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no job job-999"), "{body}");
    let (status, body) = http_get(http, "/api/jobs/bogus");
    assert_eq!(status, 404, "{body}");

    // The end: every generated record read once, counted once, written once.
    let finished = Instant::now();
    let report = loop {
        let (status, body) = http_get(http, &format!("/api/jobs/{job}"));
        assert_eq!(status, 200, "{body}");
        let report: serde_json::Value = serde_json::from_str(&body).expect("job JSON");
        if report["summary"]["state"] == "Finished" {
            break report;
        }
        assert!(finished.elapsed() < Duration::from_secs(120), "{report}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let tasks = report["tasks"].as_array().expect("tasks");
    let total = |operator: &str, field: &str| -> u64 {
        tasks
            .iter()
            .filter(|t| {
                t["operators"]
                    .as_str()
                    .is_some_and(|o| o.starts_with(operator))
            })
            .map(|t| t["metrics"][field].as_u64().expect("a count"))
            .sum()
    };
    assert_eq!(total("events", "records_in"), COUNT, "{report}");
    assert_eq!(total("counts", "records_in"), COUNT, "{report}");
    // A running count writes one row per record, into the sink chained behind it.
    assert_eq!(total("counts", "sink_records"), COUNT, "{report}");
    assert_eq!(report["sink_records"].as_u64(), Some(COUNT), "{report}");
    // Every batch the sink wrote was stamped at the source and observed once.
    let batches = total("counts", "sink_batches");
    assert!(
        batches >= COUNT.div_ceil(1024) && batches <= COUNT,
        "{batches} batches for {COUNT} records"
    );
    let observed: u64 = tasks
        .iter()
        .map(|t| {
            let counts = t["metrics"]["sink_latency"]["counts"]
                .as_array()
                .expect("counts");
            counts
                .iter()
                .map(|n| n.as_u64().expect("a count"))
                .sum::<u64>()
        })
        .sum();
    assert_eq!(observed, batches, "{report}");
    let latency = report["sink_latency"].as_array().expect("sink latency");
    assert_eq!(latency.len(), 1, "{report}");
    assert_eq!(latency[0]["batches"].as_u64(), Some(batches), "{report}");
    let (p50, p99, max) = (
        latency[0]["p50_ms"].as_f64().expect("p50"),
        latency[0]["p99_ms"].as_f64().expect("p99"),
        latency[0]["max_ms"].as_f64().expect("max"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{report}");
    let status = admin(&["job", "status", &job]);
    let status = String::from_utf8_lossy(&status.stdout);
    let line = format!(
        "source-to-sink latency into {}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms over",
        latency[0]["operators"].as_str().expect("operators")
    );
    assert!(status.contains(&line), "{line:?} missing from:\n{status}");
    let (status, checkpoints) = http_get(http, &format!("/api/jobs/{job}/checkpoints"));
    assert_eq!(status, 200);
    let checkpoints: serde_json::Value = serde_json::from_str(&checkpoints).expect("JSON");
    let kept = checkpoints.as_array().expect("a list");
    assert!(!kept.is_empty());
    // The history holds every completed checkpoint, also those retention dropped.
    let (status, history) = http_get(http, &format!("/api/jobs/{job}/checkpoints/history"));
    assert_eq!(status, 200, "{history}");
    let history: serde_json::Value = serde_json::from_str(&history).expect("JSON");
    let ids = |list: &[serde_json::Value]| -> Vec<u64> {
        list.iter()
            .map(|c| c["checkpoint"].as_u64().expect("an id"))
            .collect()
    };
    let history = ids(history.as_array().expect("a list"));
    assert!(history.windows(2).all(|w| w[0] < w[1]), "{history:?}");
    assert!(
        ids(kept).iter().all(|id| history.contains(id)),
        "{history:?} {kept:?}"
    );
    assert!(coordinator.is_running(), "{}", coordinator.log());
}

#[test]
fn a_taken_http_port_is_an_error_only_when_the_user_chose_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("address").to_string();
    let out = run_with_timeout(
        &quiver(),
        &[
            "coordinator",
            "--certs",
            &certs.to_string_lossy(),
            "--data-dir",
            &dir.path().join("c").to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{}", free_udp_port()),
            "--http",
            &busy,
        ],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot serve HTTP on {busy}")),
        "{stderr}"
    );
    assert!(stderr.contains("--http off"), "{stderr}");
    // Two coordinators on the default address: at most one serves HTTP, both run.
    let first = tempfile::tempdir().expect("tempdir");
    let (mut a, _) = start_coordinator(&quiver(), &certs, first.path());
    let (mut b, _) = start_coordinator(&quiver(), &certs, dir.path());
    assert!(a.is_running() && b.is_running(), "{}\n{}", a.log(), b.log());
}

#[test]
fn quiver_local_serves_the_dashboard_and_metrics_while_its_job_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_job(dir.path());
    let (local, http) = start_local_with_http(dir.path(), &spec);
    let started = Instant::now();
    loop {
        let (status, jobs) = http_get(http, "/api/jobs");
        assert_eq!(status, 200, "{jobs}");
        if jobs.contains("Running") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{jobs}\n{}",
            local.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, page) = http_get(http, "/");
    assert_eq!(status, 200);
    assert!(page.contains("<title>Quiver</title>"), "{page}");
    let text = scrape(http);
    assert!(
        samples(&text, "quiver_task_records_in_total").len() >= 2,
        "{text}"
    );
    // Latency histograms fill as the sink writes.
    let text = loop {
        let text = scrape(http);
        if !samples(&text, "quiver_task_sink_latency_seconds_count").is_empty() {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    check_histogram(
        &text,
        "quiver_task_sink_latency_seconds",
        "operator=\"counts",
    );
    check_histogram(&text, "quiver_task_batch_seconds", "operator=\"events");
}

#[test]
fn bad_records_and_column_quality_are_counted_exactly_on_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    // amount: a null (bob), two values below / above checks' 0..=1e6 (-5, 2e6), two 1e308
    // (above too); ts: a null (harry). The running sum per user then holds a null (bob's:
    // SQL's sum of no value), 2e6 and 1e308 above its max, and gina's 1e308 + 1e308 = +inf,
    // + 1 = +inf: two non-finite, counted out of range too.
    let good = [
        "alice,12.5,1000",
        "bob,,1200",
        "alice,-5,1900",
        "carol,2000000,2500",
        "gina,1e308,2600",
        "gina,1e308,2700",
        "gina,1,2800",
        "harry,3,",
    ];
    // A value not of its column's type, a NaN, and a number beyond f64's range: skipped.
    let bad = ["dave,notanumber,1500", "erin,NaN,1600", "frank,1e400,1700"];
    let mut lines = vec!["user,amount,ts"];
    lines.extend(good.iter().zip(bad.iter()).flat_map(|(g, b)| [*g, *b]));
    lines.extend(&good[bad.len()..]);
    std::fs::write(dir.path().join("events.csv"), lines.join("\n") + "\n").expect("csv");
    // The generator keeps the job running, so its counters stay on /metrics; its amounts
    // (documented in [0, 100)), named in checks, complete drift windows of 100 values.
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        r#"[job]
name = "quality"

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64" }
bad_records = "skip"
checks = { amount = { min = 0, max = 1e6 } }

[[stage]]
name = "spend_per_user"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { spend = "sum(amount)" }
checks = { spend = { max = 1e6 } }

[[source]]
name = "ticks"
kind = "generator"
count = 100000000
rate = 200
checks = { amount = {} }
drift_window = 100

[[sink]]
name = "checked"
kind = "discard"
input = "spend_per_user"

[[sink]]
name = "ticking"
kind = "discard"
input = "ticks"
"#,
    )
    .expect("spec");
    let (local, http) = start_local_with_http(dir.path(), &spec);
    let events = "operator=\"events";
    // The series of one watched column (`quiver local` labels its tasks with a node).
    let of = |text: &str, family: &str, (operator, column): (&str, &str)| {
        samples(text, family)
            .iter()
            .filter(|(l, _)| {
                l.contains(&format!("operator=\"{operator}\""))
                    && l.contains(&format!("column=\"{column}\""))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    let started = Instant::now();
    let text = loop {
        let text = scrape(http);
        let (skipped, read, spends) = (
            sum(&text, "quiver_task_bad_records_total", events),
            sum(&text, "quiver_task_records_in_total", events),
            of(
                &text,
                "quiver_column_values_total",
                ("spend_per_user", "spend"),
            ),
        );
        let drifted = of(&text, "quiver_column_window_max", ("ticks", "amount")) > 0.0;
        if skipped == bad.len() as f64 && read == good.len() as f64 && spends == 8.0 && drifted {
            break text;
        }
        assert!(
            skipped <= bad.len() as f64 && started.elapsed() < Duration::from_secs(30),
            "skipped {skipped}, read {read}, spends {spends}:\n{text}\n{}",
            local.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let counts = |operator: &str, name: &str| {
        [
            "quiver_column_values_total",
            "quiver_column_nulls_total",
            "quiver_column_nan_total",
            "quiver_column_out_of_range_total",
        ]
        .map(|family| of(&text, family, (operator, name)))
    };
    assert_eq!(counts("events", "user"), [8.0, 0.0, 0.0, 0.0], "{text}");
    assert_eq!(counts("events", "amount"), [8.0, 1.0, 0.0, 4.0], "{text}");
    assert_eq!(counts("events", "ts"), [8.0, 1.0, 0.0, 0.0], "{text}");
    assert_eq!(
        counts("spend_per_user", "spend"),
        [8.0, 1.0, 2.0, 4.0],
        "{text}"
    );
    let ticks = ("ticks", "amount");
    let (min, max, psi) = (
        of(&text, "quiver_column_window_min", ticks),
        of(&text, "quiver_column_window_max", ticks),
        of(&text, "quiver_column_drift_psi", ticks),
    );
    assert!(
        (0.0..100.0).contains(&min) && min < max && max < 100.0,
        "{text}"
    );
    assert!(psi.is_finite() && psi >= 0.0, "{text}");
    // `quiver job status --json`'s report carries the same figures per task.
    let (status, body) = http_get(http, "/api/jobs/1");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let spend = report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .flat_map(|t| {
            t["metrics"]["columns"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["operator"] == "spend_per_user" && c["column"] == "spend")
        .unwrap_or_else(|| panic!("no spend column in {body}"));
    let counts = ["values", "nulls", "non_finite", "out_of_range"].map(|f| spend[f].as_u64());
    assert_eq!(counts, [Some(8), Some(1), Some(2), Some(4)], "{body}");
}

//! Error paths of the `quiver` binary, run as a real process: wrong arguments print usage, bad
//! job specs name the field, the value and what is allowed, unreachable coordinators and
//! missing certificates say what to do, malformed input records fail the job with file, line
//! and reason (or are skipped and counted with `bad_records = "skip"`). Every case asserts the
//! message and a non-zero exit.

use quiver_chaos_tests::{
    certs_init, free_udp_port, read_committed_rows, run_with_timeout, start_coordinator,
    start_node, wait_for_alive_nodes,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

/// Runs `quiver args` (30 s at most).
fn run(args: &[&str]) -> Output {
    run_with_timeout(&quiver(), args, Duration::from_secs(30))
}

/// Runs `quiver args`, asserts it failed, and returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "quiver {args:?} should fail, it exited with {:?}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// Runs `quiver args`, asserts it succeeded, and returns its stdout and stderr.
fn succeeds(args: &[&str]) -> (String, String) {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "quiver {args:?} failed with {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn assert_contains(text: &str, needle: &str) {
    assert!(
        text.contains(needle),
        "expected {needle:?} in the output:\n{text}"
    );
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().to_string()
}

/// The design's spend-per-user spec over `events.csv` in `dir`, with `window_kind` and extra
/// source lines; written to `dir/NAME`.
fn write_spend_spec(dir: &Path, name: &str, window_kind: &str, source_extra: &str) -> PathBuf {
    let spec = format!(
        r#"[job]
name = "spend-per-user"
parallelism = 2

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = {{ user = "string", amount = "f64", ts = "i64" }}
event_time = "ts"
max_out_of_orderness = "2s"
{source_extra}

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "{window_kind}", size = "1s" }}
aggregates = {{ n = "count()", spend = "sum(amount)" }}

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"
"#
    );
    let file = dir.join(name);
    std::fs::write(&file, spec).expect("write spec");
    file
}

/// Good records (user, amount, ts) of the CSV files below.
const GOOD: [(&str, f64, i64); 6] = [
    ("alice", 12.5, 1_000),
    ("bob", 3.25, 1_200),
    ("alice", 7.0, 1_900),
    ("bob", 1.0, 2_100),
    ("carol", 20.0, 2_500),
    ("alice", 0.5, 3_000),
];

/// Writes `events.csv`: a header, then the good records with `bad` inserted as file line 4.
fn write_csv_with_bad_line(dir: &Path, bad: &str) {
    let mut lines = vec!["user,amount,ts".to_string()];
    for (user, amount, ts) in GOOD {
        lines.push(format!("{user},{amount},{ts}"));
    }
    lines.insert(3, bad.to_string());
    std::fs::write(dir.join("events.csv"), lines.join("\n") + "\n").expect("write csv");
}

#[test]
fn missing_subcommand_prints_usage() {
    let out = run(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "clap exits with 2:\n{stderr}");
    assert_contains(&stderr, "Usage: quiver [OPTIONS] <COMMAND>");
    for command in ["local", "coordinator", "node", "job", "cluster", "certs"] {
        assert_contains(&stderr, &format!("  {command} "));
    }
}

#[test]
fn unknown_flag_and_bad_values_print_usage() {
    let stderr = fails(&["job", "list", "--bogus"]);
    assert_contains(&stderr, "unexpected argument '--bogus' found");
    assert_contains(&stderr, "Usage: quiver job list");

    let stderr = fails(&["job", "list", "--coordinator", "not-an-address"]);
    assert_contains(&stderr, "invalid value 'not-an-address' for '--coordinator");
    assert_contains(&stderr, "is not HOST:PORT (no port)");
    let stderr = fails(&["node", "--data-dir", "d", "--listen", "[::1:7"]);
    assert_contains(&stderr, "not an IPv6 address in brackets");

    let stderr = fails(&["node", "--data-dir", "d", "--slots", "0"]);
    assert_contains(&stderr, "invalid value '0' for '--slots <SLOTS>'");
    assert_contains(&stderr, "1..=4096");

    let stderr = fails(&["--threads", "0", "local", "job.toml"]);
    assert_contains(&stderr, "invalid value '0' for '--threads <THREADS>'");
    assert_contains(&stderr, "1..=1024");

    let stderr = fails(&["job", "frobnicate"]);
    assert_contains(&stderr, "unrecognized subcommand 'frobnicate'");
    assert_contains(&stderr, "Usage: quiver job");
}

#[test]
fn submit_of_a_missing_spec_file_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let missing = path_str(&dir.path().join("nope.toml"));
    // The spec is read before any connection: no coordinator is needed for this error.
    let stderr = fails(&["job", "submit", "--certs", &path_str(&certs), &missing]);
    assert_contains(&stderr, &format!("cannot read job spec {missing}"));
    assert_contains(&stderr, "No such file or directory");

    let stderr = fails(&["local", &missing]);
    assert_contains(&stderr, &format!("cannot read job spec {missing}"));
}

#[test]
fn spec_errors_name_the_field_the_value_and_what_is_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let spec = write_spend_spec(dir.path(), "hopping.toml", "hopping", "");
    let expected = format!(
        "{}: stage \"per_user\": field \"window.kind\" has value \"hopping\"; allowed: \
         tumbling, sliding, session",
        spec.display()
    );
    let stderr = fails(&[
        "job",
        "submit",
        "--certs",
        &path_str(&certs),
        &path_str(&spec),
    ]);
    assert_contains(&stderr, &expected);
    let stderr = fails(&["local", &path_str(&spec)]);
    assert_contains(&stderr, &expected);

    let cases = [
        (
            "parallelism.toml",
            "[job]\nname = \"x\"\nparallelism = 0\n[[source]]\nname = \"g\"\nkind = \"generator\"\n\
             count = 10\n[[sink]]\nname = \"o\"\nkind = \"discard\"\ninput = \"g\"\n",
            "[job]: field \"parallelism\" has value 0; allowed: a whole number from 1 to \
             max_parallelism (128)",
        ),
        (
            "kind.toml",
            "[job]\nname = \"x\"\n[[source]]\nname = \"g\"\nkind = \"kafkax\"\n[[sink]]\n\
             name = \"o\"\nkind = \"discard\"\ninput = \"g\"\n",
            "source \"g\": unknown source kind \"kafkax\"; allowed: file, generator",
        ),
        (
            "input.toml",
            "[job]\nname = \"x\"\n[[source]]\nname = \"g\"\nkind = \"generator\"\ncount = 10\n\
             [[sink]]\nname = \"o\"\nkind = \"discard\"\ninput = \"nothere\"\n",
            "sink \"o\": field \"input\" has value \"nothere\"; allowed: the name of a source \
             or stage: g",
        ),
        (
            "syntax.toml",
            "[job\nname = \"x\"\n",
            "the job spec is not valid TOML: TOML parse error at line 1, column 5",
        ),
    ];
    for (name, text, message) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write spec");
        let stderr = fails(&["local", &path_str(&file)]);
        assert_contains(&stderr, &format!("{}: {message}", file.display()));
    }
}

#[test]
fn a_dead_coordinator_is_reported_without_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let started = Instant::now();
    let out = run_with_timeout(
        &quiver(),
        &[
            "job",
            "list",
            "--certs",
            &path_str(&certs),
            "--coordinator",
            &addr,
        ],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "job list succeeded:\n{stderr}");
    assert_contains(&stderr, &format!("cannot reach coordinator at {addr}"));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_heartbeat_timeout_shorter_than_two_intervals_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let stderr = fails(&[
        "coordinator",
        "--data-dir",
        &path_str(&data),
        "--heartbeat-interval",
        "1s",
        "--heartbeat-timeout",
        "1500ms",
    ]);
    assert_contains(&stderr, "--heartbeat-interval and --heartbeat-timeout");
    assert_contains(&stderr, "must be at least twice the interval (1s)");
}

#[test]
fn missing_certificates_say_to_run_certs_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nope = path_str(&dir.path().join("nope"));
    let stderr = fails(&["job", "list", "--certs", &nope]);
    assert_contains(
        &stderr,
        &format!("{nope}/ca.crt not found: run `quiver certs init --dir {nope}`"),
    );
    let stderr = fails(&[
        "coordinator",
        "--certs",
        &nope,
        "--data-dir",
        &path_str(&dir.path().join("data")),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_contains(&stderr, "cannot load the coordinator certificate");
    assert_contains(&stderr, "run `quiver certs init --dir");
}

#[test]
fn certs_init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let before: Vec<Vec<u8>> = ["ca.crt", "admin.key"]
        .iter()
        .map(|f| std::fs::read(certs.join(f)).expect("read cert file"))
        .collect();
    let stderr = fails(&["certs", "init", "--dir", &path_str(&certs)]);
    assert_contains(
        &stderr,
        &format!(
            "refusing to overwrite {}: it already exists",
            certs.join("ca.crt").display()
        ),
    );
    let after: Vec<Vec<u8>> = ["ca.crt", "admin.key"]
        .iter()
        .map(|f| std::fs::read(certs.join(f)).expect("read cert file"))
        .collect();
    assert_eq!(before, after, "the existing certificates were changed");
}

#[test]
fn a_malformed_csv_record_fails_the_job_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("events.csv");
    let spec = write_spend_spec(dir.path(), "job.toml", "tumbling", "");
    let cases = [
        (
            "dave,notanumber,1500",
            "column \"amount\": \"notanumber\" is not a f64",
        ),
        ("dave,1.5", "expected 3 fields (as in the header), found 2"),
    ];
    for (bad, reason) in cases {
        write_csv_with_bad_line(dir.path(), bad);
        let stderr = fails(&["local", &path_str(&spec)]);
        assert_contains(&stderr, &format!("{} line 4: {reason}", csv.display()));
        assert_contains(&stderr, "Failed");
    }
}

#[test]
fn a_malformed_jsonl_record_fails_the_job_with_file_line_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        "{\"user\":\"a\",\"amount\":1.0,\"ts\":5}\n{\"user\":\"b\",\"amount\":\n",
    )
    .expect("write jsonl");
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        "[job]\nname = \"j\"\n[[source]]\nname = \"g\"\nkind = \"file\"\npath = \"events.jsonl\"\n\
         format = \"jsonl\"\nschema = { user = \"string\", amount = \"f64\", ts = \"i64\" }\n\
         [[sink]]\nname = \"o\"\nkind = \"discard\"\ninput = \"g\"\n",
    )
    .expect("write spec");
    let stderr = fails(&["local", &path_str(&spec)]);
    assert_contains(
        &stderr,
        &format!("{} line 2: invalid JSON at column 21", file.display()),
    );
}

/// Per (user, window start): count and spend of the good records, computed naively.
fn expected_windows() -> BTreeMap<(String, i64), (u64, f64)> {
    let mut windows = BTreeMap::new();
    for (user, amount, ts) in GOOD {
        let entry = windows
            .entry((user.to_string(), ts - ts.rem_euclid(1000)))
            .or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 += amount;
    }
    windows
}

/// The committed rows of `out/`, as per (user, window start): count and spend.
fn committed_windows(out: &Path) -> BTreeMap<(String, i64), (u64, f64)> {
    let mut windows = BTreeMap::new();
    for row in read_committed_rows(out) {
        let start = row["window_start"].as_i64().expect("window_start");
        assert_eq!(row["window_end"].as_i64(), Some(start + 1000), "{row}");
        let key = (row["user"].as_str().expect("user").to_string(), start);
        let value = (
            row["n"].as_u64().expect("n"),
            row["spend"].as_f64().expect("spend"),
        );
        assert!(windows.insert(key, value).is_none(), "duplicate row {row}");
    }
    windows
}

/// Asserts that the source task's line of a job report counts the good records as read and
/// one skipped.
fn assert_one_skipped(report: &str) {
    let source_line = report
        .lines()
        .find(|l| l.trim_start().starts_with("events [p0]"))
        .unwrap_or_else(|| panic!("no source task in:\n{report}"));
    assert_contains(source_line, "skipped 1,");
    assert_contains(source_line, &format!("in {},", GOOD.len()));
}

#[test]
fn skipped_bad_records_let_the_job_finish_and_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spend_spec(dir.path(), "job.toml", "tumbling", "bad_records = \"skip\"");
    write_csv_with_bad_line(dir.path(), "dave,notanumber,1500");

    // Local mode: the job finishes, its report shows the skip, and its output holds exactly
    // the good records.
    let (_, stderr) = succeeds(&["local", &path_str(&spec)]);
    assert_contains(&stderr, "Finished");
    assert_contains(&stderr, &format!("{} records in", GOOD.len()));
    assert_one_skipped(&stderr);
    assert_eq!(
        committed_windows(&dir.path().join("out")),
        expected_windows()
    );

    // On a cluster, `quiver job status` shows the skipped record on the source task.
    std::fs::remove_dir_all(dir.path().join("out")).expect("clear the output");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let (_coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let _node = start_node(&quiver(), &certs, addr, dir.path(), "node-a", 2);
    wait_for_alive_nodes(&quiver(), &certs, addr, 1, Duration::from_secs(15));
    let (certs, addr) = (path_str(&certs), addr.to_string());
    let common = ["--certs", certs.as_str(), "--coordinator", addr.as_str()];
    let spec = path_str(&spec);
    let submit = [&["job", "submit", "--wait"][..], &common, &[spec.as_str()]].concat();
    let (stdout, _) = succeeds(&submit);
    let job = stdout.trim().to_string();
    assert!(job.starts_with("job-"), "submit printed {stdout:?}");
    let (status, _) = succeeds(&[&["job", "status", job.as_str()][..], &common].concat());
    assert_one_skipped(&status);
    assert_eq!(
        committed_windows(&dir.path().join("out")),
        expected_windows()
    );
}

#[test]
fn unknown_and_malformed_job_ids_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let (_coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let (certs, addr) = (path_str(&certs), addr.to_string());
    let common = ["--certs", certs.as_str(), "--coordinator", addr.as_str()];

    for command in ["status", "cancel"] {
        for id in ["job-77", "77"] {
            let stderr = fails(&[&["job", command, id][..], &common].concat());
            assert_contains(&stderr, "no job job-77: see `quiver job list`");
        }
        let stderr = fails(&[&["job", command, "notanid"][..], &common].concat());
        assert_contains(
            &stderr,
            "\"notanid\" is not a job id; expected e.g. job-3 (see `quiver job list`)",
        );
    }
    let (stdout, _) = succeeds(&[&["job", "list"][..], &common].concat());
    assert_contains(&stdout, "no jobs yet");
}

#[test]
fn a_malformed_job_id_is_refused_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let started = Instant::now();
    let stderr = fails(&[
        "job",
        "status",
        "notanid",
        "--certs",
        &path_str(&certs),
        "--coordinator",
        &addr,
    ]);
    assert_contains(&stderr, "\"notanid\" is not a job id");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?} for a coordinator first",
        started.elapsed()
    );
}

#[test]
fn a_foreign_ca_refusal_points_at_the_certificates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (certs, other) = (dir.path().join("certs"), dir.path().join("other"));
    certs_init(&quiver(), &certs);
    certs_init(&quiver(), &other);
    let (_coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let stderr = fails(&[
        "job",
        "list",
        "--certs",
        &path_str(&other),
        "--coordinator",
        &addr.to_string(),
    ]);
    assert_contains(&stderr, "--certs");
    assert!(
        !stderr.contains("is `quiver coordinator` running there?"),
        "misleading hint:\n{stderr}"
    );
}

#[test]
fn startup_errors_are_said_once_and_plainly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let (_coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let stderr = fails(&[
        "coordinator",
        "--certs",
        &path_str(&certs),
        "--data-dir",
        &path_str(&dir.path().join("d2")),
        "--listen",
        &addr.to_string(),
    ]);
    assert_eq!(
        stderr.matches("Address already in use").count(),
        1,
        "{stderr}"
    );
    let data = dir.path().join("coordinator-data");
    let stderr = fails(&[
        "coordinator",
        "--certs",
        &path_str(&certs),
        "--data-dir",
        &path_str(&data),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_contains(&stderr, "in use by another coordinator");
    assert!(
        !stderr.contains("Os {"),
        "debug formatting in a user message:\n{stderr}"
    );
}

#[test]
fn a_process_on_one_worker_thread_runs_a_job_to_its_expected_windows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write_spend_spec(dir.path(), "job.toml", "tumbling", "");
    let mut lines = vec!["user,amount,ts".to_string()];
    for (user, amount, ts) in GOOD {
        lines.push(format!("{user},{amount},{ts}"));
    }
    std::fs::write(dir.path().join("events.csv"), lines.join("\n") + "\n").expect("write csv");

    let (_, stderr) = succeeds(&["--threads", "1", "local", &path_str(&spec)]);
    assert_contains(&stderr, &format!("{} records in", GOOD.len()));
    assert_eq!(
        committed_windows(&dir.path().join("out")),
        expected_windows()
    );
}

//! The dashboard in headless Chromium (Debian's `chromium`, driven over the DevTools protocol
//! by `tests/dashboard/cdp.py`): served by a coordinator with a node and a running job, it
//! loads without console errors, uncaught exceptions or failed loads, shows the node, the
//! job running with a live, non-zero rate, its operators and checkpoints, and the test saves
//! a screenshot.

use quiver_chaos_tests::{
    certs_init, http_get, run_with_timeout, start_coordinator_with, start_node,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dashboard")
}

const SPEC: &str = r#"[job]
name = "dashboard-demo"
parallelism = 2
checkpoint_interval = "500ms"

[[source]]
name = "events"
kind = "generator"
count = 100000000
rate = 2000
keys = 50

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", spend = "sum(amount)" }

[[sink]]
name = "out"
kind = "discard"
input = "per_user"
"#;

#[test]
fn the_dashboard_shows_the_running_job_with_live_rates_and_no_console_errors() {
    let ensure = Command::new(tools().join("ensure-chromium.sh"))
        .status()
        .expect("run tests/dashboard/ensure-chromium.sh");
    assert!(ensure.success(), "chromium could not be installed");

    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let certs = root.join("certs");
    certs_init(&quiver(), &certs);
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let http_arg = http.to_string();
    let (mut coordinator, addr) =
        start_coordinator_with(&quiver(), &certs, root, &["--http", &http_arg]);
    coordinator.wait_for_log("metrics on http://", Duration::from_secs(20));
    let _node = start_node(&quiver(), &certs, addr, root, "node", 2);
    let spec = root.join("job.toml");
    std::fs::write(&spec, SPEC).expect("write spec");
    let submitted = run_with_timeout(
        &quiver(),
        &[
            "--certs",
            &certs.to_string_lossy(),
            "--coordinator",
            &addr.to_string(),
            "job",
            "submit",
            &spec.to_string_lossy(),
        ],
        Duration::from_secs(60),
    );
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let job = String::from_utf8_lossy(&submitted.stdout)
        .trim()
        .to_string();
    let started = Instant::now();
    loop {
        let (_, body) = http_get(http, &format!("/api/jobs/{job}"));
        let report: serde_json::Value = serde_json::from_str(&body).expect("job JSON");
        if report["summary"]["state"] == "Running" && report["source_records"].as_u64() > Some(0) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{report}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let out = Command::new("python3")
        .arg(tools().join("cdp.py"))
        .arg(format!("http://{http}/"))
        .arg(&screenshot)
        .arg("4")
        .output()
        .expect("run tests/dashboard/cdp.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cdp.py JSON");
    assert_eq!(
        page["errors"],
        serde_json::json!([]),
        "the page reported errors"
    );
    let text = page["text"].as_str().expect("page text");
    for needle in [
        job.as_str(),
        "dashboard-demo",
        "Running",
        "node-1",
        "alive",
        "per_user → out",
        "in/s",
        "chk-",
    ] {
        assert!(text.contains(needle), "{needle:?} not on the page:\n{text}");
    }
    // The job's row carries a live rate: records per second from successive polls.
    let row = text
        .lines()
        .find(|l| l.contains(&job) && l.contains("Running"))
        .unwrap_or_else(|| panic!("no row for {job}:\n{text}"));
    let rate = row
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/s"))
        .unwrap_or_else(|| panic!("no rate in {row:?}"));
    let rate: f64 = rate.replace(',', "").parse().expect("a number");
    assert!(rate > 0.0, "the rate is not live: {row:?}");
    let png = std::fs::read(&screenshot).expect("the screenshot");
    // docs/dashboard.png, shown in the README, is a copy of this screenshot.
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    assert!(coordinator.is_running(), "{}", coordinator.log());
}

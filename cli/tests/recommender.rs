//! The flagship on the embedded default, as the README runs it: `quiver local
//! examples/recommender/job.toml` (here with the serving API on a free port and a
//! `--duration`) answers `GET /recommendations/1` within 30 s with a well-formed top-10 list,
//! serves the A/B table, `/health` and `/metrics`, and its page renders live data in headless
//! Chromium without console errors (a screenshot is saved; `docs/recommender.png` is one).

use quiver_chaos_tests::{http_get, Process};
use serde_json::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The example job with its serving API on `listen`.
fn example_on(listen: SocketAddr, dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("examples/recommender/job.toml"))
        .expect("read the example");
    let moved = text.replace(
        "kind = \"serve\"",
        &format!("kind = \"serve\"\nlisten = \"{listen}\""),
    );
    assert_ne!(moved, text, "the example has serve sinks");
    let spec = dir.join("job.toml");
    std::fs::write(&spec, moved).expect("write the spec");
    spec
}

/// `GET path` until it answers 200 or `deadline` passes.
fn get_ok(addr: SocketAddr, path: &str, deadline: Instant) -> Value {
    loop {
        let (status, body) = http_get(addr, path);
        if status == 200 {
            return serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
        }
        assert!(
            Instant::now() < deadline,
            "{path} still answers {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_embedded_recommender_answers_within_30_s_and_its_page_renders_live_data() {
    let ensure = Command::new(repo().join("cli/tests/dashboard/ensure-chromium.sh"))
        .status()
        .expect("run ensure-chromium.sh");
    assert!(ensure.success(), "chromium could not be installed");
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let spec = example_on(listen, dir.path());
    let started = Instant::now();
    let mut local = Process::start(
        "local",
        &quiver(),
        &["local", &spec.to_string_lossy(), "--duration", "120s"],
        dir.path(),
    );
    local.wait_for_log("serving API and page: http://", Duration::from_secs(30));
    let deadline = started + Duration::from_secs(30);
    let rec = get_ok(listen, "/recommendations/1", deadline);

    assert_eq!(rec["user"], 1, "{rec}");
    let items: Vec<i64> = rec["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            i.as_i64()
                .unwrap_or_else(|| panic!("an integer item id: {rec}"))
        })
        .collect();
    let scores: Vec<f64> = rec["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|s| s.as_f64().expect("a score"))
        .collect();
    assert_eq!(items.len(), scores.len());
    assert!(!items.is_empty() && items.len() <= 10, "{rec}");
    assert_eq!(
        items.iter().collect::<HashSet<_>>().len(),
        items.len(),
        "distinct items: {rec}"
    );
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {rec}");
    assert!(
        ["mf", "cooccurrence"].contains(&rec["variant"].as_str().unwrap_or("")),
        "{rec}"
    );
    assert!(rec["model_version"].as_i64() > Some(0), "{rec}");
    assert!(
        !items.contains(&rec["item"].as_i64().expect("the row's item")),
        "the item just taken is not recommended: {rec}"
    );

    let (status, health) = http_get(listen, "/health");
    assert_eq!((status, health.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, missing) = http_get(listen, "/recommendations/no-such-user");
    assert_eq!(status, 404, "{missing}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ab = get_ok(listen, "/ab", deadline);
        let variants: HashSet<&str> = ab
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["variant"].as_str())
            .collect();
        if variants.len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "both variants in {ab}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, metrics) = http_get(listen, "/metrics");
    assert!(
        metrics.contains("quiver_serving_rows{table=\"recommendations\"}"),
        "{metrics}"
    );

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("recommender.png");
    let out = Command::new("python3")
        .arg(repo().join("cli/tests/dashboard/cdp.py"))
        .arg(format!("http://{listen}/"))
        .arg(&screenshot)
        .arg("4")
        .output()
        .expect("run cdp.py");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: Value = serde_json::from_slice(&out.stdout).expect("cdp.py JSON");
    assert_eq!(
        page["errors"],
        serde_json::json!([]),
        "the page reported errors"
    );
    let text = page["text"].as_str().expect("page text");
    for needle in ["live", "variant", "recommendations", "ab", "hit rate", "%"] {
        assert!(text.contains(needle), "{needle:?} not on the page:\n{text}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("1\t") || l.starts_with("1 ")),
        "a first recommendation row on the page:\n{text}"
    );
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    assert!(local.is_running(), "{}", local.log());
}

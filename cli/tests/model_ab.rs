//! A/B between two versions (issue 15, done-when 3): a coordinator and two nodes run an
//! online logistic regression at parallelism 2 over an unbounded generator; `model ab --a V1
//! --b V2 --split 30` puts the two registered versions side by side. Over more than 100,000
//! records scored by them, `model status` shows V2 on 30% ± 2% of the traffic and V1 on the
//! rest, each with its own loss and accuracy (apart from the working copy's figures at
//! those version numbers before the A/B).

mod common;

use common::cluster::Cluster;
use serde_json::Value;
use std::time::{Duration, Instant};

const SPEC: &str = r#"
[job]
name = "ab"
parallelism = 2
checkpoint_interval = "300ms"

[[source]]
name = "events"
kind = "generator"
rate = 40000
keys = 2
parallelism = 2

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "events"
features = ["amount"]
label = "user"

[[sink]]
name = "out"
kind = "discard"
input = "clf"
"#;

#[test]
fn an_ab_split_sends_its_share_to_each_version_and_reports_both() {
    let cluster = Cluster::on_loopback(2);
    let spec = cluster.dir.path().join("job.toml");
    std::fs::write(&spec, SPEC).unwrap();
    cluster.submit_spec(&spec);
    let versions = cluster.wait_for_versions("job-1", 2);
    let versions = [versions[versions.len() - 2], versions[versions.len() - 1]];
    let [v1, v2] = versions.map(|v| v.to_string());
    cluster.ok(&["model", "alias", "job-1", "clf", "a", &v1]);
    cluster.ok(&["model", "alias", "job-1", "clf", "b", &v2]);
    let said = cluster.ok(&[
        "model", "ab", "job-1", "clf", "--a", &v1, "--b", &v2, "--split", "30",
    ]);
    assert!(said.contains("A/B"), "{said}");

    let start = Instant::now();
    loop {
        let text = cluster.ok(&["model", "status", "job-1", "--json"]);
        let status: Value = serde_json::from_str(&text).unwrap();
        let stage = &status["stages"][0];
        let of = |v: &str| {
            stage["versions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| {
                    x["version"].as_u64().map(|n| n.to_string()).as_deref() == Some(v)
                        && x["latest"] == false
                })
                .cloned()
        };
        if let (Some(a), Some(b)) = (of(&v1), of(&v2)) {
            let (sa, sb) = (a["scored"].as_u64().unwrap(), b["scored"].as_u64().unwrap());
            if sa + sb > 100_000 {
                let share = sb as f64 / (sa + sb) as f64;
                assert!((share - 0.30).abs() <= 0.02, "b's share {share}: {text}");
                assert!(
                    (b["share"].as_f64().unwrap() - 0.30).abs() <= 0.02,
                    "{text}"
                );
                for v in [&a, &b] {
                    assert!(v["loss"].as_f64().is_some_and(f64::is_finite), "{text}");
                    assert!(v["accuracy"].as_f64().is_some(), "{text}");
                }
                // Both partitions score with both versions.
                let partitions = stage["partitions"].as_array().unwrap();
                assert_eq!(partitions.len(), 2, "{text}");
                for p in partitions {
                    let mut vs: Vec<String> = p["versions"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_string())
                        .collect();
                    vs.sort();
                    let mut expected = vec![v1.clone(), v2.clone()];
                    expected.sort();
                    assert_eq!(vs, expected, "{text}");
                }
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "fewer than 100,000 records scored by the A/B versions: {text}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    cluster.ok(&["job", "cancel", "job-1"]);
}

//! The deployment files under `deploy/`: the Kubernetes manifests pass the API's schemas
//! (kubernetes-validate, strict), the systemd units pass `systemd-analyze verify`, and the
//! command lines both carry start a real coordinator and real nodes that join it when their
//! paths, addresses and pod fields are replaced by this machine's — so a renamed flag or a
//! wrong argument in a deployment file fails here, not on a user's cluster. The manifests'
//! liveness and readiness probes ask those processes' `/health` and `/ready`.

use quiver_chaos_tests::{
    certs_init, certs_node, free_udp_port, http_get, wait_for_alive_nodes, Process,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
}

/// The arguments after the program of a unit's `ExecStart=`.
fn exec_start(unit: &str) -> Vec<String> {
    let text = read(&deploy().join("systemd").join(unit));
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{unit} has no ExecStart"));
    let mut words = line.split_whitespace().map(str::to_string);
    assert_eq!(
        words.next().as_deref(),
        Some("/usr/local/bin/quiver"),
        "{line}"
    );
    words.collect()
}

/// The `args:` list of the first container of a manifest (`- value` lines, quotes removed).
fn container_args(manifest: &str) -> Vec<String> {
    let text = read(&deploy().join("kubernetes").join(manifest));
    let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
    let mut args = Vec::new();
    for line in lines.by_ref() {
        let Some(value) = line.trim().strip_prefix("- ") else {
            break;
        };
        args.push(value.trim_matches('"').to_string());
    }
    assert!(!args.is_empty(), "{manifest} has no container args");
    args
}

/// The `path` and `port` (by name) of each `httpGet` probe of a manifest's container, in
/// order (liveness, readiness), with the `containerPort` that name has.
fn probes(manifest: &str) -> Vec<(String, String, u16)> {
    let text = read(&deploy().join("kubernetes").join(manifest));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let value = |line: &str, key: &str| line.strip_prefix(key).map(|v| v.trim().to_string());
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(kind) = ["livenessProbe:", "readinessProbe:"]
            .into_iter()
            .find(|k| line == k)
        else {
            continue;
        };
        let path = lines[i..]
            .iter()
            .find_map(|l| value(l, "path:"))
            .expect("path");
        let port = lines[i..]
            .iter()
            .find_map(|l| value(l, "port:"))
            .expect("port");
        let named = format!("- name: {port}");
        let number = lines
            .windows(2)
            .find(|w| w[0] == named && w[1].starts_with("containerPort:"))
            .and_then(|w| value(w[1], "containerPort:"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{manifest}: no containerPort named {port}"));
        found.push((kind.trim_end_matches(':').to_string(), path, number));
    }
    found
}

/// A TCP port free on 127.0.0.1 now.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `GET path` at `addr` once it answers (a process starting), within 20 s.
fn get_when_up(addr: SocketAddr, path: &str) -> (u16, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing answers on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    http_get(addr, path)
}

/// `args` with each `from` replaced by its `to`.
fn localized(args: &[String], replace: &[(&str, String)]) -> Vec<String> {
    args.iter()
        .map(|arg| {
            replace
                .iter()
                .fold(arg.clone(), |arg, (from, to)| arg.replace(from, to))
        })
        .collect()
}

#[test]
fn kubernetes_manifests_pass_the_api_schemas() {
    let manifests = deploy().join("kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&manifests)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let tools = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-tools");
    let out = Command::new(deploy().join("validate-kubernetes.sh"))
        .args(&files)
        .env("QUIVER_PYTHON_TOOLS", &tools)
        .output()
        .expect("run deploy/validate-kubernetes.sh");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for resource in [
        "service/quiver-coordinator",
        "statefulset/quiver-coordinator",
        "service/quiver-node",
        "statefulset/quiver-node",
    ] {
        assert!(
            stdout.contains(&format!("passed for resource {resource}")),
            "{resource} not validated:\n{stdout}\n{stderr}"
        );
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    for unit in ["quiver-coordinator.service", "quiver-node.service"] {
        // `verify` checks that the program exists: point it at the binary under test.
        let text = read(&deploy().join("systemd").join(unit))
            .replace("/usr/local/bin/quiver", &quiver().to_string_lossy());
        let file = dir.path().join(unit);
        std::fs::write(&file, text).expect("write unit");
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&file)
            .output()
            .expect("systemd-analyze (Debian package systemd) runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // It warns about unknown keys and bad values on stderr and still exits 0.
        assert!(
            out.status.success() && stderr.trim().is_empty(),
            "{unit}:\n{stderr}"
        );
    }
}

#[test]
fn the_deployment_command_lines_start_a_coordinator_and_nodes_that_join_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let certs = root.join("certs");
    certs_init(&quiver(), &certs);
    let own = |name: &str| {
        let out = root.join(format!("{name}-certs"));
        certs_node(&quiver(), &certs, name, &out);
        out.to_string_lossy().to_string()
    };
    let port = free_udp_port();
    let data = |who: &str| root.join(who).to_string_lossy().to_string();
    // The manifest's coordinator runs the unit's command line, serving HTTP on the pod's
    // address for its probes.
    let mut unit_args = exec_start("quiver-coordinator.service");
    unit_args.extend(["--http".to_string(), "0.0.0.0:7680".to_string()]);
    assert_eq!(container_args("coordinator.yaml"), unit_args);
    let probe_ports = |manifest: &str| -> Vec<u16> {
        let probes = probes(manifest);
        let kinds: Vec<(&str, &str)> = probes
            .iter()
            .map(|(kind, path, _)| (kind.as_str(), path.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("livenessProbe", "/health"), ("readinessProbe", "/ready")],
            "{manifest}"
        );
        probes.iter().map(|p| p.2).collect()
    };
    assert_eq!(probe_ports("coordinator.yaml"), [7680, 7680]);
    assert_eq!(probe_ports("nodes.yaml"), [7681, 7681]);
    let coordinator_http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port())
        .parse()
        .expect("address");
    let coordinator_args = localized(
        &unit_args,
        &[
            ("/etc/quiver/certs", certs.to_string_lossy().to_string()),
            ("/var/lib/quiver", data("coordinator-var")),
            ("0.0.0.0:7600", format!("127.0.0.1:{port}")),
            ("0.0.0.0:7680", coordinator_http.to_string()),
        ],
    );
    let coordinator_name = format!("localhost:{port}");

    // The pod of the node StatefulSet, its fields as Kubernetes would expand them, started
    // before the coordinator: alive, not ready until it joins.
    let pod_port = free_udp_port();
    let pod_http: SocketAddr = format!("127.0.0.1:{}", free_tcp_port())
        .parse()
        .expect("address");
    let pod_args = localized(
        &container_args("nodes.yaml"),
        &[
            ("/etc/quiver/node-certs", own("quiver-node-0")),
            ("/var/lib/quiver", data("pod-node-var")),
            ("quiver-coordinator:7600", coordinator_name.clone()),
            ("0.0.0.0:7700", format!("127.0.0.1:{pod_port}")),
            ("$(POD_IP):7700", format!("127.0.0.1:{pod_port}")),
            ("0.0.0.0:7681", pod_http.to_string()),
        ],
    );
    let mut pod_node = Process::start("pod-node", &quiver(), &pod_args, root);
    assert_eq!(get_when_up(pod_http, "/health"), (200, "ok\n".into()));
    let (status, body) = http_get(pod_http, "/ready");
    assert_eq!(
        status, 503,
        "a node without a coordinator is not ready: {body}"
    );

    let mut coordinator = Process::start("coordinator", &quiver(), &coordinator_args, root);
    coordinator.wait_for_log("coordinator listening", Duration::from_secs(20));
    assert_eq!(
        get_when_up(coordinator_http, "/health"),
        (200, "ok\n".into())
    );
    assert_eq!(
        http_get(coordinator_http, "/ready"),
        (200, "ready\n".into())
    );

    // The systemd node, configured by its environment file's variables.
    let unit_port = free_udp_port();
    let unit_args = localized(
        &exec_start("quiver-node.service"),
        &[
            ("/etc/quiver/node-certs", own("unit-node")),
            ("/var/lib/quiver", data("unit-node-var")),
            ("0.0.0.0:7700", format!("127.0.0.1:{unit_port}")),
        ],
    );
    let advertise = format!("localhost:{unit_port}");
    let env = [
        ("QUIVER_COORDINATOR", coordinator_name.as_str()),
        ("QUIVER_ADVERTISE", advertise.as_str()),
    ];
    let mut unit_node = Process::start_with_env("unit-node", &quiver(), &unit_args, &env, root);

    for node in [&mut unit_node, &mut pod_node] {
        node.wait_for_log("joined the coordinator", Duration::from_secs(20));
    }
    let nodes = wait_for_alive_nodes(
        &quiver(),
        &certs,
        format!("127.0.0.1:{port}").parse().expect("address"),
        2,
        Duration::from_secs(20),
    );
    let exchanges: Vec<u16> = nodes.iter().map(|n| n.exchange.port()).collect();
    assert!(exchanges.contains(&unit_port), "{nodes:?}");
    assert!(exchanges.contains(&pod_port), "{nodes:?}");
    assert_eq!(http_get(pod_http, "/ready"), (200, "ready\n".into()));
    assert!(coordinator.is_running(), "{}", coordinator.log());
}

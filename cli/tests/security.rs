//! Security of a running cluster of real `quiver` processes: a client whose certificates come
//! from another cluster CA is refused and the coordinator keeps serving; random bytes and
//! oversized frames sent to the coordinator's port and to a node's exchange port (as raw UDP
//! datagrams and as hostile streams over an authenticated QUIC connection) leave both
//! processes running and answering, and a job still runs to the end across the nodes. Nodes
//! with certificates of their own (`quiver certs node`) join and run a job; one signed by
//! another CA is refused.

use quiver_chaos_tests::{
    certs_init, certs_node, cluster_nodes, read_committed_rows, run_with_timeout,
    start_coordinator, start_node, wait_for_alive_nodes, Process,
};
use quiver_protocol::codec::{self, MAX_FRAME_BYTES};
use quiver_protocol::messages::{
    AdminRequest, AdminResponse, ChannelId, ChannelOpen, ChannelReply, CoordinatorRequest,
};
use quiver_protocol::pki::{Role, TlsIdentity};
use quiver_protocol::transport::{client_endpoint, connect};
use quiver_protocol::{Generation, JobId, OperatorId, PartitionId};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn quiver() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quiver"))
}

/// Runs `quiver args --certs CERTS --coordinator ADDR` (30 s at most).
fn run_against(args: &[&str], certs: &Path, coordinator: SocketAddr) -> Output {
    let certs = certs.to_string_lossy().to_string();
    let coordinator = coordinator.to_string();
    let mut all = args.to_vec();
    all.extend(["--certs", &certs, "--coordinator", &coordinator]);
    run_with_timeout(&quiver(), &all, Duration::from_secs(30))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failure can be replayed.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn a_client_from_another_ca_is_refused_and_the_coordinator_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (certs, other) = (dir.path().join("certs"), dir.path().join("other"));
    certs_init(&quiver(), &certs);
    certs_init(&quiver(), &other);
    let (mut coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());

    for args in [&["job", "list"][..], &["cluster", "status"]] {
        let out = run_against(args, &other, addr);
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "{args:?} with another CA's certificates succeeded:\n{}",
            text(&out.stdout)
        );
        assert!(
            stderr.contains(&format!("coordinator at {addr}"))
                && stderr.contains("invalid peer certificate"),
            "the refusal does not name the coordinator and the certificate:\n{stderr}"
        );
    }

    let out = run_against(&["job", "list"], &certs, addr);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("no jobs yet"),
        "{}",
        text(&out.stdout)
    );
    assert!(coordinator.is_running(), "{}", coordinator.log());
}

/// A job over a bounded generator whose tumbling counts cross between two nodes.
fn write_job(dir: &Path, count: u64) -> PathBuf {
    let spec = format!(
        r#"[job]
name = "after-garbage"
parallelism = 2

[[source]]
name = "events"
kind = "generator"
count = {count}
keys = 50
seed = 7
max_out_of_orderness = "1s"

[[stage]]
name = "per_second"
kind = "aggregate"
input = "events"
key = ["user"]
window = {{ kind = "tumbling", size = "1s" }}
aggregates = {{ n = "count()" }}

[[sink]]
name = "out"
kind = "file"
input = "per_second"
path = "out/"
"#
    );
    let file = dir.join("job.toml");
    std::fs::write(&file, spec).expect("write spec");
    file
}

/// Sends garbage UDP datagrams to `addr`: random sizes and contents, some shaped like QUIC
/// long-header (Initial) and short-header packets.
fn udp_garbage(addr: SocketAddr, noise: &mut Noise) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    for i in 0..300 {
        let len = 1 + (noise.next() % 1500) as usize;
        let mut datagram = noise.bytes(len);
        match i % 3 {
            // Long header, QUIC version 1, as an Initial would start.
            0 if len >= 5 => datagram[..5].copy_from_slice(&[0xC0, 0, 0, 0, 1]),
            1 => datagram[0] = 0x40 | (datagram[0] & 0x3F),
            _ => {}
        }
        socket.send_to(&datagram, addr).expect("send datagram");
    }
}

/// Hostile stream contents: a huge length prefix, random bytes, an oversized frame, a
/// well-sized frame of garbage, and a frame whose inner string length claims 2^60 bytes.
fn hostile_streams(noise: &mut Noise) -> Vec<(&'static str, Vec<u8>)> {
    let with_prefix = |len: u32, payload: Vec<u8>| {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend(payload);
        bytes
    };
    let oversized = u32::try_from(MAX_FRAME_BYTES + 1).expect("limit fits u32");
    // Variant 0 (Admin / the first field), variant 0 (Submit), then a string length as a
    // bincode varint: 0xFD followed by a little-endian u64.
    let mut huge_string = vec![0u8, 0, 0xFD];
    huge_string.extend((1u64 << 60).to_le_bytes());
    vec![
        (
            "length prefix 0xFFFFFFFF",
            with_prefix(u32::MAX, noise.bytes(1024)),
        ),
        ("64 KiB of random bytes", noise.bytes(64 << 10)),
        (
            "oversized frame",
            with_prefix(oversized, noise.bytes(1 << 20)),
        ),
        ("garbage frame", with_prefix(64, noise.bytes(64))),
        ("string length 2^60", with_prefix(11, huge_string)),
    ]
}

/// Sends each hostile stream on its own bidirectional stream of `connection` and checks that
/// the peer ends it without answering a byte, within 15 s.
async fn send_hostile_streams(connection: &quinn::Connection, noise: &mut Noise, peer: &str) {
    for (what, bytes) in hostile_streams(noise) {
        let (mut send, mut recv) = connection.open_bi().await.expect("open stream");
        // The peer may stop reading early (that is the point): write errors are expected.
        let _ = send.write_all(&bytes).await;
        let _ = send.finish();
        let answer = tokio::time::timeout(Duration::from_secs(15), recv.read_to_end(1 << 20))
            .await
            .unwrap_or_else(|_| panic!("{peer} kept a stream of {what} open for 15 s"));
        assert!(
            !matches!(&answer, Ok(reply) if !reply.is_empty()),
            "{peer} answered a stream of {what}: {answer:?}"
        );
    }
}

/// Opens a stream, writes `request` (an encoded message) as one frame and returns the payload
/// of the one frame the peer answers before ending the stream.
async fn round_trip(connection: &quinn::Connection, request: &[u8]) -> Vec<u8> {
    let exchange = async {
        let (mut send, mut recv) = connection.open_bi().await.expect("open stream");
        let mut frame = Vec::new();
        let start = codec::start_frame(&mut frame);
        frame.extend_from_slice(request);
        codec::seal_frame(&mut frame, start).expect("a frame");
        send.write_all(&frame).await.expect("write frame");
        let _ = send.finish();
        recv.read_to_end(1 << 20).await.expect("read answer")
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("an answer within 10 s");
    assert!(reply.len() > 4, "no answer frame: {reply:?}");
    let (prefix, payload) = reply.split_at(4);
    assert_eq!(
        u32::from_be_bytes(prefix.try_into().expect("4 bytes")) as usize,
        payload.len(),
        "one frame"
    );
    payload.to_vec()
}

/// Hostile QUIC streams to the coordinator (as an admin) and to a node's exchange (as a
/// node); both must still answer proper requests on the same connections afterwards.
async fn quic_attack(certs: &Path, coordinator: SocketAddr, exchange: SocketAddr) {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let admin = TlsIdentity::load(certs, Role::Admin).expect("admin identity");
    let endpoint = client_endpoint(&admin).expect("admin endpoint");
    let connection = connect(&endpoint, coordinator).await.expect("connect");
    send_hostile_streams(&connection, &mut noise, "the coordinator").await;
    let list = codec::encode(&CoordinatorRequest::Admin(AdminRequest::List)).expect("encode");
    let answer = round_trip(&connection, &list).await;
    assert_eq!(
        codec::decode::<AdminResponse>(&answer).expect("an admin response"),
        AdminResponse::Jobs(Vec::new())
    );

    let node = TlsIdentity::load(certs, Role::Node).expect("node identity");
    let endpoint = client_endpoint(&node).expect("node endpoint");
    let connection = connect(&endpoint, exchange).await.expect("connect");
    send_hostile_streams(&connection, &mut noise, "the node's exchange").await;
    let open = ChannelOpen {
        job: JobId(999),
        generation: Generation::default(),
        channel: ChannelId {
            from: OperatorId(0),
            from_partition: PartitionId(0),
            to: OperatorId(1),
            to_partition: PartitionId(0),
        },
    };
    let answer = round_trip(&connection, &codec::encode(&open).expect("encode")).await;
    match codec::decode::<ChannelReply>(&answer).expect("a channel reply") {
        ChannelReply::Refused(why) => assert!(why.contains("job-999"), "{why}"),
        other => panic!("a channel of an unknown job was accepted: {other:?}"),
    }
}

/// Sum of the "QUIC sent N B" figures of `quiver job status`.
fn quic_bytes_sent(status: &str) -> u64 {
    status
        .split("QUIC sent ")
        .skip(1)
        .map(|rest| {
            let figure = rest.split(" B").next().unwrap_or_default().replace(',', "");
            figure
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("cannot read bytes sent from {rest:?}: {e}\n{status}"))
        })
        .sum()
}

#[test]
fn random_bytes_and_oversized_frames_leave_coordinator_and_nodes_answering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    certs_init(&quiver(), &certs);
    let (mut coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let mut nodes: Vec<Process> = ["node-a", "node-b"]
        .iter()
        .map(|name| start_node(&quiver(), &certs, addr, dir.path(), name, 1))
        .collect();
    let before = wait_for_alive_nodes(&quiver(), &certs, addr, 2, Duration::from_secs(15));
    let exchanges: Vec<SocketAddr> = before.iter().map(|n| n.exchange).collect();

    let mut noise = Noise(42);
    udp_garbage(addr, &mut noise);
    for exchange in &exchanges {
        udp_garbage(*exchange, &mut noise);
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(quic_attack(&certs, addr, exchanges[0]));

    assert!(coordinator.is_running(), "{}", coordinator.log());
    for node in &mut nodes {
        assert!(node.is_running(), "{}", node.log());
    }
    // Each hostile stream was closed with an error naming what was wrong.
    let node_logs: String = nodes.iter().map(Process::log).collect();
    for log in [coordinator.log(), node_logs] {
        for needle in [
            "frame of 4294967295 bytes exceeds the limit",
            &format!("frame of {} bytes exceeds the limit", MAX_FRAME_BYTES + 1),
            "malformed frame",
        ] {
            assert!(log.contains(needle), "{needle:?} not logged:\n{log}");
        }
    }
    let after = cluster_nodes(&quiver(), &certs, addr);
    assert_eq!(after.len(), 2, "{after:?}");
    for (was, is) in before.iter().zip(&after) {
        assert_eq!((&is.node, is.exchange), (&was.node, was.exchange));
        assert!(is.alive, "{} is no longer alive after the garbage", is.node);
    }

    // A job across both nodes still runs to the end, its records crossing QUIC.
    let status = run_checked_job(dir.path(), &certs, addr);
    assert!(
        quic_bytes_sent(&status) > 0,
        "no bytes crossed between nodes:\n{status}"
    );
}

/// Runs the job of [`write_job`] to its end and checks that it counted every generated
/// record once; returns its `quiver job status`.
fn run_checked_job(dir: &Path, certs: &Path, addr: SocketAddr) -> String {
    let count = 5_000;
    let spec = write_job(dir, count);
    let out = run_against(
        &["job", "submit", "--wait", &spec.to_string_lossy()],
        certs,
        addr,
    );
    assert!(
        out.status.success(),
        "the job did not finish:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let job = text(&out.stdout).trim().to_string();
    let status = run_against(&["job", "status", &job], certs, addr);
    let status = text(&status.stdout);
    assert!(status.contains("Finished"), "{status}");
    let rows = read_committed_rows(&dir.join("out"));
    let total: u64 = rows
        .iter()
        .map(|r| r["n"].as_u64().expect("n is a count"))
        .sum();
    assert_eq!(total, count, "every generated record is counted once");
    status
}

#[test]
fn nodes_with_certificates_of_their_own_run_a_job_and_another_cas_node_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (certs, other) = (dir.path().join("certs"), dir.path().join("other"));
    certs_init(&quiver(), &certs);
    certs_init(&quiver(), &other);
    let (mut coordinator, addr) = start_coordinator(&quiver(), &certs, dir.path());
    let mut nodes = Vec::new();
    for (name, ca) in [("node-a", &certs), ("node-b", &certs), ("foreign", &other)] {
        let own = dir.path().join(format!("{name}-certs"));
        certs_node(&quiver(), ca, name, &own);
        nodes.push(start_node(&quiver(), &own, addr, dir.path(), name, 1));
    }
    wait_for_alive_nodes(&quiver(), &certs, addr, 2, Duration::from_secs(15));

    let status = run_checked_job(dir.path(), &certs, addr);
    assert!(quic_bytes_sent(&status) > 0, "{status}");
    // The node of another CA never joined, all the while the job ran.
    let listed = cluster_nodes(&quiver(), &certs, addr);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(coordinator.is_running(), "{}", coordinator.log());
    assert!(
        coordinator.log().contains("invalid peer certificate")
            || nodes[2].log().contains("invalid peer certificate"),
        "the foreign node's refusal is not logged:\n{}\n{}",
        coordinator.log(),
        nodes[2].log()
    );
}

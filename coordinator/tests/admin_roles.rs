//! The coordinator's admin API decides by the certificate's role: only admin certificates may
//! submit or cancel jobs, only node certificates may join, and a client whose certificate comes
//! from another cluster CA is refused during the handshake, before any request is read.
//!
//! The coordinator runs in-process on 127.0.0.1; clients talk real mutual-TLS QUIC to it.

use quiver_coordinator::Coordinator;
use quiver_protocol::codec;
use quiver_protocol::messages::{
    AdminRequest, AdminResponse, CoordinatorRequest, JobState, NodeHello,
};
use quiver_protocol::pki::{self, CertBundle, Role, TlsIdentity, SERVER_NAME};
use quiver_protocol::transport::{client_endpoint, connect};
use quiver_protocol::{CheckpointId, JobId};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A valid job: a bounded generator into a discard sink.
const SPEC: &str = r#"
[job]
name = "roles"

[[source]]
name = "events"
kind = "generator"
count = 100
keys = 4

[[sink]]
name = "out"
kind = "discard"
input = "events"
"#;

/// Starts a coordinator of the cluster `bundle` on a free loopback port.
fn start(bundle: &CertBundle, data: &Path) -> (Arc<Coordinator>, SocketAddr) {
    let identity = TlsIdentity::from_bundle(bundle, Role::Coordinator).expect("identity");
    let coordinator = Coordinator::start(data, SocketAddr::from(([127, 0, 0, 1], 0)), &identity)
        .expect("start coordinator");
    let addr = coordinator.local_addr().expect("coordinator address");
    (coordinator, addr)
}

/// A connection presenting one identity.
struct Client {
    connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl Client {
    async fn connect(bundle: &CertBundle, role: Role, addr: SocketAddr) -> Client {
        let identity = TlsIdentity::from_bundle(bundle, role).expect("identity");
        let endpoint = client_endpoint(&identity).expect("client endpoint");
        let connection = connect(&endpoint, addr).await.expect("connect");
        Client {
            connection,
            _endpoint: endpoint,
        }
    }

    /// Sends one request on a new stream and reads the answer.
    async fn ask(&self, request: CoordinatorRequest) -> Option<AdminResponse> {
        let exchange = async {
            let (mut send, mut recv) = self.connection.open_bi().await.expect("open stream");
            codec::write_frame(&mut send, &request)
                .await
                .expect("write request");
            let _ = send.finish();
            codec::read_frame::<_, AdminResponse>(&mut recv)
                .await
                .expect("read answer")
        };
        tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .expect("the coordinator answers within 10 s")
    }

    async fn admin(&self, request: AdminRequest) -> AdminResponse {
        self.ask(CoordinatorRequest::Admin(request))
            .await
            .expect("an answer, not the end of the stream")
    }
}

fn submit_request(base_dir: &Path) -> AdminRequest {
    AdminRequest::Submit {
        spec_toml: SPEC.to_string(),
        base_dir: base_dir.to_path_buf(),
        from_savepoint: None,
    }
}

fn assert_denied(answer: &AdminResponse, role: &str) {
    let AdminResponse::Error(message) = answer else {
        panic!("a {role} certificate was not refused: {answer:?}");
    };
    assert!(
        message.starts_with("permission denied"),
        "unexpected refusal: {message}"
    );
    assert!(
        message.contains("needs an admin certificate")
            && message.contains(&format!("presented a {role} certificate")),
        "the refusal does not say what is needed: {message}"
    );
}

async fn state_of(client: &Client, job: JobId) -> JobState {
    match client.admin(AdminRequest::Status { job }).await {
        AdminResponse::Status(report) => report.summary.state,
        other => panic!("status of {job}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_certificates_may_submit_cancel_alias_or_import() {
    let bundle = pki::generate_bundle().expect("bundle");
    let data = tempfile::tempdir().expect("tempdir");
    let (_coordinator, addr) = start(&bundle, data.path());
    let admin = Client::connect(&bundle, Role::Admin, addr).await;
    let node = Client::connect(&bundle, Role::Node, addr).await;
    let coordinator_role = Client::connect(&bundle, Role::Coordinator, addr).await;

    // Node and coordinator certificates cannot submit; nothing is admitted.
    assert_denied(&node.admin(submit_request(data.path())).await, "node");
    assert_denied(
        &coordinator_role.admin(submit_request(data.path())).await,
        "coordinator",
    );
    assert_eq!(
        admin.admin(AdminRequest::List).await,
        AdminResponse::Jobs(Vec::new())
    );

    // An admin certificate can submit, and the job is listed.
    let AdminResponse::Submitted { job } = admin.admin(submit_request(data.path())).await else {
        panic!("an admin could not submit");
    };
    let AdminResponse::Jobs(jobs) = admin.admin(AdminRequest::List).await else {
        panic!("an admin could not list");
    };
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!((jobs[0].job, jobs[0].name.as_str()), (job, "roles"));
    // Reading is not mutating: a node certificate may list.
    assert!(matches!(
        node.admin(AdminRequest::List).await,
        AdminResponse::Jobs(j) if j.len() == 1
    ));

    // The model registry: any certificate may read it, only an admin may set aliases.
    let AdminResponse::Models(models) = node.admin(AdminRequest::Models { job }).await else {
        panic!("a node certificate could not read the model registry");
    };
    assert!(models.learner_stages.is_empty() && models.versions.is_empty());
    let alias = AdminRequest::SetAlias {
        job,
        stage: "events".into(),
        alias: "champion".into(),
        version: Some(CheckpointId(1)),
    };
    assert_denied(&node.admin(alias.clone()).await, "node");
    let AdminResponse::Error(why) = admin.admin(alias).await else {
        panic!("an alias on a job without learners was accepted");
    };
    assert!(why.contains("has no learner stage"), "{why}");
    // Only an admin may import a model; the job has no learner to import into.
    let import = AdminRequest::ImportModel {
        job,
        stage: "events".into(),
        file: "model.json".into(),
        contents: b"{}".to_vec(),
        alias: None,
    };
    assert_denied(&node.admin(import.clone()).await, "node");
    let AdminResponse::Error(why) = admin.admin(import).await else {
        panic!("an import into a job without learners was accepted");
    };
    assert!(why.contains("no model to import"), "{why}");

    // A node certificate cannot cancel it; the job is untouched.
    assert_denied(&node.admin(AdminRequest::Cancel { job }).await, "node");
    assert_ne!(state_of(&admin, job).await, JobState::Cancelled);

    // The admin can.
    assert_eq!(
        admin.admin(AdminRequest::Cancel { job }).await,
        AdminResponse::Cancelled { job }
    );
    assert_eq!(state_of(&admin, job).await, JobState::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_node_certificates_may_join() {
    let bundle = pki::generate_bundle().expect("bundle");
    let data = tempfile::tempdir().expect("tempdir");
    let (_coordinator, addr) = start(&bundle, data.path());
    let admin = Client::connect(&bundle, Role::Admin, addr).await;
    let hello = NodeHello {
        listen: SocketAddr::from(([127, 0, 0, 1], 9)),
        slots: quiver_protocol::NodeSlots::shared(4),
    };
    // The coordinator closes the stream without a welcome and registers nothing.
    assert_eq!(admin.ask(CoordinatorRequest::Join(hello)).await, None);
    let AdminResponse::Cluster(cluster) = admin.admin(AdminRequest::Cluster).await else {
        panic!("no cluster report");
    };
    assert!(cluster.nodes.is_empty(), "{cluster:?}");
}

/// A raw client that trusts the cluster's CA (so it accepts the coordinator) but presents
/// another cluster's admin certificate, which the coordinator must refuse.
fn foreign_client(cluster: &CertBundle, other: &CertBundle) -> quinn::Endpoint {
    use quinn::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cluster.ca_cert_pem.as_bytes()).expect("ca pem"))
        .expect("add root");
    let chain =
        vec![CertificateDer::from_pem_slice(other.admin.cert_pem.as_bytes()).expect("cert pem")];
    let key = PrivateKeyDer::from_pem_slice(other.admin.key_pem.as_bytes()).expect("key pem");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    tls.alpn_protocols = vec![b"quiver/1".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("QUIC TLS config");
    let mut endpoint =
        quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).expect("client endpoint");
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_is_refused_before_any_request_is_read() {
    let bundle = pki::generate_bundle().expect("bundle");
    let other = pki::generate_bundle().expect("other bundle");
    let data = tempfile::tempdir().expect("tempdir");
    let (_coordinator, addr) = start(&bundle, data.path());

    let endpoint = foreign_client(&bundle, &other);
    // In TLS 1.3 the client finishes its side of the handshake before the server has checked
    // the client certificate, so the refusal may surface at the first stream operation.
    let connection = tokio::time::timeout(
        Duration::from_secs(10),
        endpoint.connect(addr, SERVER_NAME).expect("dial"),
    )
    .await
    .expect("the handshake ends within 10 s");
    let reason = match connection {
        Err(refused) => refused.to_string(),
        Ok(connection) => {
            let attempt = async {
                let (mut send, mut recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
                let request = CoordinatorRequest::Admin(submit_request(data.path()));
                codec::write_frame(&mut send, &request)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = send.finish();
                codec::read_frame::<_, AdminResponse>(&mut recv)
                    .await
                    .map_err(|e| e.to_string())
            };
            let outcome = tokio::time::timeout(Duration::from_secs(10), attempt)
                .await
                .expect("the refusal comes within 10 s");
            assert!(
                outcome.is_err(),
                "a foreign certificate got an answer: {outcome:?}"
            );
            connection
                .close_reason()
                .map(|r| r.to_string())
                .unwrap_or_default()
        }
    };
    assert!(
        reason.contains("aborted by peer") && reason.contains("invalid peer certificate"),
        "the coordinator did not refuse the certificate in the handshake: {reason:?}"
    );

    // Nothing was admitted, and a client of the cluster is still served.
    let admin = Client::connect(&bundle, Role::Admin, addr).await;
    assert_eq!(
        admin.admin(AdminRequest::List).await,
        AdminResponse::Jobs(Vec::new())
    );
}

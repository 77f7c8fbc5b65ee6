//! Real QUIC with mutual TLS on 127.0.0.1: frames round trip with roles read on both sides;
//! clients with a foreign certificate or none are refused during the handshake; random UDP
//! datagrams and hostile frames leave the server serving good clients.

use quinn::crypto::rustls::QuicClientConfig;
use quiver_protocol::codec::{read_frame, write_frame, CodecError};
use quiver_protocol::pki::{generate_bundle, CertBundle, Role, TlsIdentity};
use quiver_protocol::transport::{client_endpoint, connect, endpoint, peer_role};
use quiver_protocol::{Barrier, CheckpointId, Generation, Record, Value};
use serde::{Deserialize, Serialize};

/// What the tests send over the streams: a message of every shape (the bincode shape stream
/// elements had; the transport does not care what a frame holds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum StreamElement {
    Records(Vec<Record>),
    Watermark(i64),
    Barrier(Barrier),
    End,
}
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the test server saw.
#[derive(Debug)]
enum Event {
    /// A handshake failed, with quinn's reason.
    Refused(String),
    /// A connection was established with a peer of this role.
    Accepted(Role),
    /// A stream carried a bad frame.
    BadFrame(CodecError),
}

struct Server {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Event>,
    _ep: quinn::Endpoint,
}

impl Server {
    async fn next_event(&mut self) -> Event {
        timeout(Duration::from_secs(10), self.events.recv())
            .await
            .expect("server event within 10 s")
            .expect("server running")
    }
}

/// A coordinator-role server echoing every frame of every bidirectional stream, reporting
/// handshakes and bad frames.
fn start_server(bundle: &CertBundle) -> Server {
    let id = TlsIdentity::from_bundle(bundle, Role::Coordinator).unwrap();
    let ep = endpoint("127.0.0.1:0".parse().unwrap(), &id).unwrap();
    let addr = ep.local_addr().unwrap();
    let (tx, events) = mpsc::unbounded_channel();
    let accept = ep.clone();
    tokio::spawn(async move {
        while let Some(incoming) = accept.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let conn = match incoming.await {
                    Ok(conn) => conn,
                    Err(e) => {
                        let _ = tx.send(Event::Refused(e.to_string()));
                        return;
                    }
                };
                let _ = tx.send(Event::Accepted(peer_role(&conn).unwrap()));
                while let Ok((send, recv)) = conn.accept_bi().await {
                    tokio::spawn(echo(send, recv, tx.clone()));
                }
            });
        }
    });
    Server {
        addr,
        events,
        _ep: ep,
    }
}

async fn echo(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    tx: mpsc::UnboundedSender<Event>,
) {
    loop {
        match read_frame::<_, StreamElement>(&mut recv).await {
            Ok(Some(el)) => {
                if write_frame(&mut send, &el).await.is_err() {
                    return;
                }
            }
            Ok(None) => {
                let _ = send.finish();
                return;
            }
            Err(e) => {
                let _ = recv.stop(1u32.into());
                let _ = send.reset(1u32.into());
                let _ = tx.send(Event::BadFrame(e));
                return;
            }
        }
    }
}

fn elements() -> Vec<StreamElement> {
    vec![
        StreamElement::Records(vec![
            Record {
                event_time: 1,
                row: vec![Value::from("alice"), Value::F64(2.5)],
            },
            Record {
                event_time: 2,
                row: vec![Value::from("bob"), Value::I64(-7)],
            },
        ]),
        StreamElement::Watermark(2),
        StreamElement::Barrier(Barrier {
            checkpoint: CheckpointId(1),
            generation: Generation(3),
            serving: 0,
        }),
        StreamElement::End,
    ]
}

/// Sends `elements()` on a new stream and returns what came back.
async fn round_trip(conn: &quinn::Connection) -> Result<Vec<StreamElement>, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    for el in elements() {
        write_frame(&mut send, &el)
            .await
            .map_err(|e| e.to_string())?;
    }
    send.finish().map_err(|e| e.to_string())?;
    let mut back = Vec::new();
    while let Some(el) = read_frame(&mut recv).await.map_err(|e| e.to_string())? {
        back.push(el);
    }
    Ok(back)
}

/// A good node client's full round trip: the server sees a node, the client a coordinator.
async fn assert_good_client_served(bundle: &CertBundle, server: &mut Server) {
    let ep = client_endpoint(&TlsIdentity::from_bundle(bundle, Role::Node).unwrap()).unwrap();
    let conn = connect(&ep, server.addr).await.unwrap();
    assert_eq!(peer_role(&conn).unwrap(), Role::Coordinator);
    assert_eq!(round_trip(&conn).await.unwrap(), elements());
    match server.next_event().await {
        Event::Accepted(role) => assert_eq!(role, Role::Node),
        other => panic!("expected an accepted node, got {other:?}"),
    }
}

/// A client trusting the cluster CA and presenting `client` (or no certificate), built directly
/// with rustls so it can hold what `TlsIdentity` would refuse to load.
fn raw_client(cluster: &CertBundle, client: Option<&CertBundle>) -> quinn::Endpoint {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(cluster.ca_cert_pem.as_bytes()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    let mut tls = match client {
        Some(b) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(b.node.cert_pem.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(b.node.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"quiver/1".to_vec()];
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        QuicClientConfig::try_from(tls).unwrap(),
    )));
    ep
}

/// The handshake may complete on the client's side; the refusal must show at the first stream
/// operation, no frame may be echoed, and the server must give `reason`.
async fn assert_refused(ep: &quinn::Endpoint, server: &mut Server, reason: &str) {
    if let Ok(conn) = connect(ep, server.addr).await {
        let result = timeout(Duration::from_secs(10), round_trip(&conn))
            .await
            .expect("refusal within 10 s");
        assert!(result.is_err(), "refused client got {result:?}");
    }
    match server.next_event().await {
        Event::Refused(why) => assert!(why.contains(reason), "{why}"),
        other => panic!("expected a refused handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_round_trip_over_mutual_tls_with_roles_on_both_sides() {
    let bundle = generate_bundle().unwrap();
    let mut server = start_server(&bundle);
    assert_good_client_served(&bundle, &mut server).await;

    // An admin, dialing from a full endpoint (server + client) rather than a client-only one.
    let admin = TlsIdentity::from_bundle(&bundle, Role::Admin).unwrap();
    let ep = endpoint("127.0.0.1:0".parse().unwrap(), &admin).unwrap();
    let conn = connect(&ep, server.addr).await.unwrap();
    assert_eq!(round_trip(&conn).await.unwrap(), elements());
    match server.next_event().await {
        Event::Accepted(role) => assert_eq!(role, Role::Admin),
        other => panic!("expected an accepted admin, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_from_another_ca_is_refused_and_good_clients_are_still_served() {
    let bundle = generate_bundle().unwrap();
    let foreign = generate_bundle().unwrap();
    let mut server = start_server(&bundle);

    // Control: the raw client with the cluster's own certificate is served.
    let conn = connect(&raw_client(&bundle, Some(&bundle)), server.addr)
        .await
        .unwrap();
    assert_eq!(round_trip(&conn).await.unwrap(), elements());
    assert!(matches!(
        server.next_event().await,
        Event::Accepted(Role::Node)
    ));

    assert_refused(
        &raw_client(&bundle, Some(&foreign)),
        &mut server,
        "invalid peer certificate",
    )
    .await;
    // A client of another cluster does not trust this server either.
    let other = client_endpoint(&TlsIdentity::from_bundle(&foreign, Role::Node).unwrap()).unwrap();
    let err = connect(&other, server.addr).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach {}", server.addr)),
        "{err}"
    );
    assert!(matches!(server.next_event().await, Event::Refused(_)));

    assert_good_client_served(&bundle, &mut server).await;
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let bundle = generate_bundle().unwrap();
    let mut server = start_server(&bundle);
    assert_refused(
        &raw_client(&bundle, None),
        &mut server,
        "peer sent no certificates",
    )
    .await;
    assert_good_client_served(&bundle, &mut server).await;
}

#[tokio::test]
async fn random_datagrams_leave_the_endpoint_serving() {
    let bundle = generate_bundle().unwrap();
    let mut server = start_server(&bundle);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..300 {
        let len = 1 + (next() % 1400) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 3 == 0 && len > 5 {
            // Looks like a QUIC v1 long-header Initial, then garbage.
            datagram[0] = 0xC0;
            datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        socket.send_to(&datagram, server.addr).await.unwrap();
    }
    assert_good_client_served(&bundle, &mut server).await;
}

#[tokio::test]
async fn hostile_truncated_and_garbage_frames_fail_their_stream_only() {
    let bundle = generate_bundle().unwrap();
    let mut server = start_server(&bundle);
    let ep = client_endpoint(&TlsIdentity::from_bundle(&bundle, Role::Node).unwrap()).unwrap();
    let conn = connect(&ep, server.addr).await.unwrap();
    assert!(matches!(
        server.next_event().await,
        Event::Accepted(Role::Node)
    ));

    type Expected = fn(&CodecError) -> bool;
    let hostile: [(&[u8], Expected); 3] = [
        (
            &[0xFF, 0xFF, 0xFF, 0xFF],
            |e| matches!(e, CodecError::TooLarge { len, .. } if *len == u64::from(u32::MAX)),
        ),
        (&[0, 0, 0, 100, 1, 2, 3], |e| {
            matches!(
                e,
                CodecError::Truncated {
                    expected: 100,
                    got: 3
                }
            )
        }),
        (&[0, 0, 0, 1, 200], |e| {
            matches!(e, CodecError::Malformed { .. })
        }),
    ];
    for (bytes, expected) in hostile {
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        send.write_all(bytes).await.unwrap();
        send.finish().unwrap();
        match server.next_event().await {
            Event::BadFrame(e) => assert!(expected(&e), "{bytes:?} gave {e}"),
            other => panic!("expected a bad frame, got {other:?}"),
        }
        // Nothing is echoed on the failed stream.
        let answer = timeout(
            Duration::from_secs(10),
            read_frame::<_, StreamElement>(&mut recv),
        )
        .await
        .expect("stream ends within 10 s");
        assert!(answer.is_err(), "{answer:?}");
        // The same connection keeps working.
        assert_eq!(round_trip(&conn).await.unwrap(), elements());
    }
    assert_good_client_served(&bundle, &mut server).await;
}

#[tokio::test]
async fn an_unreachable_address_fails_within_the_timeout_with_its_address() {
    let bundle = generate_bundle().unwrap();
    // A bound UDP socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let ep = client_endpoint(&TlsIdentity::from_bundle(&bundle, Role::Admin).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let err = connect(&ep, addr).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(8));
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach {addr}: ")),
        "{err}"
    );
}

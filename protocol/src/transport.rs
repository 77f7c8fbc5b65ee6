//! QUIC endpoints (quinn) secured by mutual TLS 1.3 (rustls with the ring provider) against the
//! cluster CA.
//!
//! Every connection authenticates both sides: a server requires a client certificate issued by
//! the cluster CA and refuses anything else during the handshake, before any stream is
//! accepted; a client verifies the server against the same CA under [`SERVER_NAME`]. After the
//! handshake, [`peer_role`] reads the peer's role from its verified certificate.
//!
//! A server loop should spawn a task per `quinn::Incoming` and await the handshake there: a
//! failed handshake (a refused client) is an error of that one connection, never a reason to
//! stop accepting, and a slow one must not hold up the others.

use crate::pki::{provider, role_of_cert, PkiError, Role, TlsIdentity, SERVER_NAME};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{EndpointConfig, IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The application protocol both sides must name in the handshake.
const ALPN: &[u8] = b"quiver/1";

/// How long [`connect`] waits for a handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Interval of keep-alive packets on an idle connection.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// A connection without any packet from the peer for this long is closed: a dead peer is
/// noticed within it.
const IDLE_TIMEOUT_MS: u32 = 10_000;

/// Concurrent streams of each direction a peer may open (one per channel).
const MAX_STREAMS: u32 = 1024;

/// Bytes a peer may send on one stream ahead of the reader.
const STREAM_WINDOW: u32 = 4 << 20;

/// Bytes a peer may send on one connection ahead of the reader, over all streams.
const CONNECTION_WINDOW: u32 = 32 << 20;

/// The largest UDP payload an endpoint accepts and searches for by MTU discovery. Every QUIC
/// packet costs its own header, encryption call, acknowledgement bookkeeping and kernel work, so
/// on a path that carries large datagrams (loopback, jumbo frames) a batch of the exchange goes
/// in a few packets instead of one per 1.4 KB. Connections still start at QUIC's safe 1200 bytes
/// and only grow when a probe of the larger size is acknowledged, so a path with a 1500-byte MTU
/// stays at what it carries. Not the 64 KiB UDP allows: quinn's receive buffer is this size × 64
/// (GRO segments) × 32 (datagrams per receive call), 134 MB of address space at 64 KiB, and nodes
/// grew by ~20 MB with it (BENCHMARKS.md, "The exchange between two nodes").
const MAX_UDP_PAYLOAD: u16 = 16_384;

/// Why an endpoint could not be set up, a connection made, or a peer identified.
#[derive(thiserror::Error, Debug)]
pub enum TransportError {
    /// The TLS configuration was refused (e.g. a key that does not fit the certificate).
    #[error("bad TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built from the CA roots.
    #[error("bad cluster CA for client verification: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The TLS configuration has no cipher suite QUIC can start with.
    #[error("TLS configuration unusable for QUIC: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The peer could not be reached or refused the handshake.
    #[error("cannot reach {addr}: {reason}")]
    Connect {
        /// The peer's address.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The peer presented no certificate chain.
    #[error("peer presented no certificate")]
    NoPeerCertificate,
    /// The peer's certificate carries no usable role.
    #[error("peer certificate unusable: {0}")]
    PeerCertificate(#[from] PkiError),
}

/// Transport parameters of every connection: fast dead-peer detection, a stream per channel,
/// and windows large enough for bulk batch transfer.
fn transport_config() -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(IDLE_TIMEOUT_MS))))
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(VarInt::from_u32(MAX_STREAMS))
        .stream_receive_window(VarInt::from_u32(STREAM_WINDOW))
        .receive_window(VarInt::from_u32(CONNECTION_WINDOW))
        .send_window(u64::from(CONNECTION_WINDOW));
    let mut mtu = MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    t.mtu_discovery_config(Some(mtu));
    Arc::new(t)
}

/// The server side: TLS 1.3 only, client certificate required and verified against the CA.
fn server_config(id: &TlsIdentity) -> Result<quinn::ServerConfig, TransportError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(id.roots(), Arc::clone(&provider)).build()?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(id.chain(), id.key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
    config.transport_config(transport_config());
    Ok(config)
}

/// The client side: TLS 1.3 only, the server verified against the CA, our certificate presented.
fn client_config(id: &TlsIdentity) -> Result<quinn::ClientConfig, TransportError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(id.roots())
        .with_client_auth_cert(id.chain(), id.key())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
    config.transport_config(transport_config());
    Ok(config)
}

/// An endpoint listening on `listen` that accepts only peers with a cluster certificate, and can
/// also dial others (presenting `id`) with [`connect`]. Must be called inside a tokio runtime.
pub fn endpoint(listen: SocketAddr, id: &TlsIdentity) -> Result<quinn::Endpoint, TransportError> {
    let bind = |source| TransportError::Bind {
        addr: listen,
        source,
    };
    let socket = std::net::UdpSocket::bind(listen).map_err(bind)?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| bind(std::io::Error::other("no async runtime found")))?;
    let mut config = EndpointConfig::default();
    config
        .max_udp_payload_size(MAX_UDP_PAYLOAD)
        .map_err(|e| bind(std::io::Error::other(e.to_string())))?;
    let mut ep =
        quinn::Endpoint::new(config, Some(server_config(id)?), socket, runtime).map_err(bind)?;
    ep.set_default_client_config(client_config(id)?);
    Ok(ep)
}

/// A dial-only endpoint presenting `id`, on an ephemeral port. It binds the IPv6 wildcard
/// (dual stack, so it reaches IPv4 peers too) and falls back to the IPv4 wildcard on hosts
/// without IPv6. Must be called inside a tokio runtime.
pub fn client_endpoint(id: &TlsIdentity) -> Result<quinn::Endpoint, TransportError> {
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let mut ep = quinn::Endpoint::client(v6)
        .or_else(|_| quinn::Endpoint::client(v4))
        .map_err(|source| TransportError::Bind { addr: v4, source })?;
    ep.set_default_client_config(client_config(id)?);
    Ok(ep)
}

/// Dials `addr` with the endpoint's client configuration and completes the mutual-TLS
/// handshake within [`CONNECT_TIMEOUT`].
///
/// A server that refuses *our* certificate may only say so after this returns: the refusal
/// then surfaces at the first stream operation.
pub async fn connect(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
) -> Result<quinn::Connection, TransportError> {
    let fail = |reason: String| TransportError::Connect { addr, reason };
    let connecting = ep
        .connect(addr, SERVER_NAME)
        .map_err(|e| fail(e.to_string()))?;
    match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => Err(fail(format!(
            "no handshake within {} s (the address is unreachable, or no Quiver process listens there)",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// The role of the peer of an established connection, read from the certificate the
/// handshake verified against the cluster CA.
pub fn peer_role(conn: &quinn::Connection) -> Result<Role, TransportError> {
    let identity = conn
        .peer_identity()
        .ok_or(TransportError::NoPeerCertificate)?;
    let chain = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| TransportError::NoPeerCertificate)?;
    let leaf = chain.first().ok_or(TransportError::NoPeerCertificate)?;
    Ok(role_of_cert(leaf)?)
}

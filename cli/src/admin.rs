//! The admin client: one request to the coordinator over mutual-TLS QUIC, one answer.

use anyhow::{anyhow, bail, Result};
use quiver_protocol::codec;
use quiver_protocol::messages::{AdminRequest, AdminResponse, CoordinatorRequest};
use quiver_protocol::pki::TlsIdentity;
use quiver_protocol::transport;
use std::net::SocketAddr;
use std::time::Duration;

/// A connection to the coordinator, reused for several requests.
pub(crate) struct AdminClient {
    addr: SocketAddr,
    connection: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl AdminClient {
    /// Connects with `identity` (the admin certificate for submit and cancel).
    pub(crate) async fn connect(identity: &TlsIdentity, addr: SocketAddr) -> Result<AdminClient> {
        let endpoint = transport::client_endpoint(identity)?;
        let connection = transport::connect(&endpoint, addr).await.map_err(|e| {
            if e.to_string().contains("certificate") {
                anyhow!(
                    "the coordinator at {addr} and this client do not trust each other's \
                     certificates ({e}): use the certificates of this cluster (--certs or \
                     QUIVER_CERTS, as written by `quiver certs init`)"
                )
            } else {
                anyhow!(
                    "cannot reach coordinator at {addr} ({e}); is `quiver coordinator` running \
                     there? Set --coordinator or QUIVER_COORDINATOR"
                )
            }
        })?;
        Ok(AdminClient {
            addr,
            connection,
            _endpoint: endpoint,
        })
    }

    /// Sends one request and returns the answer (an `Error` answer becomes an error).
    pub(crate) async fn request(&self, request: AdminRequest) -> Result<AdminResponse> {
        let addr = self.addr;
        // A swap is answered when the checkpoint that switched every partition completed.
        let limit = match request {
            AdminRequest::ModelSwap { .. } => 130,
            _ => 15,
        };
        let exchange = async {
            let (mut send, mut recv) = self.connection.open_bi().await?;
            codec::write_frame(&mut send, &CoordinatorRequest::Admin(request)).await?;
            let _ = send.finish();
            codec::read_frame::<_, AdminResponse>(&mut recv)
                .await?
                .ok_or_else(|| anyhow!("the coordinator closed the stream without answering"))
        };
        let answer = tokio::time::timeout(Duration::from_secs(limit), exchange)
            .await
            .map_err(|_| anyhow!("the coordinator at {addr} did not answer within {limit} s"))?
            .map_err(|e| {
                let hint = if format!("{e:#}").contains("certificate") {
                    "a certificate from another cluster is refused: check --certs"
                } else {
                    "the coordinator may have stopped: check `quiver cluster status`"
                };
                e.context(format!("request to coordinator at {addr} failed ({hint})"))
            })?;
        if let AdminResponse::Error(message) = answer {
            bail!("{message}");
        }
        Ok(answer)
    }
}

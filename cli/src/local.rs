//! `quiver local SPEC`: a coordinator and nodes in this process, talking real mutual-TLS QUIC
//! on loopback with certificates made for this run; the job is submitted and followed like
//! `quiver job submit --wait`.

use crate::admin::AdminClient;
use crate::jobs;
use anyhow::{bail, Context, Result};
use quiver_protocol::messages::{AdminRequest, AdminResponse};
use quiver_protocol::pki::{self, Role, TlsIdentity};
use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// Runs the job in `spec` on `nodes` in-process nodes (for `duration` if given, then stops
/// it), with the coordinator's HTTP endpoints
/// (dashboard, `/metrics`, JSON API) on `http` if given. The cluster's data directory is left
/// in `data`, for the caller to remove once the runtime, and with it the coordinator's sled
/// store, has stopped (removed earlier, sled's flusher fails on the missing files).
pub(crate) async fn run(
    spec: &Path,
    nodes: u32,
    http: Option<SocketAddr>,
    duration: Option<Duration>,
    data: &mut Option<TempDir>,
) -> Result<ExitCode> {
    let parsed = JobSpec::from_file(spec)?;
    // Shared slots for every pool the job uses (pools never share a slot).
    let slots = JobPlan::from_spec(&parsed).slots_needed().div_ceil(nodes);
    let bundle = pki::generate_bundle()?;
    let identity = |role: Role| TlsIdentity::from_bundle(&bundle, role);
    let data =
        data.insert(tempfile::tempdir().context("cannot create a temporary data directory")?);
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let coordinator = quiver_coordinator::Coordinator::start(
        data.path(),
        loopback,
        &identity(Role::Coordinator)?,
    )?;
    let Some(addr) = coordinator.local_addr() else {
        bail!("the in-process coordinator has no address");
    };
    if let Some(http) = http {
        let bound =
            quiver_coordinator::http::serve(coordinator.clone(), http).with_context(|| {
                format!("cannot serve HTTP on {http}: pass another --http HOST:PORT")
            })?;
        eprintln!("dashboard: http://{bound}/ (metrics: http://{bound}/metrics)");
    }
    for _ in 0..nodes {
        quiver_node::service::start_node(quiver_node::service::NodeConfig {
            coordinator: addr.into(),
            listen: loopback,
            advertise: None,
            slots: quiver_protocol::NodeSlots::shared(slots),
            http: None,
            identity: identity(Role::Node)?,
        })?;
    }
    let client = AdminClient::connect(&identity(Role::Admin)?, addr).await?;
    let started = Instant::now();
    loop {
        if let AdminResponse::Cluster(c) = client.request(AdminRequest::Cluster).await? {
            if c.nodes.iter().filter(|n| n.alive).count() as u32 >= nodes {
                break;
            }
        }
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the in-process nodes did not join within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let job = jobs::submit(&client, spec, None).await?;
    let Some(duration) = duration else {
        return jobs::wait_for(&client, job).await;
    };
    tokio::select! {
        code = jobs::wait_for(&client, job) => code,
        () = tokio::time::sleep(duration) => {
            eprintln!("\n--duration {duration:?} is up: stopping {job}");
            let stop = if parsed.checkpoint_interval.is_some() {
                AdminRequest::Savepoint { job, stop: true }
            } else {
                AdminRequest::Cancel { job }
            };
            client.request(stop).await?;
            let report = jobs::status(&client, job).await?;
            eprint!("{}", crate::report::job(&report));
            eprintln!("{job} stopped after --duration {duration:?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

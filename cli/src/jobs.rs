//! `quiver job ...` and `quiver cluster status`, and waiting for a job with progress.

use crate::admin::AdminClient;
use crate::report;
use crate::JobCommand;
use anyhow::{anyhow, bail, Context, Result};
use quiver_protocol::messages::{AdminRequest, AdminResponse, JobReport, JobState};
use quiver_protocol::pki::TlsIdentity;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::JobId;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs one `quiver job` command.
pub(crate) async fn run(
    command: JobCommand,
    identity: &TlsIdentity,
    coordinator: SocketAddr,
) -> Result<ExitCode> {
    // Validate locally first: a bad spec is reported without a cluster.
    if let JobCommand::Submit { spec, .. } = &command {
        JobSpec::from_file(spec)?;
    }
    let client = AdminClient::connect(identity, coordinator).await?;
    match command {
        JobCommand::Submit { spec, wait } => {
            let job = submit(&client, &spec).await?;
            println!("{job}");
            if wait {
                return wait_for(&client, job).await;
            }
        }
        JobCommand::List => {
            if let AdminResponse::Jobs(jobs) = client.request(AdminRequest::List).await? {
                print!("{}", report::jobs(&jobs));
            }
        }
        JobCommand::Status { job } => {
            let report = status(&client, parse_job_id(&job)?).await?;
            print!("{}", report::job(&report));
        }
        JobCommand::Cancel { job } => {
            let job = parse_job_id(&job)?;
            client.request(AdminRequest::Cancel { job }).await?;
            println!("cancelled {job}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `quiver cluster status`.
pub(crate) async fn cluster_status(
    identity: &TlsIdentity,
    coordinator: SocketAddr,
) -> Result<ExitCode> {
    let client = AdminClient::connect(identity, coordinator).await?;
    if let AdminResponse::Cluster(cluster) = client.request(AdminRequest::Cluster).await? {
        print!("{}", report::cluster(&cluster));
    }
    Ok(ExitCode::SUCCESS)
}

/// Submits the spec file; returns the job id.
pub(crate) async fn submit(client: &AdminClient, spec: &Path) -> Result<JobId> {
    let spec_toml = std::fs::read_to_string(spec)
        .with_context(|| format!("cannot read job spec {}", spec.display()))?;
    let absolute = std::fs::canonicalize(spec)
        .with_context(|| format!("cannot resolve {}", spec.display()))?;
    let base_dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    match client
        .request(AdminRequest::Submit {
            spec_toml,
            base_dir,
        })
        .await?
    {
        AdminResponse::Submitted { job } => Ok(job),
        other => bail!("unexpected answer to submit: {other:?}"),
    }
}

async fn status(client: &AdminClient, job: JobId) -> Result<JobReport> {
    match client.request(AdminRequest::Status { job }).await? {
        AdminResponse::Status(report) => Ok(report),
        other => Err(anyhow!("unexpected answer to status: {other:?}")),
    }
}

/// Follows a job to its end, showing progress on stderr (a rewritten line on a terminal,
/// a line every 2 s otherwise), then the final per-task report. Exit code 0 only if it
/// finished.
pub(crate) async fn wait_for(client: &AdminClient, job: JobId) -> Result<ExitCode> {
    let terminal = std::io::stderr().is_terminal();
    let mut last_line = Instant::now();
    loop {
        let report = status(client, job).await?;
        let line = report::progress_line(&report);
        let done = report.summary.state.is_terminal();
        if terminal {
            eprint!("\r\x1b[2K{line}");
            if done {
                eprintln!();
            }
        } else if done || last_line.elapsed() >= Duration::from_secs(2) {
            eprintln!("{line}");
            last_line = Instant::now();
        }
        let _ = std::io::stderr().flush();
        if done {
            eprint!("{}", report::job(&report));
            return Ok(match report.summary.state {
                JobState::Finished => ExitCode::SUCCESS,
                state => {
                    eprintln!(
                        "{job} {state:?}: {}",
                        report.error.as_deref().unwrap_or("cancelled by a user")
                    );
                    ExitCode::FAILURE
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(if terminal { 200 } else { 500 })).await;
    }
}

/// Parses `job-3` or `3`.
pub(crate) fn parse_job_id(text: &str) -> Result<JobId> {
    text.strip_prefix("job-")
        .unwrap_or(text)
        .parse()
        .map(JobId)
        .map_err(|_| {
            anyhow!("{text:?} is not a job id; expected e.g. job-3 (see `quiver job list`)")
        })
}

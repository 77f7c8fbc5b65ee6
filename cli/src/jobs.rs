//! `quiver job ...` and `quiver cluster status`, and waiting for a job with progress.

use crate::admin::AdminClient;
use crate::report;
use crate::JobCommand;
use anyhow::{anyhow, bail, Context, Result};
use quiver_protocol::messages::{AdminRequest, AdminResponse, JobReport, JobState, SavepointRef};
use quiver_protocol::pki::TlsIdentity;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{CheckpointId, JobId};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// A `quiver job` command with its arguments checked.
enum Action {
    Submit {
        spec: PathBuf,
        wait: bool,
        from_savepoint: Option<SavepointRef>,
    },
    List,
    Status {
        job: JobId,
        json: bool,
    },
    Cancel(JobId),
    Savepoint {
        job: JobId,
        stop: bool,
    },
}

impl Action {
    /// Checks what can be checked locally, so a bad spec or id is reported without a cluster.
    fn parse(command: JobCommand) -> Result<Action> {
        Ok(match command {
            JobCommand::Submit {
                spec,
                wait,
                from_savepoint,
            } => {
                JobSpec::from_file(&spec)?;
                let from_savepoint = from_savepoint.as_deref().map(parse_savepoint).transpose()?;
                Action::Submit {
                    spec,
                    wait,
                    from_savepoint,
                }
            }
            JobCommand::List => Action::List,
            JobCommand::Status { job, json } => Action::Status {
                job: parse_job_id(&job)?,
                json,
            },
            JobCommand::Cancel { job } => Action::Cancel(parse_job_id(&job)?),
            JobCommand::Savepoint { job } => Action::Savepoint {
                job: parse_job_id(&job)?,
                stop: false,
            },
            JobCommand::Stop { job } => Action::Savepoint {
                job: parse_job_id(&job)?,
                stop: true,
            },
        })
    }
}

/// Runs one `quiver job` command.
pub(crate) async fn run(
    command: JobCommand,
    identity: &TlsIdentity,
    coordinator: SocketAddr,
) -> Result<ExitCode> {
    let action = Action::parse(command)?;
    let client = AdminClient::connect(identity, coordinator).await?;
    match action {
        Action::Submit {
            spec,
            wait,
            from_savepoint,
        } => {
            let job = submit(&client, &spec, from_savepoint).await?;
            println!("{job}");
            if wait {
                return wait_for(&client, job).await;
            }
        }
        Action::List => {
            if let AdminResponse::Jobs(jobs) = client.request(AdminRequest::List).await? {
                print!("{}", report::jobs(&jobs));
            }
        }
        Action::Status { job, json } => {
            let report = status(&client, job).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report::job(&report));
            }
        }
        Action::Cancel(job) => {
            client.request(AdminRequest::Cancel { job }).await?;
            println!("cancelled {job}");
        }
        Action::Savepoint { job, stop } => {
            let request = AdminRequest::Savepoint { job, stop };
            if let AdminResponse::Savepoint(s) = client.request(request).await? {
                println!("{}/{}", s.job, s.checkpoint);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `quiver cluster status`.
pub(crate) async fn cluster_status(
    identity: &TlsIdentity,
    coordinator: SocketAddr,
    json: bool,
) -> Result<ExitCode> {
    let client = AdminClient::connect(identity, coordinator).await?;
    if let AdminResponse::Cluster(cluster) = client.request(AdminRequest::Cluster).await? {
        if json {
            println!("{}", serde_json::to_string_pretty(&cluster)?);
        } else {
            print!("{}", report::cluster(&cluster));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `quiver checkpoint list`.
pub(crate) async fn checkpoint_list(
    job: &str,
    identity: &TlsIdentity,
    coordinator: SocketAddr,
) -> Result<ExitCode> {
    let job = parse_job_id(job)?;
    let client = AdminClient::connect(identity, coordinator).await?;
    if let AdminResponse::Checkpoints(list) =
        client.request(AdminRequest::Checkpoints { job }).await?
    {
        print!("{}", report::checkpoints(job, &list));
    }
    Ok(ExitCode::SUCCESS)
}

/// Submits the spec file; returns the job id.
pub(crate) async fn submit(
    client: &AdminClient,
    spec: &Path,
    from_savepoint: Option<SavepointRef>,
) -> Result<JobId> {
    let spec_toml = std::fs::read_to_string(spec)
        .with_context(|| format!("cannot read job spec {}", spec.display()))?;
    let absolute = std::fs::canonicalize(spec)
        .with_context(|| format!("cannot resolve {}", spec.display()))?;
    let base_dir = absolute.parent().map(Path::to_path_buf).unwrap_or_default();
    match client
        .request(AdminRequest::Submit {
            spec_toml,
            base_dir,
            from_savepoint,
        })
        .await?
    {
        AdminResponse::Submitted { job } => Ok(job),
        other => bail!("unexpected answer to submit: {other:?}"),
    }
}

pub(crate) async fn status(client: &AdminClient, job: JobId) -> Result<JobReport> {
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
        // Asking is cheap; a job's end is seen within 100 ms (it was up to 500 ms, a third
        // of a 10M-event W1 run's wall time).
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Parses a savepoint reference `job-3/chk-17`.
pub(crate) fn parse_savepoint(text: &str) -> Result<SavepointRef> {
    let bad = || {
        anyhow!("{text:?} is not a savepoint; expected JOB/CHECKPOINT as `quiver job savepoint` prints it, e.g. job-3/chk-17")
    };
    let (job, checkpoint) = text.split_once('/').ok_or_else(bad)?;
    let checkpoint = checkpoint
        .strip_prefix("chk-")
        .unwrap_or(checkpoint)
        .parse()
        .map_err(|_| bad())?;
    Ok(SavepointRef {
        job: parse_job_id(job).map_err(|_| bad())?,
        checkpoint: CheckpointId(checkpoint),
    })
}

/// Parses `job-3` or `3`.
pub(crate) fn parse_job_id(text: &str) -> Result<JobId> {
    JobId::parse(text).ok_or_else(|| {
        anyhow!("{text:?} is not a job id; expected e.g. job-3 (see `quiver job list`)")
    })
}

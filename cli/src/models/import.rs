//! `quiver model import JOB STAGE FILE [--alias NAME]`: sends a model file to the coordinator,
//! which checks it against the stage and registers it as a new version.

use crate::admin::AdminClient;
use crate::jobs::parse_job_id;
use anyhow::{bail, Context, Result};
use quiver_protocol::messages::{AdminRequest, AdminResponse};
use quiver_protocol::models::MAX_IMPORT_BYTES;
use quiver_protocol::pki::TlsIdentity;
use std::net::SocketAddr;
use std::path::Path;

/// Imports `file` as a version of `stage` of `job`, printing the version.
pub(super) async fn run(
    identity: &TlsIdentity,
    coordinator: SocketAddr,
    job: &str,
    stage: String,
    file: &Path,
    alias: Option<String>,
) -> Result<()> {
    let job = parse_job_id(job)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_IMPORT_BYTES as u64 {
        bail!(
            "{} has {size} bytes, more than an import takes ({MAX_IMPORT_BYTES})",
            file.display()
        );
    }
    let contents =
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let client = AdminClient::connect(identity, coordinator).await?;
    let request = AdminRequest::ImportModel {
        job,
        stage,
        file: name.clone(),
        contents,
        alias,
    };
    let AdminResponse::Imported(version) = client.request(request).await? else {
        bail!("unexpected answer to a model import from the coordinator");
    };
    let aliases = if version.aliases.is_empty() {
        String::new()
    } else {
        format!(", aliases {}", version.aliases.join(","))
    };
    println!(
        "{job} {}: imported {name} as {}{aliases}; deploy it with `quiver model deploy {job} {} {}`",
        version.stage, version.version, version.stage, version.version
    );
    Ok(())
}

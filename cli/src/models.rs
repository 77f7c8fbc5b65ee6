//! `quiver model ...`: the model registry's versions of a job's learner stages, and aliases.

mod import;

use crate::admin::AdminClient;
use crate::jobs::parse_job_id;
use crate::report::thousands;
use crate::ModelCommand;
use anyhow::{anyhow, bail, Result};
use quiver_protocol::messages::{AdminRequest, AdminResponse};
use quiver_protocol::models::{
    is_valid_alias, utc, ModelExport, ModelList, ModelStatus, Serving, StageStatus, SwapChange,
    LEARNER_KINDS,
};
use quiver_protocol::pki::TlsIdentity;
use quiver_protocol::CheckpointId;
use serde_json::{json, Value};
use std::fmt::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Runs one `quiver model` command.
pub(crate) async fn run(
    command: ModelCommand,
    identity: &TlsIdentity,
    coordinator: SocketAddr,
) -> Result<ExitCode> {
    match command {
        ModelCommand::List { job, json } => {
            let job = parse_job_id(&job)?;
            let client = AdminClient::connect(identity, coordinator).await?;
            let AdminResponse::Models(list) = client.request(AdminRequest::Models { job }).await?
            else {
                bail!("unexpected answer to a model list from the coordinator");
            };
            if json {
                if let Some(why) = explanation(&list) {
                    eprint!("{why}");
                }
                println!("{}", serde_json::to_string_pretty(&to_json(&list))?);
            } else {
                print!("{}", explanation(&list).unwrap_or_else(|| table(&list)));
            }
        }
        ModelCommand::Alias {
            job,
            stage,
            name,
            version,
            remove,
        } => {
            let job = parse_job_id(&job)?;
            if !is_valid_alias(&name) {
                bail!(
                    "{name:?} is not an alias name: use lowercase letters, digits, '_' and '-', \
                     starting with a letter (at most 64), e.g. champion or challenger"
                );
            }
            let version = match (version, remove) {
                (Some(text), false) => Some(parse_version(&text)?),
                _ => None,
            };
            let client = AdminClient::connect(identity, coordinator).await?;
            let request = AdminRequest::SetAlias {
                job,
                stage: stage.clone(),
                alias: name.clone(),
                version,
            };
            let AdminResponse::AliasSet { previous } = client.request(request).await? else {
                bail!("unexpected answer to an alias request from the coordinator");
            };
            match (version, previous) {
                (Some(v), Some(p)) if p != v => {
                    println!("{job} {stage}: {name} → {v} (was {p})")
                }
                (Some(v), _) => println!("{job} {stage}: {name} → {v}"),
                (None, _) => println!("{job} {stage}: removed {name}"),
            }
        }
        ModelCommand::Deploy {
            job,
            stage,
            version,
            canary,
        } => {
            let change = SwapChange::Deploy {
                version: parse_version(&version)?,
                canary,
            };
            swap(identity, coordinator, &job, stage, change).await?;
        }
        ModelCommand::Promote { job, stage } => {
            swap(identity, coordinator, &job, stage, SwapChange::Promote).await?;
        }
        ModelCommand::Rollback { job, stage } => {
            swap(identity, coordinator, &job, stage, SwapChange::Rollback).await?;
        }
        ModelCommand::Ab {
            job,
            stage,
            a,
            b,
            split,
        } => {
            let change = SwapChange::Ab {
                a: parse_version(&a)?,
                b: parse_version(&b)?,
                split,
            };
            swap(identity, coordinator, &job, stage, change).await?;
        }
        ModelCommand::Export {
            job,
            stage,
            version,
            json,
        } => {
            let job = parse_job_id(&job)?;
            let version = parse_version(&version)?;
            let client = AdminClient::connect(identity, coordinator).await?;
            let request = AdminRequest::ExportModel {
                job,
                stage,
                version,
            };
            let AdminResponse::ModelExport(export) = client.request(request).await? else {
                bail!("unexpected answer to a model export from the coordinator");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&export_json(&export))?);
            } else {
                print!("{}", export_summary(&export));
            }
        }
        ModelCommand::Import {
            job,
            stage,
            file,
            alias,
        } => import::run(identity, coordinator, &job, stage, &file, alias).await?,
        ModelCommand::Status { job, json } => {
            let job = parse_job_id(&job)?;
            let client = AdminClient::connect(identity, coordinator).await?;
            let AdminResponse::ModelStatus(status) =
                client.request(AdminRequest::ModelStatus { job }).await?
            else {
                bail!("unexpected answer to a model status from the coordinator");
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&status_json(&status))?);
            } else {
                print!("{}", status_table(&status));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks for a swap and waits until every partition of the stage switched.
async fn swap(
    identity: &TlsIdentity,
    coordinator: SocketAddr,
    job: &str,
    stage: String,
    change: SwapChange,
) -> Result<()> {
    let job = parse_job_id(job)?;
    let client = AdminClient::connect(identity, coordinator).await?;
    let AdminResponse::Swapped(report) = client
        .request(AdminRequest::ModelSwap { job, stage, change })
        .await?
    else {
        bail!("unexpected answer to a swap from the coordinator");
    };
    println!(
        "{job} {}: serves {} from {} on (serving epoch {}, {:.1} s)",
        report.stage,
        report.serving.describe(),
        report.checkpoint,
        report.epoch,
        report.elapsed_ms as f64 / 1000.0
    );
    Ok(())
}

/// `quiver model status --json`: `{stages: [...], events: [...]}`, one object per stage.
fn status_json(status: &ModelStatus) -> Value {
    let stages: Vec<Value> = status
        .stages
        .iter()
        .map(|s| {
            json!({
                "stage": s.stage,
                "serving": serving(s),
                "follows": s.follows,
                "aliases": s.aliases,
                "partitions": s.partitions.iter().map(|(p, versions)| {
                    json!({"partition": p, "versions": versions})
                }).collect::<Vec<_>>(),
                "versions": s.versions.iter().map(|v| json!({
                    "version": v.version,
                    "latest": v.latest,
                    "scored": v.scored,
                    "share": v.share,
                    "labelled": v.labelled,
                    "loss": v.loss,
                    "mae": v.mae,
                    "accuracy": v.accuracy,
                    "latency_us": v.latency_us,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"job": status.job.to_string(), "epoch": status.epoch, "stages": stages, "events": status.events})
}

/// What a stage serves, as a person reads it: a predict stage with no version yet serves
/// `nothing yet`.
fn serving(stage: &StageStatus) -> String {
    match (&stage.follows, &stage.serving) {
        (Some(_), Serving::Latest) => "nothing yet".to_string(),
        (_, serving) => serving.describe(),
    }
}

/// `quiver model status`: per stage, what it serves, per partition, and per version.
fn status_table(status: &ModelStatus) -> String {
    let mut out = String::new();
    if status.stages.is_empty() {
        let _ = writeln!(
            out,
            "{} has no learner with parameter servers (logistic_regression, \
             linear_regression or kmeans in a job with checkpoint_interval, \
             matrix_factorization with parameter_shards)",
            status.job
        );
        return out;
    }
    for s in &status.stages {
        let follows = s
            .follows
            .as_ref()
            .map_or(String::new(), |f| format!(" (predict with {f})"));
        let _ = writeln!(
            out,
            "{} {}{follows}: serves {}",
            status.job,
            s.stage,
            serving(s)
        );
        if !s.aliases.is_empty() {
            let aliases: Vec<String> = s
                .aliases
                .iter()
                .map(|(a, v)| format!("{a} = chk-{v}"))
                .collect();
            let _ = writeln!(out, "  aliases: {}", aliases.join(", "));
        }
        for (partition, versions) in &s.partitions {
            let versions: Vec<String> = versions.iter().map(|v| format!("chk-{v}")).collect();
            let _ = writeln!(out, "  partition {partition}: {}", versions.join(" + "));
        }
        let _ = writeln!(
            out,
            "  {:<19} {:>12} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9}",
            "version", "scored", "share", "labelled", "loss", "mae", "accuracy", "µs/rec"
        );
        for v in &s.versions {
            let opt = |x: Option<f64>, digits: usize| {
                x.map_or("-".to_string(), |x| format!("{x:.digits$}"))
            };
            let _ = writeln!(
                out,
                "  {:<19} {:>12} {:>6.1}% {:>10} {:>10} {:>10} {:>9} {:>9}",
                format!(
                    "chk-{}{}",
                    v.version,
                    if v.latest { " (latest)" } else { "" }
                ),
                thousands(v.scored),
                100.0 * v.share,
                thousands(v.labelled),
                opt(v.loss, 4),
                opt(v.mae, 4),
                opt(v.accuracy, 4),
                opt(v.latency_us, 2)
            );
        }
    }
    out
}

/// An export as `--json` prints it. Parameters print in Rust's shortest round-trip form, so
/// a reader parsing them gets the exact `f64`s back.
fn export_json(export: &ModelExport) -> Value {
    let v = &export.info;
    json!({
        "stage": v.stage,
        "version": v.version.0,
        "kind": export.kind,
        "registered": export.registered,
        "created": v.created_ms,
        "aliases": v.aliases,
        "metrics": v.metrics,
        "state_operator": v.state_operator,
        "lineage": {
            "job": v.lineage.job.to_string(),
            "checkpoint": v.lineage.checkpoint.0,
            "generation": v.lineage.generation.0,
        },
        "parameters": export.parameters,
    })
}

/// A few lines about an export: what it is and the size and range of its parameters.
fn export_summary(export: &ModelExport) -> String {
    let v = &export.info;
    let p = &export.parameters;
    let nonzero = p.iter().filter(|x| **x != 0.0).count();
    let (min, max) = p
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
    let mut out = format!(
        "{} {} {} ({}, {}), checkpoint of generation {}, created {} UTC{}\n",
        v.lineage.job,
        v.stage,
        v.version,
        export.kind,
        if export.registered {
            "registered"
        } else {
            "not registered: the model did not change at this checkpoint"
        },
        v.lineage.generation.0,
        utc(v.created_ms),
        if v.aliases.is_empty() {
            String::new()
        } else {
            format!(", aliases {}", v.aliases.join(","))
        },
    );
    if p.is_empty() {
        out.push_str("no parameter written yet (every parameter is 0)\n");
    } else {
        let _ = writeln!(
            out,
            "{} parameters ({nonzero} non-zero), from {min} to {max}; --json prints them",
            p.len()
        );
    }
    out
}

/// Parses a version: `chk-5` (as `quiver model list` prints it) or `5`.
fn parse_version(text: &str) -> Result<CheckpointId> {
    text.strip_prefix("chk-")
        .unwrap_or(text)
        .parse()
        .map(CheckpointId)
        .map_err(|_| {
            anyhow!("{text:?} is not a version; expected e.g. chk-5 (see `quiver model list JOB`)")
        })
}

/// Why a list has no versions to show, if it has none.
fn explanation(list: &ModelList) -> Option<String> {
    let job = list.job;
    if list.learner_stages.is_empty() {
        return Some(format!(
            "{job} has no learner stage (kinds {}), so it has no model versions\n",
            LEARNER_KINDS.join(", ")
        ));
    }
    if !list.versions.is_empty() {
        return None;
    }
    let stages = list.learner_stages.join(", ");
    Some(if list.checkpointing {
        format!(
            "{job} has no model version yet: a version of {stages} is registered when a \
             checkpoint completes in which its model changed; see `quiver checkpoint list {job}`\n"
        )
    } else {
        format!(
            "{job} registers no model versions of {stages}: versions are registered at \
             checkpoints and the job takes none; set job.checkpoint_interval in its spec\n"
        )
    })
}

/// The versions as a table, by stage then version.
fn table(list: &ModelList) -> String {
    let mut out = format!(
        "{:<20} {:<12} {:<24} {:<20} {:>14} {:>12}  {}\n",
        "STAGE", "VERSION", "CREATED (UTC)", "ALIASES", "RECORDS IN", "STATE (B)", "FROM"
    );
    for v in &list.versions {
        let metric = |name: &str| {
            v.metrics
                .get(name)
                .map_or("-".to_string(), |x| thousands(*x as u64))
        };
        let aliases = if v.aliases.is_empty() {
            "-".to_string()
        } else {
            v.aliases.join(",")
        };
        let from = v
            .imported
            .as_ref()
            .map_or("checkpoint".to_string(), |file| format!("imported {file}"));
        let _ = writeln!(
            out,
            "{:<20} {:<12} {:<24} {:<20} {:>14} {:>12}  {from}",
            v.stage,
            v.version.to_string(),
            utc(v.created_ms),
            aliases,
            metric("records_in"),
            metric("state_bytes"),
        );
    }
    out
}

/// The versions as `--json` prints them: one object per version.
fn to_json(list: &ModelList) -> Value {
    let versions = list.versions.iter().map(|v| {
        json!({
            "stage": v.stage,
            "version": v.version.0,
            "aliases": v.aliases,
            "created": v.created_ms,
            "metrics": v.metrics,
            "state_operator": v.state_operator,
            "lineage": {
                "job": v.lineage.job.to_string(),
                "checkpoint": v.lineage.checkpoint.0,
                "generation": v.lineage.generation.0,
            },
            "imported": v.imported,
        })
    });
    Value::Array(versions.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::models::{ModelLineage, ModelVersionInfo};
    use quiver_protocol::{Generation, JobId};
    use std::collections::BTreeMap;

    fn list(stages: &[&str], versions: &[u64]) -> ModelList {
        ModelList {
            job: JobId(3),
            learner_stages: stages.iter().map(|s| s.to_string()).collect(),
            checkpointing: true,
            versions: versions
                .iter()
                .map(|v| ModelVersionInfo {
                    stage: "clf".into(),
                    version: CheckpointId(*v),
                    created_ms: 1_764_460_800_123 + v,
                    lineage: ModelLineage {
                        job: JobId(3),
                        checkpoint: CheckpointId(*v),
                        generation: Generation(1),
                    },
                    metrics: BTreeMap::from([("records_in".into(), 1234.0)]),
                    state_operator: "clf".into(),
                    aliases: if *v == 2 {
                        vec!["champion".into()]
                    } else {
                        vec![]
                    },
                    imported: (*v == 3).then(|| "model.json".to_string()),
                })
                .collect(),
        }
    }

    #[test]
    fn timestamps_print_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_764_460_800_123), "2025-11-30 00:00:00.123");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
    }

    #[test]
    fn a_job_without_learners_or_versions_is_explained_not_tabled() {
        let none = explanation(&list(&[], &[])).unwrap();
        assert!(none.contains("job-3 has no learner stage"), "{none}");
        let not_yet = explanation(&list(&["clf"], &[])).unwrap();
        assert!(not_yet.contains("no model version yet"), "{not_yet}");
        let mut no_checkpoints = list(&["clf"], &[]);
        no_checkpoints.checkpointing = false;
        let text = explanation(&no_checkpoints).unwrap();
        assert!(text.contains("set job.checkpoint_interval"), "{text}");
        assert_eq!(explanation(&list(&["clf"], &[1])), None);
    }

    #[test]
    fn the_table_and_json_show_versions_with_aliases() {
        let shown = list(&["clf"], &[1, 2]);
        let text = table(&shown);
        assert!(text.contains("chk-2"), "{text}");
        assert!(text.contains("champion"), "{text}");
        assert!(text.contains("1,234"), "{text}");
        let json = to_json(&shown);
        assert_eq!(json[1]["version"], 2);
        assert_eq!(json[1]["aliases"][0], "champion");
        assert_eq!(json[0]["created"], 1_764_460_800_124u64);
        assert_eq!(json[0]["metrics"]["records_in"], 1234.0);
        assert_eq!(json[0]["stage"], "clf");
        assert_eq!(json[0]["imported"], Value::Null);
        let imported = list(&["clf"], &[3]);
        assert!(table(&imported).contains("imported model.json"));
        assert_eq!(to_json(&imported)[0]["imported"], "model.json");
    }

    #[test]
    fn an_export_prints_its_parameters_exactly_in_json_and_a_summary_in_text() {
        let info = list(&["clf"], &[2]).versions.remove(0);
        let export = ModelExport {
            kind: "linear_regression".into(),
            info,
            registered: true,
            parameters: vec![0.1, 0.0, -3.5e-300],
        };
        let json = export_json(&export);
        assert_eq!(json["stage"], "clf");
        assert_eq!(json["version"], 2);
        let text = serde_json::to_string(&json).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        let values: Vec<f64> = back["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(values, export.parameters, "bit for bit through JSON");
        let summary = export_summary(&export);
        assert!(summary.contains("3 parameters (2 non-zero)"), "{summary}");
        assert!(summary.contains("champion"), "{summary}");
    }

    #[test]
    fn versions_parse_with_or_without_their_prefix() {
        assert_eq!(parse_version("chk-5").unwrap(), CheckpointId(5));
        assert_eq!(parse_version("5").unwrap(), CheckpointId(5));
        let e = parse_version("latest").unwrap_err().to_string();
        assert!(e.contains("quiver model list"), "{e}");
    }
}

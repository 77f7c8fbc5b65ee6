//! `quiver`: one binary for the coordinator, nodes, the admin commands, local mode and
//! certificates. See `quiver --help` and DESIGN.md §1.

mod admin;
mod jobs;
mod local;
mod report;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use quiver_protocol::pki::{self, Role, TlsIdentity};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Quiver: a real-time machine-learning stream processor.
#[derive(Parser)]
#[command(name = "quiver", version, about, long_about = None)]
struct Cli {
    /// Folder with the cluster certificates (`quiver certs init --dir D` writes them).
    #[arg(long, global = true, env = "QUIVER_CERTS", default_value = "certs")]
    certs: PathBuf,
    /// The coordinator's address, HOST:PORT.
    #[arg(
        long,
        global = true,
        env = "QUIVER_COORDINATOR",
        default_value = "127.0.0.1:7600"
    )]
    coordinator: SocketAddr,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job in this process: a coordinator and nodes on loopback QUIC; exits when its
    /// bounded sources are done.
    Local {
        /// The job spec (TOML).
        spec: PathBuf,
        /// How many nodes to start in-process.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        nodes: u32,
    },
    /// Run the coordinator.
    Coordinator {
        /// Where it keeps its state (sled).
        #[arg(long)]
        data_dir: PathBuf,
        /// Address to listen on (UDP, QUIC).
        #[arg(long, default_value = "127.0.0.1:7600")]
        listen: SocketAddr,
    },
    /// Run a node that hosts partitions.
    Node {
        /// Address its exchange listens on (UDP, QUIC); port 0 picks one.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Where it keeps local state.
        #[arg(long)]
        data_dir: PathBuf,
        /// Partitions of each operator it may host.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=4096))]
        slots: u32,
    },
    /// Submit, list, inspect and cancel jobs.
    #[command(subcommand)]
    Job(JobCommand),
    /// Inspect the cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Manage certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
}

#[derive(Subcommand)]
pub(crate) enum JobCommand {
    /// Submit a job spec; prints the job id.
    Submit {
        /// The job spec (TOML); relative paths in it resolve against its folder.
        spec: PathBuf,
        /// Run a bounded job to its end, showing progress; exit 0 only if it finished.
        #[arg(long)]
        wait: bool,
    },
    /// List jobs.
    List,
    /// Show a job's state and progress.
    Status {
        /// The job id (`job-3` or `3`).
        job: String,
    },
    /// Cancel a job.
    Cancel {
        /// The job id (`job-3` or `3`).
        job: String,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Show nodes, their health and traffic.
    Status,
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a cluster CA and coordinator, node and admin certificates into a folder.
    Init {
        /// The folder to write `ca.crt` and `{coordinator,node,admin}.{crt,key}` into.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Job(_) | Command::Cluster(_) | Command::Certs(_) | Command::Local { .. }
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<std::process::ExitCode> {
    let ok = std::process::ExitCode::SUCCESS;
    let identity = |role: Role| {
        TlsIdentity::load(&cli.certs, role).with_context(|| {
            format!(
                "cannot load the {} certificate from {}",
                role.name(),
                cli.certs.display()
            )
        })
    };
    match cli.command {
        Command::Certs(CertsCommand::Init { dir }) => {
            pki::init_dir(&dir)?;
            println!(
                "wrote ca.crt and coordinator, node and admin certificates to {}",
                dir.display()
            );
            Ok(ok)
        }
        Command::Coordinator { data_dir, listen } => {
            let identity = identity(Role::Coordinator)?;
            let coordinator = quiver_coordinator::Coordinator::start(&data_dir, listen, &identity)?;
            let addr = coordinator.local_addr().unwrap_or(listen);
            tracing::info!("coordinator listening on {addr}");
            tokio::signal::ctrl_c().await?;
            Ok(ok)
        }
        Command::Node {
            listen,
            data_dir,
            slots,
        } => {
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let config = quiver_node::service::NodeConfig {
                coordinator: cli.coordinator,
                listen,
                slots,
                identity: identity(Role::Node)?,
            };
            let node = quiver_node::service::start_node(config)?;
            tracing::info!("node exchange listening on {}", node.listen);
            tokio::signal::ctrl_c().await?;
            Ok(ok)
        }
        Command::Job(command) => jobs::run(command, &identity(Role::Admin)?, cli.coordinator).await,
        Command::Cluster(ClusterCommand::Status) => {
            jobs::cluster_status(&identity(Role::Admin)?, cli.coordinator).await
        }
        Command::Local { spec, nodes } => local::run(&spec, nodes).await,
    }
}

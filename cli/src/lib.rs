//! `quiver`: one binary for the coordinator, nodes, the admin commands, local mode and
//! certificates. See `quiver --help` and DESIGN.md §1.
//!
//! The command line lives in this library so that other binaries can run it as their own:
//! `quiver-chaos` (in `chaos-tests/`) starts its cluster's processes as itself, with the
//! fault hooks of the `chaos` feature compiled in.

mod admin;
mod huge_pages;
mod jobs;
mod local;
mod models;
mod report;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use quiver_protocol::heartbeat::Heartbeats;
use quiver_protocol::host_port::HostPort;
use quiver_protocol::pki::{self, Role, TlsIdentity};
use std::path::PathBuf;
use std::time::Duration;

/// Records and rows are many small allocations; mimalloc's thread-local free lists serve
/// them markedly faster than glibc's malloc on the W1 workload (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads `--slots` (see [`quiver_protocol::pool::SLOTS_FORMAT`]).
fn parse_slots(text: &str) -> Result<quiver_protocol::NodeSlots, String> {
    text.parse()
}

/// Quiver: a real-time machine-learning stream processor.
#[derive(Parser)]
#[command(
    name = "quiver",
    version,
    about = "Quiver: real-time machine learning on streams (keyed stateful streaming, \
             event-time windows, exactly-once checkpoints, online learning).",
    after_help = "Start here:\n  \
        quiver local examples/spend-per-user/job.toml    run a job in this process\n  \
        quiver certs init --dir certs                    certificates for a cluster\n  \
        quiver coordinator --data-dir data/c             then `quiver node --data-dir data/n1`\n  \
        quiver job submit --wait JOB.toml                run a job on the cluster\n\n\
        Transparent huge pages are off in every quiver process (a 2 MiB page fault stalls a task);\n\
        MIMALLOC_ALLOW_THP=1 in the environment keeps them on (docs/design.md §1)."
)]
struct Cli {
    /// Folder with the cluster certificates (`quiver certs init --dir D` writes them).
    #[arg(long, global = true, env = "QUIVER_CERTS", default_value = "certs")]
    certs: PathBuf,
    /// The coordinator's address, HOST:PORT (an IP address or a host name; a node resolves
    /// a name again whenever it rejoins).
    #[arg(
        long,
        global = true,
        env = "QUIVER_COORDINATOR",
        default_value = "127.0.0.1:7600"
    )]
    coordinator: HostPort,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line,
    /// with the span fields) for log collectors.
    #[arg(long, global = true, env = "QUIVER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Worker threads of this process's async runtime (default: one per core). Processes
    /// sharing a machine's cores, e.g. two nodes on two cores, run best with their share.
    #[arg(long, global = true, env = "QUIVER_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    #[command(subcommand)]
    command: Command,
}

/// A `--duration` as the job spec writes durations (`30s`, `5m`, `1h`), greater than zero.
fn parse_run_duration(text: &str) -> Result<Duration, String> {
    match quiver_protocol::spec::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err("a duration greater than zero, e.g. 30s".to_string()),
        Err(e) => Err(format!("{e}; write e.g. 30s, 5m or 1h")),
    }
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
        /// Serve the dashboard, `/metrics` and the JSON API on HOST:PORT while the job runs
        /// (default: no HTTP).
        #[arg(long, value_name = "HOST:PORT")]
        http: Option<HostPort>,
        /// Run an unbounded job this long (e.g. 30s, 5m), then stop it (a job with checkpoints
        /// stops with a savepoint, so its sinks publish everything up to it) and exit 0.
        /// Default: until its bounded sources are done, or Ctrl-C.
        #[arg(long, value_name = "DURATION", value_parser = parse_run_duration)]
        duration: Option<Duration>,
    },
    /// Serve the recommendations API and page (as a `serve` sink does) from Redis: each
    /// `GET /TABLE/KEY` reads the key `TABLE:KEY` that a `redis` sink wrote. Runs until Ctrl-C.
    Serve {
        /// The Redis server, redis://HOST:PORT[/DB].
        #[arg(long, value_name = "URL")]
        redis: String,
        /// Where the API and page listen, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: HostPort,
        /// The tables `/api/tables` and the page count, comma-separated (Redis keeps no list).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "recommendations,user_features,sessions,item_activity,ab,ctr_quality"
        )]
        tables: Vec<String>,
    },
    /// Run the coordinator.
    Coordinator {
        /// Where it keeps its state (sled).
        #[arg(long)]
        data_dir: PathBuf,
        /// Address to listen on (UDP, QUIC), HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:7600")]
        listen: HostPort,
        /// Where nodes and admins reach it when that is not the address it listens on (it
        /// listens on 0.0.0.0, or behind a proxy or NAT), HOST:PORT: shown by `quiver cluster
        /// status --json`, `/api/cluster` and the dashboard. Default: the address it listens on.
        #[arg(long, value_name = "HOST:PORT")]
        advertise: Option<HostPort>,
        /// Where to serve `/metrics` and the read-only JSON API (`/api/...`) over HTTP,
        /// HOST:PORT, or `off`. Without certificates: keep it on a trusted network. When the
        /// default address is taken (another coordinator on this machine), the coordinator
        /// runs without HTTP and says so.
        #[arg(long, default_value = quiver_coordinator::http::DEFAULT_HTTP, value_name = "HOST:PORT|off")]
        http: HttpAddress,
        /// How often nodes and the coordinator say they are alive on each node's control
        /// stream (nodes learn it when they join), e.g. `250ms`, `1s`.
        #[arg(long, default_value = "250ms", value_parser = parse_heartbeat)]
        heartbeat_interval: std::time::Duration,
        /// A node silent this long is declared dead and its jobs recover; a node takes a
        /// coordinator silent this long for dead and joins again. At least twice
        /// `--heartbeat-interval`, e.g. `1s`, `2s`; longer avoids false alarms on an
        /// overloaded machine, shorter recovers sooner.
        #[arg(long, default_value = "1s", value_parser = parse_heartbeat)]
        heartbeat_timeout: std::time::Duration,
    },
    /// Run a node that hosts partitions.
    Node {
        /// Address its exchange listens on (UDP, QUIC), HOST:PORT; port 0 picks one.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: HostPort,
        /// The address other nodes reach its exchange at, when it is not the one it listens
        /// on (a proxy or NAT in between; a node listening on 0.0.0.0). A host name is
        /// resolved when the node starts. Default: the address it listens on.
        #[arg(long, value_name = "HOST:PORT", env = "QUIVER_ADVERTISE")]
        advertise: Option<HostPort>,
        /// Where it keeps local state.
        #[arg(long)]
        data_dir: PathBuf,
        /// Its slots, each hosting one partition of each operator of one pool: `N` shared
        /// slots any pool may use, and/or slots reserved for a pool, e.g. `serving=2,training=1`
        /// or `2,training=1` (pools: default, serving, features, training). Training tasks run
        /// on their own threads at a lower OS priority.
        #[arg(long, default_value = "4", value_parser = parse_slots)]
        slots: quiver_protocol::NodeSlots,
        /// Where to serve its `/metrics` over HTTP, HOST:PORT (default: nowhere). Without
        /// certificates: keep it on a trusted network.
        #[arg(long, value_name = "HOST:PORT")]
        http: Option<HostPort>,
    },
    /// Submit, list, inspect and cancel jobs.
    #[command(subcommand)]
    Job(JobCommand),
    /// Inspect the cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Inspect checkpoints.
    #[command(subcommand)]
    Checkpoint(CheckpointCommand),
    /// Inspect the model versions of a job's learner stages and name them with aliases.
    #[command(subcommand)]
    Model(ModelCommand),
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
        /// Start from a savepoint (`job-3/chk-17`, as `quiver job savepoint` prints it),
        /// possibly at another parallelism: state moves by key groups. Aggregates are matched
        /// by name; a stage whose state does not fit (another function, key or window) is
        /// refused with what changed.
        #[arg(long, value_name = "SAVEPOINT")]
        from_savepoint: Option<String>,
    },
    /// Take a savepoint of a running job; prints its reference for --from-savepoint (needs
    /// job.checkpoint_interval in the spec).
    Savepoint {
        /// The job id (`job-3` or `3`).
        job: String,
    },
    /// Take a savepoint, pause the sources after it, and stop the job once every sink has
    /// published up to it: when this returns, the published output ends exactly where the
    /// savepoint's state does, so a job started from it continues seamlessly. Prints the
    /// savepoint (needs job.checkpoint_interval).
    Stop {
        /// The job id (`job-3` or `3`).
        job: String,
    },
    /// List jobs.
    List,
    /// Show a job's state and progress.
    Status {
        /// The job id (`job-3` or `3`).
        job: String,
        /// Print JSON: `summary` (`job`, `name`, `state`, `generation`), `error`,
        /// `elapsed_ms`, `source_records`, `sink_records`, `last_checkpoint`, `restarts`
        /// (`total`, `in_a_row`, `allowed`), `expired_checkpoints`, `state_entries`,
        /// `state_expired`, `refused_updates`, `ratings` (`count`, `rmse`, `mae` of the
        /// rating predictions, or null), `checkpoint_bytes`, `tasks` (each with
        /// `task`, `operators`, `node`, `finished` and its counters in `metrics`) and
        /// `sink_latency` (per chain with sinks: `operators`, `batches`, `p50_ms`, `p99_ms`,
        /// `max_ms` of the source-to-sink latency).
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job.
    Cancel {
        /// The job id (`job-3` or `3`).
        job: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum CheckpointCommand {
    /// List a job's completed checkpoints and savepoints.
    List {
        /// The job id (`job-3` or `3`).
        job: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum ModelCommand {
    /// List every version of every learner stage of a job, with its aliases.
    ///
    /// Learner stages are those of kinds logistic_regression, linear_regression, kmeans and
    /// matrix_factorization. A version is registered when a checkpoint completes in which the
    /// stage's model changed; its id is that checkpoint's, and it lives as long as the
    /// checkpoint is kept (the newest 3, and those an alias names).
    List {
        /// The job id (`job-3` or `3`).
        job: String,
        /// Print a JSON array of objects with `stage`, `version` (the checkpoint id),
        /// `aliases`, `created` (ms since the epoch), `metrics`, `state_operator`,
        /// `lineage` and `imported` (the file an imported version came from, else null).
        #[arg(long)]
        json: bool,
    },
    /// Point an alias (e.g. champion) at a version of a learner stage (admin certificate).
    ///
    /// The alias moves from the version it named before: a stage has at most one version per
    /// alias. The version's checkpoint is kept as long as an alias names it.
    Alias {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
        /// The alias: lowercase letters, digits, '_' and '-', starting with a letter.
        name: String,
        /// The version (`chk-5` or `5`, as `quiver model list` shows it).
        #[arg(required_unless_present = "remove")]
        version: Option<String>,
        /// Remove the alias instead (its version's checkpoint may then be pruned).
        #[arg(long, conflicts_with = "version")]
        remove: bool,
    },
    /// Serve a registered version of a learner stage (admin certificate).
    ///
    /// The stage (a logistic_regression, linear_regression or kmeans in a job with
    /// checkpoints, or a matrix_factorization with parameter_shards) scores every record
    /// with VERSION from the next checkpoint barrier on, per partition exactly at that
    /// barrier; training goes on and registers new versions. A kmeans version assigns
    /// clusters with its centroids; a matrix_factorization version predicts with its global
    /// mean and item biases and factors beside the user's bias and factors as the partition
    /// holds them now. With --canary, only PCT% of the records (by record hash; by the hash
    /// of the user for matrix_factorization) move first: `model promote` moves the rest,
    /// `model rollback` moves them back. Returns when every partition switched.
    Deploy {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
        /// The version (`chk-5` or `5`, as `quiver model list` shows it).
        version: String,
        /// Move only this percentage of records (0 < PCT < 100) to VERSION.
        #[arg(long, value_name = "PCT")]
        canary: Option<f64>,
    },
    /// Serve a canary's version for every record (admin certificate).
    Promote {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
    },
    /// Serve what the stage served before its last deploy, promote or A/B (admin
    /// certificate).
    Rollback {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
    },
    /// Serve two versions side by side, split by record hash (by user hash for
    /// matrix_factorization; admin certificate).
    Ab {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
        /// The version of the other records.
        #[arg(long)]
        a: String,
        /// The version of SPLIT% of the records.
        #[arg(long)]
        b: String,
        /// The percentage of records on --b (0 < SPLIT < 100).
        #[arg(long)]
        split: f64,
    },
    /// Show which version each learner partition serves, with live per-version figures.
    Status {
        /// The job id (`job-3` or `3`).
        job: String,
        /// Print JSON: `{job, epoch, stages, events}`; each stage with `stage`, `serving`,
        /// `aliases`, `partitions` and `versions` (`version`, `latest`, `scored`, `share`,
        /// `labelled`, `loss` (kmeans: mean squared distance to the assigned centroid), `mae`
        /// (regressions), `accuracy`, `latency_us`); `events`: the guards' and update
        /// policies' recent decisions.
        #[arg(long)]
        json: bool,
    },
    /// Print the parameters of a learner stage's model as of a version.
    ///
    /// The coordinator merges the state its parameter servers (`STAGE/params`) checkpointed
    /// at that version. VERSION is a registered version or any complete checkpoint of the
    /// job (the model as the rows with that `model_version` were scored), while it is kept.
    /// Only linear_regression, logistic_regression and kmeans stages in jobs with checkpoints,
    /// and matrix_factorization stages with parameter_shards, train on parameter servers.
    Export {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage.
        stage: String,
        /// The version (`chk-5` or `5`, as `quiver model list` shows it).
        version: String,
        /// Print a JSON object with `stage`, `version`, `kind`, `registered`, `created`,
        /// `aliases`, `metrics`, `lineage`, `state_operator` and `parameters` (the vector
        /// by index, in `quiver_ml::SharedParameters` layout).
        #[arg(long)]
        json: bool,
    },
    /// Register a model file as a new version of a learner stage (admin certificate).
    ///
    /// FILE is a model the quiver-ml library saved (`Persist::save`) of the stage's
    /// algorithm — streaming_linear_regression_sgd for linear_regression,
    /// online_logistic_regression (ftrl) or streaming_logistic_regression (sgd, adagrad,
    /// adam) for logistic_regression, with the stage's optimizer, online_kmeans with the
    /// stage's k for kmeans, and, when the stage lists its feature columns, as many features;
    /// matrix_factorization of the stage's model and n_factors (its mean and items become the
    /// version; its users are left out, the partitions serve it with theirs) — or what `quiver model export ... --json` wrote
    /// for a stage of the same kind. A bad file changes nothing. The version gets the job's
    /// next checkpoint id, lives in the registry (retention never drops it), and is deployed,
    /// canaried, A/B-tested and rolled back like a trained one; a saved model serves exactly
    /// as the library computes with it.
    Import {
        /// The job id (`job-3` or `3`).
        job: String,
        /// The learner stage (linear_regression, logistic_regression or kmeans in a job with
        /// checkpoints, matrix_factorization with parameter_shards).
        stage: String,
        /// The model file.
        file: std::path::PathBuf,
        /// Point this alias (e.g. challenger) at the new version.
        #[arg(long)]
        alias: Option<String>,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Show nodes, their health and traffic.
    Status {
        /// Print the report as JSON (for scripts).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a cluster CA and coordinator, node and admin certificates into a folder.
    ///
    /// Also writes the CA's key, `ca.key`, which only `quiver certs node` reads: keep it
    /// offline (no process of the cluster needs it).
    Init {
        /// The folder to write `ca.crt`, `ca.key` and `{coordinator,node,admin}.{crt,key}`
        /// into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Sign a certificate of its own for one node with the cluster CA, so that one leaked
    /// node key is not every node's.
    ///
    /// Writes `ca.crt`, `node.crt` and `node.key` into `--dir`, ready for `quiver node
    /// --certs DIR`.
    Node {
        /// The node's name, written in its certificate (letters, digits, '.', '-', '_').
        #[arg(long)]
        name: String,
        /// The folder holding the cluster CA (`ca.crt` and `ca.key`, as `certs init` wrote
        /// them).
        #[arg(long)]
        ca: PathBuf,
        /// The folder to write the node's certificate into (created; must not hold one).
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Runs the `quiver` command line on `args` (the program name first, as in
/// `std::env::args_os`) and returns the process's exit code.
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> std::process::ExitCode {
    huge_pages::turn_off_unless_asked();
    let cli = Cli::parse_from(args);
    let quiet = matches!(
        cli.command,
        Command::Job(_)
            | Command::Cluster(_)
            | Command::Checkpoint(_)
            | Command::Model(_)
            | Command::Certs(_)
            | Command::Local { .. }
            | Command::Serve { .. }
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(if quiet { "warn" } else { "info" })
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(usize::from(threads));
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // What must outlive the runtime: the data directory of `quiver local`'s cluster.
    let mut data = None;
    let code = match runtime.block_on(run(cli, &mut data)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            std::process::ExitCode::FAILURE
        }
    };
    // Dropping a runtime waits for every blocking task still running, without limit: one
    // left over from the work that just ended (a reader, a writer, an encoding) once kept a
    // finished `quiver local` from exiting. Give them a moment, then exit regardless.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    drop(data);
    code
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object a line.
    Json,
}

/// `--http` of the coordinator: an address, or `off`.
#[derive(Clone)]
enum HttpAddress {
    Off,
    At(HostPort),
}

impl std::str::FromStr for HttpAddress {
    type Err = quiver_protocol::host_port::HostPortError;

    fn from_str(text: &str) -> Result<HttpAddress, Self::Err> {
        if text == "off" {
            return Ok(HttpAddress::Off);
        }
        text.parse().map(HttpAddress::At)
    }
}

/// Starts the coordinator's HTTP endpoints where `http` says. A taken default port only
/// costs the HTTP side (several coordinators on one machine, as in tests); an address the
/// user chose must work.
async fn serve_http(
    coordinator: &std::sync::Arc<quiver_coordinator::Coordinator>,
    http: HttpAddress,
) -> Result<()> {
    let HttpAddress::At(address) = http else {
        return Ok(());
    };
    let addr = address.resolve().await?;
    match quiver_coordinator::http::serve(coordinator.clone(), addr) {
        Ok(bound) => {
            tracing::info!(
                "metrics on http://{bound}/metrics, the JSON API on http://{bound}/api/jobs"
            );
            Ok(())
        }
        Err(e) if address.to_string() == quiver_coordinator::http::DEFAULT_HTTP => {
            tracing::warn!(
                "no HTTP endpoints: cannot serve on {address}: {e}; pass --http HOST:PORT for \
                 another address (or --http off)"
            );
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "cannot serve HTTP on {address}: {e}; pass another --http HOST:PORT (or --http off)"
        )),
    }
}

/// How long the process waits at exit for blocking tasks still running.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Parses a heartbeat interval or timeout like `250ms` or `2s`; [`Heartbeats::new`] checks
/// the two together.
fn parse_heartbeat(text: &str) -> Result<std::time::Duration, String> {
    quiver_protocol::spec::parse_duration(text).map_err(|e| e.to_string())
}

/// An error and its causes on one line, leaving out a cause whose text the message before
/// it already contains (many errors quote their source).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Runs the command; `data` receives a directory to remove only after the runtime stopped.
async fn run(cli: Cli, data: &mut Option<tempfile::TempDir>) -> Result<std::process::ExitCode> {
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
                "wrote ca.crt and coordinator, node and admin certificates to {}; {} signs \
                 certificates for single nodes (`quiver certs node`): keep it offline, no \
                 process of the cluster needs it",
                dir.display(),
                dir.join(pki::CA_KEY_FILE).display()
            );
            Ok(ok)
        }
        Command::Certs(CertsCommand::Node { name, ca, dir }) => {
            pki::sign_node(&ca, &name, &dir)?;
            println!(
                "wrote the certificate of node {name:?} to {}: start it with `quiver node \
                 --certs {}`",
                dir.display(),
                dir.display()
            );
            Ok(ok)
        }
        Command::Coordinator {
            data_dir,
            listen,
            advertise,
            http,
            heartbeat_interval,
            heartbeat_timeout,
        } => {
            let heartbeats = Heartbeats::new(heartbeat_interval, heartbeat_timeout)
                .context("--heartbeat-interval and --heartbeat-timeout")?;
            let identity = identity(Role::Coordinator)?;
            let listen = listen.resolve().await?;
            #[cfg(feature = "chaos")]
            quiver_coordinator::chaos::install();
            let coordinator = quiver_coordinator::Coordinator::start_with(
                &data_dir, listen, &identity, heartbeats,
            )?;
            let addr = coordinator.local_addr().unwrap_or(listen);
            tracing::info!("coordinator listening on {addr}");
            if let Some(advertise) = advertise {
                tracing::info!("nodes and admins reach it at {advertise}");
                coordinator.set_advertised(advertise.to_string());
            }
            serve_http(&coordinator, http).await?;
            tokio::select! {
                signal = tokio::signal::ctrl_c() => signal.map(|()| ok).map_err(Into::into),
                why = coordinator.store_failure() => Err(anyhow::anyhow!(
                    "the coordinator's store in {} cannot write ({why}): free space there and \
                     start the coordinator again (a supervisor such as systemd does it); it \
                     resumes from its last checkpoint",
                    data_dir.display()
                )),
            }
        }
        Command::Node {
            listen,
            advertise,
            data_dir,
            slots,
            http,
        } => {
            #[cfg(feature = "chaos")]
            quiver_node::chaos::install();
            std::fs::create_dir_all(&data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
            let advertise = match advertise {
                Some(address) => Some(address.resolve().await?),
                None => None,
            };
            let config = quiver_node::service::NodeConfig {
                coordinator: cli.coordinator,
                listen: listen.resolve().await?,
                advertise,
                slots,
                http: match http {
                    Some(address) => Some(address.resolve().await?),
                    None => None,
                },
                identity: identity(Role::Node)?,
            };
            let node = quiver_node::service::start_node(config)?;
            tracing::info!("node exchange listening on {}", node.listen);
            if let Some(http) = node.http {
                tracing::info!("node metrics on http://{http}/metrics");
            }
            tokio::signal::ctrl_c().await?;
            Ok(ok)
        }
        Command::Job(command) => {
            let coordinator = cli.coordinator.resolve().await?;
            jobs::run(command, &identity(Role::Admin)?, coordinator).await
        }
        Command::Checkpoint(CheckpointCommand::List { job }) => {
            let coordinator = cli.coordinator.resolve().await?;
            jobs::checkpoint_list(&job, &identity(Role::Admin)?, coordinator).await
        }
        Command::Model(command) => {
            let coordinator = cli.coordinator.resolve().await?;
            models::run(command, &identity(Role::Admin)?, coordinator).await
        }
        Command::Cluster(ClusterCommand::Status { json }) => {
            let coordinator = cli.coordinator.resolve().await?;
            jobs::cluster_status(&identity(Role::Admin)?, coordinator, json).await
        }
        Command::Local {
            spec,
            nodes,
            http,
            duration,
        } => {
            let http = match http {
                Some(address) => Some(address.resolve().await?),
                None => None,
            };
            local::run(&spec, nodes, http, duration, data).await
        }
        Command::Serve {
            redis,
            listen,
            tables,
        } => serve_redis(&redis, &listen, tables).await,
    }
}

/// `quiver serve`: the serving API over Redis until the process is stopped.
async fn serve_redis(
    redis: &str,
    listen: &HostPort,
    tables: Vec<String>,
) -> Result<std::process::ExitCode> {
    use quiver_node::serving::{api, redis::RedisLookup};
    let lookup = RedisLookup::new(redis, tables).map_err(anyhow::Error::msg)?;
    let addr = listen.resolve().await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}: pass another --listen HOST:PORT"))?;
    eprintln!(
        "serving API and page: http://{}/ (rows from {redis})",
        listener.local_addr()?
    );
    api::serve(listener, std::sync::Arc::new(lookup)).await?;
    Ok(std::process::ExitCode::SUCCESS)
}

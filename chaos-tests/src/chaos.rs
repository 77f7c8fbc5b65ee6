//! `quiver-chaos`: the chaos suite users run to trust Quiver. It starts a real cluster on this
//! machine (a coordinator and nodes as processes), runs two jobs whose output can be checked
//! independently (aggregates, and a learner whose served version is swapped), injects faults
//! on a seeded schedule — killed and frozen nodes, a killed coordinator, task panics, lossy /
//! slow / duplicating / reordering links, network partitions, full disks, corrupt checkpoint
//! blobs, a node killed during a model swap — and proves that nothing was lost or duplicated
//! and that model versions switched in order:
//!
//! ```text
//! cargo run --release --bin quiver-chaos -- --seed 7 --duration 2m --report chaos.json
//! ```
//!
//! Partitions and disk faults need root (network namespaces, `tmpfs` mounts); without it the
//! run leaves them out and says so. A failing run prints the command that replays it.

pub mod cluster;
pub mod disk;
pub mod faults;
mod interrupt;
mod leftovers;
pub mod models;
mod monitor;
pub mod proxy;
pub mod report;
pub mod rng;
mod run;
pub mod swaps;
pub mod workload;

use clap::Parser;
use faults::FaultKind;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The command line of `quiver-chaos`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "quiver-chaos",
    about = "Run a Quiver cluster on this machine, inject faults on a seeded schedule, and check \
             that the job's output has no row lost or duplicated.",
    after_help = "Fault kinds: node-kill, node-stop, coordinator-kill, task-panic, net-drop, \
                  net-delay, net-duplicate, net-reorder, partition-both, partition-one-way, \
                  disk-full, corrupt-blob, swap-kill. Partitions and disk-full need root.\n\
                  Ctrl-C (or SIGTERM, SIGHUP) stops the run early: its processes, network \
                  namespaces and mounts are removed and what ran so far is reported.\n\
                  Exit status: 0 if the verdict is pass, 1 if it is fail, 2 if the run could \
                  not be set up, 128 + the signal's number if a signal stopped it."
)]
pub struct Options {
    /// Seed of the fault schedule and of the workload (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long to inject faults, e.g. `2m`, `90s`, `10m`.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Faults to inject (default: one per 5 s of --duration).
    #[arg(long)]
    pub injections: Option<usize>,
    /// Write the report as JSON here too.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Node processes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(2..=16))]
    pub nodes: u16,
    /// Fault kinds to choose from, comma separated (default: every kind this machine allows).
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub faults: Vec<FaultKind>,
    /// Events per second of the workload's generator.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub rate: u64,
    /// Keep the run's folder (logs, data, output) here instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Run everything on loopback even as root (no partitions or disk faults).
    #[arg(long)]
    pub no_isolation: bool,
    /// Run a deliberately broken build, to see the checker catch it: `alignment` makes tasks
    /// skip barrier alignment.
    #[arg(long = "break", value_name = "WHAT", value_parser = ["alignment"])]
    pub broken: Option<String>,
    /// Only remove what runs killed outright (SIGKILL) left behind — their processes, network
    /// namespaces, links and mounts — and exit. Every run does this first.
    #[arg(long)]
    pub clean: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    quiver_protocol::spec::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_kind(text: &str) -> Result<FaultKind, String> {
    FaultKind::parse(text).ok_or_else(|| format!("unknown fault kind `{text}` (see --help)"))
}

impl Options {
    /// The seed, with the clock's default filled in.
    fn resolved(mut self) -> ResolvedOptions {
        let seed = self.seed.take().unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        ResolvedOptions {
            seed,
            options: self,
        }
    }
}

/// Options with every default decided.
pub struct ResolvedOptions {
    /// The seed.
    pub seed: u64,
    options: Options,
}

impl std::ops::Deref for ResolvedOptions {
    type Target = Options;
    fn deref(&self) -> &Options {
        &self.options
    }
}

impl ResolvedOptions {
    /// The kinds to choose from.
    pub fn kinds(&self) -> Vec<FaultKind> {
        if self.faults.is_empty() {
            FaultKind::ALL.to_vec()
        } else {
            let mut kinds = self.faults.clone();
            kinds.sort();
            kinds.dedup();
            kinds
        }
    }

    /// How many faults to inject.
    pub fn injection_count(&self) -> usize {
        self.options
            .injections
            .unwrap_or((self.duration.as_secs() / 5).max(1) as usize)
    }

    /// The command that replays this run.
    pub fn replay(&self) -> String {
        let mut cmd = format!(
            "cargo run --release --bin quiver-chaos -- --seed {} --duration {}s --injections {} --nodes {} --rate {}",
            self.seed,
            self.duration.as_secs(),
            self.injection_count(),
            self.nodes,
            self.rate
        );
        if !self.faults.is_empty() {
            let names: Vec<&str> = self.kinds().iter().map(|k| k.name()).collect();
            cmd.push_str(&format!(" --faults {}", names.join(",")));
        }
        if self.no_isolation {
            cmd.push_str(" --no-isolation");
        }
        if let Some(b) = &self.broken {
            cmd.push_str(&format!(" --break {b}"));
        }
        cmd
    }
}

/// Whether this process may build network namespaces and mount file systems.
fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `quiver-chaos` with `args` (the program name first).
pub fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let options = Options::parse_from(args).resolved();
    // The cluster's processes inherit these: they arm the chaos build's fault hooks.
    std::env::set_var("QUIVER_CHAOS", "1");
    if let Some(b) = &options.broken {
        std::env::set_var("QUIVER_CHAOS_BREAK", b);
    }
    let isolated = !options.no_isolation && is_root();
    if !isolated && !options.no_isolation {
        eprintln!("chaos: not root, so no network partitions or disk faults in this run (run as root for them)");
    }
    if let Err(e) = interrupt::install() {
        eprintln!("error: cannot handle Ctrl-C: {e}");
        return ExitCode::from(2);
    }
    for removed in leftovers::sweep() {
        eprintln!("chaos: {removed}");
    }
    if options.clean {
        return ExitCode::SUCCESS;
    }
    eprintln!("chaos: seed {}", options.seed);
    let (temp, dir) = match &options.dir {
        Some(d) => (None, d.clone()),
        None => match tempfile::Builder::new().prefix("quiver-chaos-").tempdir() {
            Ok(t) => {
                let path = t.path().to_path_buf();
                (Some(t), path)
            }
            Err(e) => {
                eprintln!("error: cannot make a folder for the run: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let _registration = match leftovers::Registration::new(&dir) {
        Ok(r) => Some(r),
        Err(e) if isolated => {
            eprintln!("error: cannot register the run: {e}");
            return ExitCode::from(2);
        }
        // Not root: nothing a killed run leaves needs root to find.
        Err(_) => None,
    };
    let report = match run::run(&options, &dir, isolated) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}\nthe run's folder: {}", dir.display());
            if let Some(t) = temp {
                let _ = t.keep();
            }
            return interrupted().unwrap_or(ExitCode::from(2));
        }
    };
    print!("{}", report.text());
    if let Some(path) = &options.report {
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("error: cannot write the report to {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if let Some(code) = interrupted() {
        eprintln!("the run's folder (logs, data, output): {}", dir.display());
        if let Some(t) = temp {
            let _ = t.keep();
        }
        code
    } else if report.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!("the run's folder (logs, data, output): {}", dir.display());
        if let Some(t) = temp {
            let _ = t.keep();
        }
        ExitCode::FAILURE
    }
}

/// The exit status of a run a signal stopped: 128 + the signal's number.
fn interrupted() -> Option<ExitCode> {
    interrupt::received().map(|(_, number)| ExitCode::from(128 + number as u8))
}

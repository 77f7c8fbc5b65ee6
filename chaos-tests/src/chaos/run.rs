//! One chaos run: start the cluster, submit the workload, inject faults on the seeded
//! schedule while a monitor samples the job, wait for the job to finish, check its output.

use super::cluster::{ChaosCluster, Cli};
use super::faults::{self, FaultKind};
use super::interrupt;
use super::models::ModelWorkload;
use super::monitor::{processed, published_again, Monitor};
use super::report::{Injection, Report, RunFacts};
use super::rng::Rng;
use super::swaps::Swaps;
use super::workload::{Findings, GeneratorWorkload};
use super::ResolvedOptions;
use quiver_protocol::messages::JobState;
use std::time::{Duration, Instant};

/// The checked aggregates' job: the run submits it first to a fresh coordinator.
const JOB: &str = "job-1";
/// The model-swap job, submitted second.
const MODEL_JOB: &str = "job-2";
/// A fault the job has not recovered from in this long fails the run.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);
/// Checkpoint interval of the workload.
const CHECKPOINT_INTERVAL: &str = "500ms";

/// Submits the job of `spec`.
fn submit(cli: &Cli, spec: &std::path::Path) -> Result<(), String> {
    let submitted = cli.run(&["job", "submit", &spec.to_string_lossy()]);
    if submitted.as_ref().is_some_and(|o| o.status.success()) {
        return Ok(());
    }
    Err(format!(
        "{} was not accepted: {}",
        spec.display(),
        submitted
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default()
    ))
}

/// Waits until the model job finished; false after `limit` or if it failed.
fn wait_for_model_job(cli: &Cli, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && interrupt::received().is_none() {
        match cli.status(MODEL_JOB).map(|r| r.summary.state) {
            Some(JobState::Finished) => return true,
            Some(JobState::Failed | JobState::Cancelled) => return false,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    false
}

/// Why the run stops after `injected` faults, if a signal came.
fn stopped_by_signal(injected: usize) -> Option<String> {
    interrupt::received().map(|(signal, _)| {
        format!("{signal} stopped the run after {injected} injections; the output was not checked")
    })
}

/// Runs the chaos run `options` describes in `dir`; returns its report.
pub(super) fn run(
    options: &ResolvedOptions,
    dir: &std::path::Path,
    isolated: bool,
) -> Result<Report, String> {
    let started = Instant::now();
    let mut rng = Rng::new(options.seed);
    let injections = options.injection_count();
    let workload = GeneratorWorkload {
        count: options.rate * (options.duration.as_secs() + 20),
        keys: 3000,
        seed: options.seed,
        rate: options.rate,
    };
    let mut cluster = ChaosCluster::start(dir, usize::from(options.nodes), isolated, options.seed)
        .map_err(|e| e.to_string())?;
    let kinds: Vec<FaultKind> = options
        .kinds()
        .into_iter()
        .filter(|k| cluster.supports(*k))
        .collect();
    if kinds.is_empty() {
        return Err(
            "no fault kind chosen can run here (partitions and disk faults need root)".into(),
        );
    }
    let job_dir = dir.join("job");
    let spec = job_dir.join("job.toml");
    std::fs::write(&spec, workload.spec("chaos", CHECKPOINT_INTERVAL))
        .map_err(|e| format!("write the job spec: {e}"))?;
    submit(&cluster.cli, &spec)?;
    let models = ModelWorkload {
        rows: workload.count / 4,
        rate: options.rate / 2,
        seed: options.seed,
    };
    let model_spec = job_dir.join("models.toml");
    models
        .write(&job_dir, CHECKPOINT_INTERVAL)
        .and_then(|text| std::fs::write(&model_spec, text))
        .map_err(|e| format!("write the model job: {e}"))?;
    submit(&cluster.cli, &model_spec)?;
    let monitor = Monitor::start(cluster.cli.clone(), JOB);
    if monitor
        .wait(
            started,
            Duration::from_secs(60),
            |s| s.checkpoint > 0,
            || (),
        )
        .is_none()
    {
        if let Some((signal, _)) = interrupt::received() {
            return Err(format!("{signal} stopped the run before its faults began"));
        }
        return Err(format!(
            "the job completed no checkpoint within 60 s\n{}",
            cluster.logs_tail(30)
        ));
    }
    let mut swaps = Swaps::prepare(&cluster.cli, MODEL_JOB, Duration::from_secs(60))?;
    eprintln!(
        "chaos: the jobs run; injecting {injections} faults over {:?} (kinds: {})",
        options.duration,
        kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );

    let phase = Instant::now();
    let mut cycle: Vec<FaultKind> = Vec::new();
    let mut records = Vec::new();
    let mut reasons = Vec::new();
    for n in 0..injections {
        if let Some(reason) = stopped_by_signal(n) {
            reasons.push(reason);
            break;
        }
        if monitor
            .latest()
            .is_some_and(|s| s.state == JobState::Finished)
        {
            reasons.push(format!(
                "the job finished after {n} injections: raise --rate or shorten --duration"
            ));
            break;
        }
        if cycle.is_empty() {
            cycle = kinds.clone();
            rng.shuffle(&mut cycle);
        }
        let mut fault = faults::plan(
            cycle.pop().unwrap_or(FaultKind::NodeKill),
            usize::from(options.nodes),
            &mut rng,
        );
        if fault.kind == FaultKind::TaskPanic {
            if let Some(busy) = cluster.nodes_with_tasks() {
                faults::aim(&mut fault, &busy);
            }
        }
        let before = monitor.latest();
        if fault.kind == FaultKind::SwapKill {
            swaps.start(&cluster.cli);
            interrupt::sleep(Duration::from_millis(rng.range(20, 300)));
        }
        // A fault over at once is timed against the newest checkpoint right before it (the
        // monitor's last sample can be 200 ms old).
        let baseline = match fault.kind.instantaneous() {
            true => cluster.cli.status(JOB).and_then(|r| r.last_checkpoint),
            false => None,
        }
        .map_or(before.map_or(0, |b| b.checkpoint), |c| c.0);
        let injected = Instant::now();
        if let Err(e) = faults::inject(&mut cluster, &fault) {
            reasons.push(format!("cannot inject {}: {e}", fault.kind.name()));
            break;
        }
        interrupt::sleep(fault.hold);
        if let Err(e) = faults::lift(&mut cluster, &fault) {
            reasons.push(format!("cannot lift {}: {e}", fault.kind.name()));
            break;
        }
        let lifted = Instant::now();
        let ended = if fault.kind.instantaneous() {
            injected
        } else {
            lifted
        };
        let checkpoint = monitor.latest().map_or(0, |s| s.checkpoint);
        let supervise = || {
            for name in cluster.supervise() {
                eprintln!("chaos: supervisor restarted {name}, which had exited");
            }
        };
        // The samples since the injection, up to `to`.
        let window = |to: Instant| {
            let mut samples = monitor.since(injected);
            samples.retain(|s| s.at <= to);
            samples
        };
        let instantaneous = fault.kind.instantaneous();
        let recovered = monitor.wait(
            lifted,
            RECOVERY_LIMIT,
            |s| {
                s.state == JobState::Running
                    && s.checkpoint > checkpoint
                    && (!instantaneous || published_again(baseline, &window(s.at)).is_some())
            },
            supervise,
        );
        if let Some(reason) = stopped_by_signal(n + 1) {
            reasons.push(reason);
            break;
        }
        // The job surely runs again; a fault over at once may have been recovered from
        // before it was lifted (a killed node found dead before its restart).
        let recovered = match instantaneous {
            true => recovered.and_then(|r| published_again(baseline, &window(r.at))),
            false => recovered,
        };
        let samples = monitor.since(before.map_or(injected, |b| b.at));
        let record = Injection {
            kind: fault.kind.name().into(),
            target: fault.target.clone(),
            detail: fault.detail.clone(),
            at_ms: injected.duration_since(started).as_millis() as u64,
            held_ms: lifted.duration_since(injected).as_millis() as u64,
            recovery_ms: recovered.map(|s| s.at.duration_since(ended).as_millis() as u64),
            outage_ms: recovered.map(|s| s.at.duration_since(injected).as_millis() as u64),
            restarts: match (before, recovered) {
                (Some(b), Some(r)) => r.restarts.saturating_sub(b.restarts),
                _ => 0,
            },
            throughput_dip: recovered.map_or(1.0, |r| {
                let seconds = r.at.duration_since(injected).as_secs_f64();
                let expected = options.rate as f64 * seconds;
                (1.0 - processed(&samples, r.at) as f64 / expected).clamp(0.0, 1.0)
            }),
        };
        eprintln!(
            "chaos: {:>3}/{injections} {:<18} {:<12} {:<18} held {:>5} ms, {}",
            n + 1,
            record.kind,
            record.target,
            record.detail,
            record.held_ms,
            record
                .recovery_ms
                .map_or("did not recover".into(), |ms| format!(
                    "recovered in {ms} ms"
                ))
        );
        let failed = record.recovery_ms.is_none();
        records.push(record);
        if failed {
            let state = monitor
                .latest()
                .map(|s| format!("{:?}", s.state))
                .unwrap_or_default();
            reasons.push(format!(
                "the job did not recover from {} within {RECOVERY_LIMIT:?} (state {state})",
                fault.kind.name()
            ));
            break;
        }
        if n % 3 == 2 {
            swaps.start(&cluster.cli);
            swaps.wait();
        }
        // Spread what is left over what is left of the phase.
        let left = options.duration.saturating_sub(phase.elapsed());
        let gap = left / (injections - n) as u32;
        interrupt::sleep(
            gap.min(Duration::from_millis(rng.range(300, 1_500)))
                .max(Duration::from_millis(200)),
        );
    }

    let findings = if reasons.is_empty() {
        let left = workload
            .count
            .saturating_sub(monitor.latest().map_or(0, |s| s.source_records));
        let limit = Duration::from_secs(left / options.rate.max(1) + 120);
        eprintln!("chaos: faults done; waiting for the job to finish (at most {limit:?})");
        let supervise = || {
            cluster.supervise();
        };
        swaps.wait();
        let finished = monitor
            .wait(phase, limit, |s| s.state == JobState::Finished, supervise)
            .is_some()
            && wait_for_model_job(&cluster.cli, limit);
        match finished {
            true => workload
                .check(&job_dir)
                .merged(models.check(&job_dir, &swaps.phases)),
            false if interrupt::received().is_some() => {
                reasons.extend(stopped_by_signal(records.len()));
                Findings::default()
            }
            false => {
                let outgrown = match cluster.job_disk.as_ref().map(|d| d.is_full()) {
                    Some(Ok(true)) => {
                        "; the job folder's file system is full: the run's files outgrew it \
                         (lower --rate or --duration)"
                    }
                    _ => "",
                };
                reasons.push(format!(
                    "the jobs did not finish (job-1 {:?}, {MODEL_JOB} {:?}){outgrown}",
                    monitor.latest().map(|s| s.state),
                    cluster.cli.status(MODEL_JOB).map(|r| r.summary.state)
                ));
                Findings::default()
            }
        }
    } else {
        Findings::default()
    };
    let signal = interrupt::received();
    if signal.is_none() && (!reasons.is_empty() || !findings.exact()) {
        eprintln!("{}", cluster.logs_tail(40));
        if cluster.job_disk.is_some() {
            // The job's folder is a tmpfs that goes with the cluster: keep a copy to look at.
            let kept = dir.join("job-kept");
            let copied = std::process::Command::new("cp")
                .arg("-a")
                .arg(&job_dir)
                .arg(&kept)
                .status();
            eprintln!(
                "chaos: the job's folder is copied to {} ({copied:?})",
                kept.display()
            );
        }
    }
    let facts = RunFacts {
        seed: options.seed,
        duration_s: options.duration.as_secs(),
        isolated: cluster.network.is_some(),
        rate: options.rate,
        replay: options.replay(),
    };
    let mut report = Report::new(facts, records, findings, reasons);
    report.elapsed_s = started.elapsed().as_secs_f64();
    if signal.is_some() {
        report.verdict = "interrupted".into();
    }
    Ok(report)
}

//! The model swaps a chaos run asks for between (and during) faults: deploy V1, A/B V1 and
//! V2, deploy V2, round and round; each recorded as the phase it leads to, for the model
//! workload's checker.

use super::cluster::Cli;
use super::models::{versions, Phase, SPLIT};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The swaps a run asks for, in order, and the phases they lead to.
pub struct Swaps {
    job: &'static str,
    v1: u64,
    v2: u64,
    next: usize,
    /// The phases asked for so far, [`Phase::Latest`] first.
    pub phases: Vec<Phase>,
    running: Option<std::thread::JoinHandle<()>>,
}

impl Swaps {
    /// Waits (up to `limit`) until `job`'s `clf` has two registered versions, names them with
    /// aliases so retention keeps them, and returns the swaps between them.
    pub fn prepare(cli: &Cli, job: &'static str, limit: Duration) -> Result<Swaps, String> {
        let start = Instant::now();
        let (v1, v2) = loop {
            let listed = cli
                .run(&["model", "list", job, "--json"])
                .filter(|o| o.status.success())
                .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
                .map(|v| versions(&v))
                .unwrap_or_default();
            if let [.., v1, v2] = listed[..] {
                // Retention may drop a listed version before it is named: list again then.
                let named = [("keep-a", v1), ("keep-b", v2)].iter().all(|(alias, v)| {
                    cli.run(&["model", "alias", job, "clf", alias, &v.to_string()])
                        .is_some_and(|o| o.status.success())
                });
                if named {
                    break (v1, v2);
                }
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "{job} registered {} model versions in {limit:?}, not 2 that could be named",
                    listed.len()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        Ok(Swaps {
            job,
            v1,
            v2,
            next: 0,
            phases: vec![Phase::Latest],
            running: None,
        })
    }

    /// The next swap's arguments and phase: deploy V1, A/B V1 and V2, deploy V2, again.
    fn take(&mut self) -> (Vec<String>, Phase) {
        let (v1, v2) = (self.v1.to_string(), self.v2.to_string());
        let base = [
            "model".to_string(),
            String::new(),
            self.job.into(),
            "clf".into(),
        ];
        let step = self.next % 3;
        self.next += 1;
        let (command, rest, phase): (&str, Vec<String>, Phase) = match step {
            0 => ("deploy", vec![v1], Phase::Pinned(self.v1)),
            1 => (
                "ab",
                vec![
                    "--a".into(),
                    v1,
                    "--b".into(),
                    v2,
                    "--split".into(),
                    SPLIT.to_string(),
                ],
                Phase::Split {
                    a: self.v1,
                    b: self.v2,
                },
            ),
            _ => ("deploy", vec![v2], Phase::Pinned(self.v2)),
        };
        let mut args = base.to_vec();
        args[1] = command.into();
        args.extend(rest);
        self.phases.push(phase);
        (args, phase)
    }

    /// Asks for the next swap without waiting for it (a fault may follow at once); the swap
    /// before it is waited for first, so swaps never overlap.
    pub fn start(&mut self, cli: &Cli) {
        self.wait();
        let (args, phase) = self.take();
        let cli = cli.clone();
        self.running = Some(std::thread::spawn(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let done = cli.run(&refs).is_some_and(|o| o.status.success());
            let outcome = if done { "done" } else { "refused or cut short" };
            eprintln!("chaos: model swap to {phase:?}: {outcome}");
        }));
    }

    /// Waits for the swap under way, if any.
    pub fn wait(&mut self) {
        if let Some(t) = self.running.take() {
            let _ = t.join();
        }
    }
}

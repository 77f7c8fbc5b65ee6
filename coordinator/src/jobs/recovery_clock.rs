//! How long a job's recovery takes, phase by phase: detection, the restore point's search,
//! placement, deployment with state restore, and the first output (the recovered run's
//! first checkpoint, when its sinks publish again).

use quiver_protocol::messages::RecoveryTimes;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Recoveries a job remembers.
pub(super) const KEPT_RECOVERIES: usize = 20;

/// The phases of a recovery under way, as they are reached.
#[derive(Debug)]
pub(super) struct RecoveryClock {
    reason: String,
    detected_at_ms: u64,
    /// The last sign of life of what failed.
    fault: Instant,
    detected: Instant,
    /// When the current attempt found its restore point, was deployed, and started.
    restore_found: Option<Instant>,
    deployed: Option<Instant>,
    started: Option<Instant>,
    attempts: u32,
}

impl RecoveryClock {
    /// A recovery acted on at `now`, for a failure whose last sign of life was at `fault`.
    pub(super) fn detected(reason: &str, fault: Instant, now: Instant) -> RecoveryClock {
        RecoveryClock {
            reason: reason.to_string(),
            detected_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            fault: fault.min(now),
            detected: now,
            restore_found: None,
            deployed: None,
            started: None,
            attempts: 1,
        }
    }

    /// The job failed again before publishing: the recovery goes on from detection, one
    /// attempt more.
    pub(super) fn failed_again(&mut self) {
        self.restore_found = None;
        self.deployed = None;
        self.started = None;
        self.attempts += 1;
    }

    /// The restore point is known.
    pub(super) fn restore_found(&mut self, now: Instant) {
        self.restore_found.get_or_insert(now);
    }

    /// The deployment was sent.
    pub(super) fn deployed(&mut self, now: Instant) {
        self.deployed.get_or_insert(now);
    }

    /// Every node deployed its part and the job started.
    pub(super) fn started(&mut self, now: Instant) {
        self.started.get_or_insert(now);
    }

    /// The first checkpoint of the recovered run completed at `now`: the phases' times.
    pub(super) fn published(&self, now: Instant) -> RecoveryTimes {
        let detected = self.detected;
        let found = self.restore_found.unwrap_or(detected);
        let deployed = self.deployed.unwrap_or(found);
        let started = self.started.unwrap_or(deployed);
        // Milliseconds since the fault, so that the phases add up to the total exactly.
        let at = |t: Instant| t.saturating_duration_since(self.fault).as_millis() as u64;
        let (detected, found, deployed, started, now) =
            (at(detected), at(found), at(deployed), at(started), at(now));
        RecoveryTimes {
            detected_at_ms: self.detected_at_ms,
            reason: self.reason.clone(),
            attempts: self.attempts,
            detect_ms: detected,
            restore_point_ms: found.saturating_sub(detected),
            placement_ms: deployed.saturating_sub(found),
            deploy_ms: started.saturating_sub(deployed),
            first_output_ms: now.saturating_sub(started),
            total_ms: now,
        }
    }
}

/// Adds a finished recovery to the ones a job remembers, forgetting the oldest beyond
/// [`KEPT_RECOVERIES`].
pub(super) fn remember(kept: &mut VecDeque<RecoveryTimes>, times: RecoveryTimes) {
    if kept.len() == KEPT_RECOVERIES {
        kept.pop_front();
    }
    kept.push_back(times);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn phases_follow_each_other_and_add_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut clock = RecoveryClock::detected("node-1 was lost", at(0), at(1_900));
        clock.restore_found(at(1_950));
        clock.deployed(at(2_000));
        clock.started(at(2_300));
        let times = clock.published(at(2_450));
        assert_eq!(
            (
                times.detect_ms,
                times.restore_point_ms,
                times.placement_ms,
                times.deploy_ms,
                times.first_output_ms,
                times.total_ms
            ),
            (1_900, 50, 50, 300, 150, 2_450)
        );
        assert_eq!(times.attempts, 1);
    }

    #[test]
    fn a_second_failure_while_recovering_counts_an_attempt_and_keeps_the_first_fault() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut clock = RecoveryClock::detected("a task failed", at(0), at(0));
        clock.restore_found(at(10));
        clock.deployed(at(20));
        clock.failed_again();
        clock.restore_found(at(600));
        clock.deployed(at(610));
        clock.started(at(700));
        let times = clock.published(at(800));
        assert_eq!(times.attempts, 2);
        assert_eq!(times.restore_point_ms, 600, "the attempt that published");
        assert_eq!(times.total_ms, 800);
        assert_eq!(times.reason, "a task failed");
    }

    #[test]
    fn only_the_latest_recoveries_are_kept() {
        let mut kept = VecDeque::new();
        for i in 0..KEPT_RECOVERIES + 3 {
            let times = RecoveryTimes {
                attempts: i as u32,
                ..RecoveryTimes::default()
            };
            remember(&mut kept, times);
        }
        assert_eq!(kept.len(), KEPT_RECOVERIES);
        assert_eq!(kept.front().map(|t| t.attempts), Some(3));
    }
}

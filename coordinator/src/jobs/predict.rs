//! `predict` stages follow what their spec names (design §6, "Parameter servers, versions and
//! swaps"). A learner's deploy, promote or rollback that moves `champion` or `challenger`
//! moves the predict stages following that alias in the same serving table, so they switch at
//! the learner's barrier ([`moved_with`]). Otherwise (`quiver model alias`, a version
//! registered), on every tick without a swap under way the coordinator resolves each predict
//! stage's `alias` (or `version`) against the registry and, when it names another version than
//! the stage's entry of the serving table pins, swaps the stage to it like a learner
//! (`begin_swap`: the nodes load the version, the next barrier carries the table). A user's
//! swap asked while such a swap is under way waits for it rather than failing. Until its
//! alias or version names a registered version a predict stage serves nothing (null outputs);
//! an alias removed leaves it on what it serves.

use super::serving::{implied_aliases, SwapWaiter};
use super::Cluster;
use quiver_protocol::models::{ModelVersionInfo, Serving, SwapChange, SwapReport};
use quiver_protocol::spec::{JobSpec, PredictVersion};
use quiver_protocol::{CheckpointId, JobId};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long a version a predict stage could not be swapped to waits before it is tried again
/// (a node that could not load it, a recovery under way).
const RETRY: Duration = Duration::from_secs(5);

/// The swaps of a job's predict stages: the one under way, and the versions that failed.
#[derive(Default)]
pub(super) struct Following {
    /// The swap under way.
    pending: Option<Pending>,
    /// Per stage, a version its swap failed to and when.
    failed: BTreeMap<String, (CheckpointId, Instant)>,
    /// A user's swap asked while one of these was under way: started when it is done.
    queued: Option<(String, SwapChange, SwapWaiter)>,
}

/// The predict stages of `spec` following an alias of learner `learner` that serving
/// `serving` names (see [`implied_aliases`]), with the version it names.
pub(super) fn moved_with(
    spec: &JobSpec,
    learner: &str,
    serving: &Serving,
) -> Vec<(String, CheckpointId)> {
    let aliases = implied_aliases(serving);
    spec.predict_stages()
        .filter(|(_, p)| p.model == learner)
        .filter_map(|(name, p)| {
            let PredictVersion::Alias(alias) = &p.version else {
                return None;
            };
            let (_, version) = aliases.iter().find(|(a, _)| a == alias)?;
            Some((name.to_string(), (*version)?))
        })
        .collect()
}

/// A predict stage's swap under way.
struct Pending {
    stage: String,
    version: CheckpointId,
    answer: oneshot::Receiver<Result<SwapReport, String>>,
}

/// The version `version` names among the registered versions of learner `model`.
fn target(
    version: &PredictVersion,
    model: &str,
    registered: &[ModelVersionInfo],
) -> Option<CheckpointId> {
    let mut of_model = registered.iter().filter(|v| v.stage == model);
    match version {
        PredictVersion::Alias(alias) => of_model
            .find(|v| v.aliases.iter().any(|a| a == alias))
            .map(|v| v.version),
        PredictVersion::Version(n) => of_model.find(|v| v.version.0 == *n).map(|v| v.version),
    }
}

impl Cluster {
    /// Takes the answer of a predict stage's swap, then starts the swap of the first predict
    /// stage of `job` that serves another version than its spec names; whether a swap is
    /// under way (started now or still unanswered). Called when no other swap is under way.
    pub(super) fn predict_tick(&mut self, job: JobId) -> bool {
        if self.predict_answered(job) {
            return true;
        }
        let Some(entry) = self.jobs.get_mut(&job) else {
            return false;
        };
        if let Some((stage, change, waiter)) = entry.serving.following.queued.take() {
            self.request_swap(job, &stage, change, waiter);
            return true;
        }
        let stages: Vec<(String, String, PredictVersion)> = entry
            .plan
            .spec
            .predict_stages()
            .map(|(name, p)| (name.to_string(), p.model.clone(), p.version.clone()))
            .collect();
        if stages.is_empty() {
            return false;
        }
        let registered = match self.registry.versions(job) {
            Ok(registered) => registered,
            Err(e) => {
                tracing::warn!("{job}: cannot read the registry for its predict stages: {e}");
                return false;
            }
        };
        for (stage, model, version) in stages {
            let Some(target) = target(&version, &model, &registered) else {
                continue;
            };
            let following = &entry.serving.following;
            let failed = following.failed.get(&stage);
            let now = entry.serving.current().of(&stage);
            if *now == Serving::Pinned(target)
                || failed.is_some_and(|(v, at)| *v == target && at.elapsed() < RETRY)
            {
                continue;
            }
            let named = match &version {
                PredictVersion::Alias(alias) => format!("alias {alias:?} of {model} names"),
                PredictVersion::Version(_) => format!("{model} registered"),
            };
            tracing::info!("{job}: stage {stage}: {named} {target}: serving it");
            let (tx, rx) = oneshot::channel();
            self.begin_swap(
                job,
                &stage,
                SwapChange::Deploy {
                    version: target,
                    canary: None,
                },
                tx,
            );
            if let Some(entry) = self.jobs.get_mut(&job) {
                entry.serving.following.pending = Some(Pending {
                    stage,
                    version: target,
                    answer: rx,
                });
            }
            return true;
        }
        false
    }

    /// Queues a user's swap behind a predict stage's swap under way; gives it back when none
    /// is (or another user's swap is queued already).
    pub(super) fn queue_swap(
        &mut self,
        job: JobId,
        stage: &str,
        change: SwapChange,
        waiter: SwapWaiter,
    ) -> Option<(SwapChange, SwapWaiter)> {
        let Some(following) = self.jobs.get_mut(&job).map(|e| &mut e.serving.following) else {
            return Some((change, waiter));
        };
        if following.pending.is_none() || following.queued.is_some() {
            return Some((change, waiter));
        }
        following.queued = Some((stage.to_string(), change, waiter));
        None
    }

    /// Reads the answer of the predict stage's swap under way: whether it is still unanswered.
    fn predict_answered(&mut self, job: JobId) -> bool {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return false;
        };
        let following = &mut entry.serving.following;
        let Some(mut pending) = following.pending.take() else {
            return false;
        };
        let why = match pending.answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {
                following.pending = Some(pending);
                return true;
            }
            Ok(Ok(_)) => {
                following.failed.remove(&pending.stage);
                return false;
            }
            Ok(Err(why)) => why,
            Err(oneshot::error::TryRecvError::Closed) => "the swap was dropped".to_string(),
        };
        let Pending { stage, version, .. } = pending;
        following
            .failed
            .insert(stage.clone(), (version, Instant::now()));
        let what = format!(
            "cannot serve {version} (tried again in {} s): {why}",
            RETRY.as_secs()
        );
        self.note_event(job, &stage, &what);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::models::ModelLineage;
    use quiver_protocol::Generation;

    fn version(stage: &str, v: u64, aliases: &[&str]) -> ModelVersionInfo {
        ModelVersionInfo {
            stage: stage.into(),
            version: CheckpointId(v),
            created_ms: 0,
            lineage: ModelLineage {
                job: JobId(1),
                checkpoint: CheckpointId(v),
                generation: Generation(0),
            },
            metrics: BTreeMap::new(),
            state_operator: format!("{stage}/params"),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            imported: None,
        }
    }

    #[test]
    fn a_learners_swap_moves_the_predict_stages_following_the_aliases_it_moves() {
        let stage = |name: &str, choice: &str| {
            format!(
                "[[stage]]\nname = \"{name}\"\nkind = \"predict\"\ninput = \"rows\"\n\
                 model = \"clf\"\n{choice}\n"
            )
        };
        let text = [
            "[job]\nname = \"j\"\ncheckpoint_interval = \"1s\"\n\
             [[source]]\nname = \"rows\"\nkind = \"generator\"\n\
             [[stage]]\nname = \"clf\"\nkind = \"logistic_regression\"\ninput = \"rows\"\n\
             features = [\"amount\"]\nlabel = \"user\"\n\
             [[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"clf\"\n"
                .to_string(),
            stage("by_default", ""),
            stage("challenged", "alias = \"challenger\""),
            stage("fixed", "version = 3"),
        ]
        .concat();
        let spec = JobSpec::parse(&text, std::path::Path::new("/jobs")).unwrap();
        let v = CheckpointId;
        let moved = |serving: Serving| moved_with(&spec, "clf", &serving);
        assert_eq!(
            moved(Serving::Pinned(v(5))),
            vec![("by_default".to_string(), v(5))]
        );
        let canary = |kind| Serving::Split {
            a: Some(v(3)),
            b: v(7),
            b_percent: 10.0,
            kind,
        };
        assert_eq!(
            moved(canary(quiver_protocol::models::SplitKind::Canary)),
            vec![
                ("by_default".to_string(), v(3)),
                ("challenged".to_string(), v(7))
            ]
        );
        // Neither an A/B nor the latest version names an alias; another learner moves none.
        assert!(moved(canary(quiver_protocol::models::SplitKind::Ab)).is_empty());
        assert!(moved(Serving::Latest).is_empty());
        assert!(moved_with(&spec, "other", &Serving::Pinned(v(5))).is_empty());
    }

    #[test]
    fn a_predict_stage_targets_what_its_alias_or_version_names_of_its_own_learner() {
        let registered = [
            version("clf", 3, &[]),
            version("clf", 5, &["champion"]),
            version("reg", 4, &["champion", "challenger"]),
            version("reg", 6, &[]),
        ];
        let alias = |a: &str| PredictVersion::Alias(a.into());
        assert_eq!(
            target(&alias("champion"), "clf", &registered),
            Some(CheckpointId(5))
        );
        assert_eq!(
            target(&alias("challenger"), "reg", &registered),
            Some(CheckpointId(4))
        );
        // Another learner's alias, or an alias not set yet: nothing to serve.
        assert_eq!(target(&alias("challenger"), "clf", &registered), None);
        assert_eq!(
            target(&PredictVersion::Version(3), "clf", &registered),
            Some(CheckpointId(3))
        );
        // Version 4 is reg's, not clf's; version 9 is not registered (yet).
        assert_eq!(
            target(&PredictVersion::Version(4), "clf", &registered),
            None
        );
        assert_eq!(
            target(&PredictVersion::Version(9), "reg", &registered),
            None
        );
    }
}

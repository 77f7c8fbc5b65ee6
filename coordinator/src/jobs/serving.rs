//! What a job's learners serve, and swaps (design §6, "Swaps ride on barriers"): `quiver
//! model deploy / promote / rollback / ab` build the next serving table, every node of the
//! job loads its versions (`ToNode::PrepareServing`), then the table is in force: every
//! checkpoint trigger carries its epoch, each learner partition switches when the first
//! barrier of the new epoch passes through it, and the swap is done when that checkpoint
//! completes. Each checkpoint knows the table its barrier carried, so a recovery serves
//! what the restored checkpoint served.

use super::{Cluster, JobEntry};
use quiver_protocol::messages::{JobState, ToNode};
use quiver_protocol::models::{
    utc, ModelStatus, ServedVersion, Serving, ServingTable, SplitKind, StageStatus, SwapChange,
    SwapReport, VersionStatus,
};
use quiver_protocol::plan::{OperatorKind, ParameterPlan};
use quiver_protocol::spec::{Guard, PredictVersion, ServingPolicy, StageKind, UpdatePolicy};
use quiver_protocol::{CheckpointId, Generation, JobId, NodeId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;
use tokio::sync::oneshot;

/// Who waits for a swap.
pub(crate) type SwapWaiter = oneshot::Sender<Result<SwapReport, String>>;

/// A swap on its way.
struct Swap {
    stage: String,
    /// It goes back to what the stage served before (its history shrinks).
    rollback: bool,
    table: ServingTable,
    /// Nodes that have not loaded its versions yet.
    loading: BTreeSet<NodeId>,
    started: Instant,
    waiter: SwapWaiter,
}

/// A job's serving tables and the swaps under way.
#[derive(Default)]
pub(super) struct ServingState {
    /// The table in force: triggers carry its epoch.
    current: ServingTable,
    /// Every table that was in force, by epoch.
    tables: BTreeMap<u64, ServingTable>,
    /// From which checkpoint's barrier on each epoch was carried: an entry where the epoch
    /// changed (the epoch a checkpoint carried is that of the greatest entry at or below it).
    carried: BTreeMap<CheckpointId, u64>,
    /// A swap whose versions the nodes are loading.
    loading: Option<Swap>,
    /// Swaps in force, waiting for a checkpoint that carried them to complete.
    switching: Vec<Swap>,
    /// What each stage served before each change, for rollbacks.
    history: BTreeMap<String, Vec<Serving>>,
    /// Per stage: since when it serves what it serves, and what its policies watch.
    watches: BTreeMap<String, Watch>,
    /// Recent automatic decisions, for `quiver model status`.
    events: VecDeque<String>,
    /// Drift detections summed over the job's tasks, as last acted on.
    drifts_seen: u64,
    /// What the `predict` stages follow ([`super::predict`]).
    pub(super) following: super::predict::Following,
    /// `tables`, `carried` or `history` changed since [`ServingState::take_changes`] last ran.
    changed: bool,
}

/// What a coordinator keeps of a job's serving across its own restarts: enough to serve what
/// the checkpoint a job restores from served, and to roll back from there.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedServing {
    tables: BTreeMap<u64, ServingTable>,
    carried: BTreeMap<CheckpointId, u64>,
    history: BTreeMap<String, Vec<Serving>>,
}

/// What a stage's guard and update policy watch since its last swap.
struct Watch {
    since: Instant,
    /// The stage's figures per scorer when the swap took effect.
    start: Figures,
    /// The mean loss of what the swap replaced (`None`: nothing labelled).
    replaced: Option<f64>,
    /// The guard has yet to judge the swap.
    guard_pending: bool,
    /// A performance policy's first window's mean loss, and the figures at the end of the
    /// last window judged.
    first_window: Option<f64>,
    window_mark: Sum,
}

/// Labelled records and summed loss.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
struct Sum {
    labelled: u64,
    loss: f64,
}

impl Sum {
    fn mean(self) -> Option<f64> {
        (self.labelled > 0).then(|| self.loss / self.labelled as f64)
    }

    fn minus(self, earlier: Sum) -> Sum {
        Sum {
            labelled: self.labelled.saturating_sub(earlier.labelled),
            loss: self.loss - earlier.loss,
        }
    }
}

impl std::ops::AddAssign for Sum {
    fn add_assign(&mut self, other: Sum) {
        self.labelled += other.labelled;
        self.loss += other.loss;
    }
}

/// A stage's figures over every partition, by scorer: (version, scored by the working
/// copy).
type Figures = BTreeMap<(u64, bool), Sum>;

/// The figures of the scorers `keep` admits, summed; `since`: minus those at that time.
fn total(now: &Figures, since: &Figures, keep: impl Fn(&(u64, bool)) -> bool) -> Sum {
    let mut sum = Sum::default();
    for (key, figures) in now.iter().filter(|(k, _)| keep(k)) {
        sum += figures.minus(since.get(key).copied().unwrap_or_default());
    }
    sum
}

/// The sides a serving scores with: registered versions, or (`None`) the working copy.
fn sides(serving: &Serving) -> Vec<Option<CheckpointId>> {
    match serving {
        Serving::Latest => vec![None],
        Serving::Pinned(v) => vec![Some(*v)],
        Serving::Split { a, b, .. } => vec![*a, Some(*b)],
    }
}

/// Whether scorer `key` serves for `side`: a registered version, or (`None`) the working
/// copy at any version.
fn on_side(key: &(u64, bool), side: Option<CheckpointId>) -> bool {
    match side {
        Some(v) => *key == (v.0, false),
        None => key.1,
    }
}

/// How many automatic decisions `quiver model status` shows.
const EVENTS: usize = 32;

impl ServingState {
    /// A job's serving as a coordinator saved it before it restarted.
    pub(super) fn from_saved(saved: SavedServing) -> ServingState {
        ServingState {
            tables: saved.tables,
            carried: saved.carried,
            history: saved.history,
            ..ServingState::default()
        }
    }

    /// What to save, if it changed since the last call.
    pub(super) fn take_changes(&mut self) -> Option<SavedServing> {
        if !std::mem::take(&mut self.changed) {
            return None;
        }
        Some(SavedServing {
            tables: self.tables.clone(),
            carried: self.carried.clone(),
            history: self.history.clone(),
        })
    }

    /// The table in force.
    pub(super) fn current(&self) -> &ServingTable {
        &self.current
    }

    /// The epoch checkpoint `checkpoint`'s barrier carried.
    fn epoch_at(&self, checkpoint: CheckpointId) -> Option<u64> {
        self.carried
            .range(..=checkpoint)
            .next_back()
            .map(|(_, epoch)| *epoch)
    }

    /// The epoch the next barrier carries; `checkpoint` is triggered with it.
    pub(super) fn carry(&mut self, checkpoint: CheckpointId) -> u64 {
        let epoch = self.current.epoch;
        if self.carried.last_key_value().map(|(_, e)| *e) != Some(epoch) {
            self.carried.insert(checkpoint, epoch);
            self.changed = true;
        }
        epoch
    }

    /// The table a deployment restoring `checkpoint` starts with (every stage latest
    /// without a checkpoint: the job's start); it is in force from then on.
    pub(super) fn restored(&mut self, checkpoint: Option<CheckpointId>) -> ServingTable {
        let table = checkpoint
            .and_then(|c| self.epoch_at(c))
            .and_then(|e| self.tables.get(&e))
            .cloned()
            .unwrap_or_default();
        self.current = table.clone();
        self.fail_all("the job recovered before the swap completed; run it again");
        table
    }

    /// Every version a table in force named (kept restorable beside aliased ones).
    pub(super) fn served_versions(&self) -> Vec<(String, CheckpointId)> {
        let tables = self.tables.values().chain([&self.current]);
        let mut served: Vec<_> = tables
            .flat_map(|t| t.stages.iter())
            .flat_map(|(stage, s)| s.versions().into_iter().map(|v| (stage.clone(), v)))
            .collect();
        served.sort();
        served.dedup();
        served
    }

    /// Checkpoint `checkpoint` completed: the swaps its barrier carried are done.
    pub(super) fn completed(&mut self, checkpoint: CheckpointId) {
        let Some(epoch) = self.epoch_at(checkpoint) else {
            return;
        };
        let (done, waiting): (Vec<Swap>, Vec<Swap>) = std::mem::take(&mut self.switching)
            .into_iter()
            .partition(|s| s.table.epoch <= epoch);
        self.switching = waiting;
        for swap in done {
            let report = SwapReport {
                serving: swap.table.of(&swap.stage).clone(),
                stage: swap.stage,
                epoch: swap.table.epoch,
                checkpoint,
                elapsed_ms: swap.started.elapsed().as_millis() as u64,
            };
            let _ = swap.waiter.send(Ok(report));
        }
    }

    /// Answers every waiting swap with `why`.
    pub(super) fn fail_all(&mut self, why: &str) {
        let loading = self.loading.take();
        for swap in loading.into_iter().chain(self.switching.drain(..)) {
            let _ = swap.waiter.send(Err(why.to_string()));
        }
    }
}

/// The guard's verdict on the last swap of a stage, once the new version scored enough
/// labelled records: `Some` rolls it back.
fn guard_decision(
    guard: &Guard,
    serving: &Serving,
    figures: &Figures,
    watch: &mut Watch,
) -> Option<(SwapChange, String)> {
    if !watch.guard_pending {
        return None;
    }
    let (candidate, reference) = match serving {
        Serving::Pinned(v) => (*v, None),
        Serving::Split { a, b, .. } => (*b, Some(*a)),
        Serving::Latest => {
            watch.guard_pending = false;
            return None;
        }
    };
    let new = total(figures, &watch.start, |k| on_side(k, Some(candidate)));
    if new.labelled < guard.min_records {
        return None;
    }
    watch.guard_pending = false;
    let baseline = match reference {
        Some(side) => total(figures, &watch.start, |k| on_side(k, side)).mean(),
        None => watch.replaced,
    }?;
    let now = new.mean()?;
    if now <= baseline * (1.0 + guard.max_increase) {
        tracing::info!("guard passed: {candidate} mean loss {now:.4}, baseline {baseline:.4}");
        return None;
    }
    Some((
        SwapChange::Rollback,
        format!(
            "automatic rollback: {candidate}'s mean loss {now:.4} over {} labelled records is \
             more than {:.0}% above {baseline:.4}, what it replaced",
            new.labelled,
            100.0 * guard.max_increase
        ),
    ))
}

/// The aliases a learner's serving names: `champion`, the version every key gets (a
/// canary's other side); `challenger`, a canary's version (`None`: the alias stays).
pub(super) fn implied_aliases(serving: &Serving) -> [(&'static str, Option<CheckpointId>); 2] {
    let (champion, challenger) = match serving {
        Serving::Latest => (None, None),
        Serving::Pinned(v) => (Some(*v), None),
        Serving::Split { a, b, kind, .. } => match kind {
            SplitKind::Canary => (*a, Some(*b)),
            SplitKind::Ab => (None, None),
        },
    };
    [("champion", champion), ("challenger", challenger)]
}

/// What `change` makes stage `stage` serve, from what it serves now (`history`: what it
/// served before).
fn next_serving(
    now: &Serving,
    history: &[Serving],
    change: &SwapChange,
) -> Result<Serving, String> {
    let percent = |p: f64, what: &str| {
        if p > 0.0 && p < 100.0 {
            Ok(p)
        } else {
            Err(format!(
                "{what} {p} must be a percentage strictly between 0 and 100"
            ))
        }
    };
    match change {
        SwapChange::Deploy {
            version,
            canary: None,
        } => Ok(Serving::Pinned(*version)),
        SwapChange::Deploy {
            version,
            canary: Some(p),
        } => Ok(Serving::Split {
            a: match now {
                Serving::Pinned(v) => Some(*v),
                _ => None,
            },
            b: *version,
            b_percent: percent(*p, "--canary")?,
            kind: SplitKind::Canary,
        }),
        SwapChange::Promote => match now {
            Serving::Split {
                b,
                kind: SplitKind::Canary,
                ..
            } => Ok(Serving::Pinned(*b)),
            other => Err(format!(
                "there is no canary to promote: the stage serves {}; start one with `quiver \
                 model deploy JOB STAGE VERSION --canary PCT`",
                other.describe()
            )),
        },
        SwapChange::Rollback => history.last().cloned().ok_or_else(|| {
            "there is nothing to roll back to: the stage has served what it serves since the \
             job started"
                .to_string()
        }),
        SwapChange::Ab { a, b, split } => {
            if a == b {
                return Err(format!("--a and --b are both {a}: name two versions"));
            }
            Ok(Serving::Split {
                a: Some(*a),
                b: *b,
                b_percent: percent(*split, "--split")?,
                kind: SplitKind::Ab,
            })
        }
    }
}

impl Cluster {
    /// Starts a swap of a learner (a user's or a policy's): a `predict` stage is refused,
    /// as it serves what its spec names (see [`Cluster::begin_swap`]).
    pub(crate) fn request_swap(
        &mut self,
        job: JobId,
        stage: &str,
        change: SwapChange,
        waiter: SwapWaiter,
    ) {
        let predict = self.jobs.get(&job).and_then(|e| {
            let (_, p) = e.plan.spec.predict_stages().find(|(n, _)| *n == stage)?;
            Some(p.model.clone())
        });
        if let Some(model) = predict {
            let _ = waiter.send(Err(format!(
                "stage {stage:?} is a predict stage: it serves the version its spec's alias or \
                 version names of learner {model:?}; move the alias (`quiver model alias {job} \
                 {model} NAME VERSION`) or swap {model:?} itself"
            )));
            return;
        }
        // Behind a predict stage's swap under way, the request waits for it.
        if let Some((change, waiter)) = self.queue_swap(job, stage, change, waiter) {
            self.begin_swap(job, stage, change, waiter);
        }
    }

    /// Starts a swap: checks it, then has every node of the job load its versions. The
    /// waiter is answered when the checkpoint that switched every partition completes.
    pub(super) fn begin_swap(
        &mut self,
        job: JobId,
        stage: &str,
        change: SwapChange,
        waiter: SwapWaiter,
    ) {
        match self.start_swap(job, stage, &change) {
            Ok((table, nodes)) => {
                let Some(entry) = self.jobs.get_mut(&job) else {
                    return;
                };
                let generation = entry.record.generation;
                entry.serving.loading = Some(Swap {
                    stage: stage.to_string(),
                    rollback: matches!(change, SwapChange::Rollback),
                    table: table.clone(),
                    loading: nodes.iter().copied().collect(),
                    started: Instant::now(),
                    waiter,
                });
                for node in nodes {
                    self.send(
                        node,
                        ToNode::PrepareServing {
                            job,
                            generation,
                            table: table.clone(),
                        },
                    );
                }
            }
            Err(e) => {
                let _ = waiter.send(Err(e));
            }
        }
    }

    /// The next table of a swap and the nodes that must load it.
    fn start_swap(
        &mut self,
        job: JobId,
        stage: &str,
        change: &SwapChange,
    ) -> Result<(ServingTable, Vec<NodeId>), String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        if entry.record.state != JobState::Running {
            return Err(format!(
                "{job} is {:?}: models are swapped in running jobs only",
                entry.record.state
            ));
        }
        // A predict stage serves its learner's versions.
        let model = entry.plan.spec.model_of(stage);
        let shards = ParameterPlan::shards_name(model);
        if !entry.plan.operators.iter().any(|o| o.name == shards) {
            let learners: Vec<&str> = entry
                .plan
                .operators
                .iter()
                .filter_map(|o| o.name.strip_suffix("/params"))
                .collect();
            return Err(if learners.is_empty() {
                format!(
                    "{job} has no learner with parameter servers (logistic_regression, \
                     linear_regression or kmeans in a job with checkpoint_interval, \
                     matrix_factorization with parameter_shards), so it has no versions \
                     to serve"
                )
            } else {
                format!(
                    "{job} has no learner {stage:?} with parameter servers; it has: {}",
                    learners.join(", ")
                )
            });
        }
        if entry.serving.loading.is_some() || !entry.serving.switching.is_empty() {
            return Err(format!(
                "a swap of {job} is under way: wait for it (see `quiver model status {job}`)"
            ));
        }
        let now = entry.serving.current.of(stage);
        let history = entry
            .serving
            .history
            .get(stage)
            .map_or(&[][..], Vec::as_slice);
        let serving = next_serving(now, history, change)?;
        let registered: BTreeSet<CheckpointId> = self
            .registry
            .versions(job)
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|v| v.stage == model)
            .map(|v| v.version)
            .collect();
        if let Some(missing) = serving
            .versions()
            .into_iter()
            .find(|v| !registered.contains(v))
        {
            return Err(format!(
                "stage {stage:?} of {job} has no version {missing}: see `quiver model list {job}`"
            ));
        }
        let mut table = entry.serving.current.clone();
        let newest = entry.serving.tables.keys().max().copied().unwrap_or(0);
        table.epoch = newest.max(table.epoch) + 1;
        // The predict stages following an alias this swap moves switch at its barrier.
        for (predict, version) in super::predict::moved_with(&entry.plan.spec, stage, &serving) {
            table.stages.insert(predict, Serving::Pinned(version));
        }
        match serving {
            Serving::Latest => table.stages.remove(stage),
            serving => table.stages.insert(stage.to_string(), serving),
        };
        // Imported versions are in no checkpoint: the table carries them.
        let spec = &entry.plan.spec;
        table.imported = self
            .registry
            .imported_models(job, &table, |s| spec.model_of(s).to_string())
            .map_err(|e| e.to_string())?;
        let nodes = entry
            .phase
            .assignment()
            .map(|a| a.nodes.iter().map(|(n, _)| *n).collect())
            .unwrap_or_default();
        Ok((table, nodes))
    }

    /// A node loaded (or failed to load) the versions of a swap's table: once every node
    /// did, the table is in force.
    pub(crate) fn serving_prepared(
        &mut self,
        node: NodeId,
        job: JobId,
        generation: Generation,
        epoch: u64,
        result: Result<(), String>,
    ) {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return;
        };
        if entry.record.generation != generation {
            return;
        }
        let Some(swap) = entry.serving.loading.as_mut() else {
            return;
        };
        if swap.table.epoch != epoch {
            return;
        }
        if let Err(why) = result {
            let why = format!("{node} cannot load the versions: {why}");
            entry.serving.fail_all(&why);
            return;
        }
        swap.loading.remove(&node);
        if !swap.loading.is_empty() {
            return;
        }
        let Some(swap) = entry.serving.loading.take() else {
            return;
        };
        let serving = &mut entry.serving;
        let before = serving.current.of(&swap.stage).clone();
        let history = serving.history.entry(swap.stage.clone()).or_default();
        if swap.rollback {
            history.pop();
        } else {
            history.push(before.clone());
        }
        serving.current = swap.table.clone();
        serving.tables.insert(swap.table.epoch, swap.table.clone());
        serving.changed = true;
        let figures = Self::figures_of(entry, &swap.stage);
        let replaced_sides = sides(&before);
        let replaced = total(&figures, &Figures::new(), |k| {
            replaced_sides.iter().any(|side| on_side(k, *side))
        });
        entry.serving.watches.insert(
            swap.stage.clone(),
            Watch {
                since: Instant::now(),
                start: figures,
                replaced: replaced.mean(),
                guard_pending: !swap.rollback,
                first_window: None,
                window_mark: Sum::default(),
            },
        );
        let serving = &mut entry.serving;
        tracing::info!(
            "{job}: stage {} serves {} from the next barrier (epoch {})",
            swap.stage,
            swap.table.of(&swap.stage).describe(),
            swap.table.epoch
        );
        serving.switching.push(swap);
        // The swap takes effect at the next barrier: take it now, not at the next interval.
        entry.schedule.request_checkpoint();
        self.pin_served(job);
    }

    /// A stage's figures over every partition, by scorer.
    fn figures_of(entry: &JobEntry, stage: &str) -> Figures {
        let mut figures = Figures::new();
        for s in entry.tasks.values().flat_map(|t| &t.served) {
            if s.stage == stage {
                *figures.entry((s.version, s.latest)).or_default() += Sum {
                    labelled: s.labelled,
                    loss: s.loss_sum,
                };
            }
        }
        figures
    }

    /// Applies the learners' guards and update policies of a running job: a swap whose new
    /// version scores worse than what it replaced is rolled back; a stage serving a
    /// registered version moves to the newest one when its update policy says so.
    pub(super) fn serving_tick(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        if entry.serving.loading.is_some() || !entry.serving.switching.is_empty() {
            return;
        }
        if self.predict_tick(job) {
            return;
        }
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        let drifts: u64 = entry.tasks.values().map(|t| t.metrics.drifts).sum();
        let policies: Vec<(String, ServingPolicy)> = entry
            .plan
            .spec
            .stages
            .iter()
            .filter_map(|s| Some((s.name.clone(), s.kind.serving_policy()?.clone())))
            .filter(|(_, p)| p.is_set())
            .collect();
        for (stage, policy) in policies {
            if let Some((change, why)) = self.policy_decision(job, &stage, &policy, drifts) {
                self.note_event(job, &stage, &why);
                let (waiter, _) = oneshot::channel();
                self.request_swap(job, &stage, change, waiter);
                return;
            }
        }
        if let Some(entry) = self.jobs.get_mut(&job) {
            entry.serving.drifts_seen = entry.serving.drifts_seen.max(drifts);
        }
    }

    /// What a stage's guard or update policy decides now, and why.
    fn policy_decision(
        &mut self,
        job: JobId,
        stage: &str,
        policy: &ServingPolicy,
        drifts: u64,
    ) -> Option<(SwapChange, String)> {
        let entry = self.jobs.get_mut(&job)?;
        let figures = Self::figures_of(entry, stage);
        let serving = entry.serving.current.of(stage).clone();
        let drifted = drifts > entry.serving.drifts_seen;
        let watch = entry.serving.watches.get_mut(stage);
        if let (Some(guard), Some(watch)) = (&policy.guard, watch) {
            if let Some(decision) = guard_decision(guard, &serving, &figures, watch) {
                return Some(decision);
            }
        }
        let Serving::Pinned(pinned) = serving else {
            return None;
        };
        let watch = entry.serving.watches.get_mut(stage)?;
        let reason = match policy.update.as_ref()? {
            UpdatePolicy::Interval { every } if watch.since.elapsed() >= *every => format!(
                "{pinned} served for {} s (update on interval)",
                every.as_secs()
            ),
            UpdatePolicy::Drift { column, .. } if drifted => {
                format!("data drift on column {column:?} (update on drift)")
            }
            UpdatePolicy::Performance {
                max_increase,
                min_records,
            } => {
                let sum = total(&figures, &watch.start, |k| on_side(k, Some(pinned)));
                let first = match watch.first_window {
                    Some(first) => first,
                    None if sum.labelled >= *min_records => {
                        watch.first_window = sum.mean();
                        watch.window_mark = sum;
                        return None;
                    }
                    None => return None,
                };
                let window = sum.minus(watch.window_mark);
                if window.labelled < *min_records {
                    return None;
                }
                watch.window_mark = sum;
                let now = window.mean()?;
                if now <= first * (1.0 + max_increase) {
                    return None;
                }
                format!(
                    "{pinned}'s mean loss rose from {first:.4} to {now:.4} (update on performance)"
                )
            }
            _ => return None,
        };
        // Only now, with a reason, read the registry for the newest version.
        let newest = self
            .registry
            .versions(job)
            .ok()?
            .into_iter()
            .filter(|v| v.stage == stage)
            .map(|v| v.version)
            .max();
        let newer = newest.filter(|n| *n > pinned)?;
        let deploy = SwapChange::Deploy {
            version: newer,
            canary: None,
        };
        Some((
            deploy,
            format!("{reason}: deploying the newest version, {newer}"),
        ))
    }

    /// Records an automatic decision in the job's events and the log.
    pub(super) fn note_event(&mut self, job: JobId, stage: &str, what: &str) {
        tracing::warn!("{job}: stage {stage}: {what}");
        if let Some(entry) = self.jobs.get_mut(&job) {
            let events = &mut entry.serving.events;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let at = utc(now);
            events.push_back(format!("{at} {stage}: {what}"));
            while events.len() > EVENTS {
                events.pop_front();
            }
        }
    }

    /// Keeps the versions the job serves restorable: names them with aliases
    /// (`champion`: the version every key gets; `challenger`: a canary's) and prunes.
    fn pin_served(&mut self, job: JobId) {
        let Some(entry) = self.jobs.get(&job) else {
            return;
        };
        let spec = &entry.plan.spec;
        // A predict stage serves what its learner's aliases name: it sets none.
        let learners = entry.serving.current.stages.iter();
        for (stage, serving) in learners.filter(|(s, _)| spec.model_of(s) == s.as_str()) {
            for (alias, v) in implied_aliases(serving) {
                let Some(v) = v else { continue };
                if let Err(e) = self.registry.set_alias(job, stage, alias, v) {
                    tracing::warn!("{job}: cannot alias {v} of {stage} {alias}: {e}");
                }
            }
        }
        self.prune_checkpoints(job);
    }
}

impl Cluster {
    /// `quiver model status`: what each learner with parameter servers serves, per
    /// partition, with the figures of every version its partitions scored with.
    pub(crate) fn model_status(&self, job: JobId) -> Result<ModelStatus, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let registered = self.registry.versions(job).map_err(|e| e.to_string())?;
        let served: Vec<&ServedVersion> = entry.tasks.values().flat_map(|t| &t.served).collect();
        let spec = &entry.plan.spec;
        let learners = entry
            .plan
            .operators
            .iter()
            .filter_map(|o| o.name.strip_suffix("/params"));
        let stages = learners
            .chain(spec.predict_stages().map(|(name, _)| name))
            .map(|stage| {
                // A predict stage shows its learner's aliases.
                let model = spec.model_of(stage);
                let kind = entry.plan.operators.iter().find_map(|o| match &o.kind {
                    OperatorKind::Stage(s) if o.name == model => Some(&s.kind),
                    _ => None,
                });
                let classifier = matches!(kind, Some(StageKind::LogisticRegression(_)));
                let regression = matches!(
                    kind,
                    Some(StageKind::LinearRegression(_) | StageKind::MatrixFactorization(_))
                );
                let of_stage: Vec<&&ServedVersion> =
                    served.iter().filter(|s| s.stage == stage).collect();
                let mut partitions: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
                let mut versions: BTreeMap<(u64, bool), ServedVersion> = BTreeMap::new();
                for s in &of_stage {
                    if s.current {
                        partitions.entry(s.partition).or_default().push(s.version);
                    }
                    let sum = versions.entry((s.version, s.latest)).or_default();
                    sum.current |= s.current;
                    sum.scored += s.scored;
                    sum.labelled += s.labelled;
                    sum.loss_sum += s.loss_sum;
                    sum.abs_error_sum += s.abs_error_sum;
                    sum.correct += s.correct;
                    sum.scoring_us += s.scoring_us;
                }
                let current_total: u64 = versions
                    .values()
                    .filter(|v| v.current)
                    .map(|v| v.scored)
                    .sum();
                let ratio = |a: f64, b: u64| (b > 0).then(|| a / b as f64);
                let follows =
                    spec.predict_stages()
                        .find(|(n, _)| *n == stage)
                        .map(|(_, p)| match &p.version {
                            PredictVersion::Alias(alias) => format!("{model} alias {alias:?}"),
                            PredictVersion::Version(v) => format!("{model} version {v}"),
                        });
                StageStatus {
                    stage: stage.to_string(),
                    serving: entry.serving.current.of(stage).clone(),
                    follows,
                    aliases: registered
                        .iter()
                        .filter(|v| v.stage == model)
                        .flat_map(|v| v.aliases.iter().map(|a| (a.clone(), v.version.0)))
                        .collect(),
                    partitions: partitions.into_iter().collect(),
                    versions: versions
                        .into_iter()
                        .map(|((version, latest), v)| VersionStatus {
                            version,
                            latest,
                            scored: v.scored,
                            share: if v.current {
                                ratio(v.scored as f64, current_total).unwrap_or(0.0)
                            } else {
                                0.0
                            },
                            labelled: v.labelled,
                            loss: ratio(v.loss_sum, v.labelled),
                            mae: regression
                                .then(|| ratio(v.abs_error_sum, v.labelled))
                                .flatten(),
                            accuracy: classifier
                                .then(|| ratio(v.correct as f64, v.labelled))
                                .flatten(),
                            latency_us: ratio(v.scoring_us as f64, v.scored),
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(ModelStatus {
            job,
            epoch: entry.serving.current.epoch,
            stages,
            events: entry.serving.events.iter().cloned().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(c: u64) -> CheckpointId {
        CheckpointId(c)
    }

    #[test]
    fn deploy_canary_promote_and_rollback_move_between_servings() {
        let deploy = |version, canary| SwapChange::Deploy {
            version: v(version),
            canary,
        };
        let pinned = next_serving(&Serving::Latest, &[], &deploy(3, None)).unwrap();
        assert_eq!(pinned, Serving::Pinned(v(3)));
        let canary = next_serving(&pinned, &[], &deploy(5, Some(10.0))).unwrap();
        assert_eq!(
            canary,
            Serving::Split {
                a: Some(v(3)),
                b: v(5),
                b_percent: 10.0,
                kind: SplitKind::Canary
            }
        );
        assert_eq!(
            next_serving(&canary, &[], &SwapChange::Promote).unwrap(),
            Serving::Pinned(v(5))
        );
        assert!(next_serving(&pinned, &[], &SwapChange::Promote).is_err());
        let history = [Serving::Latest, pinned.clone()];
        assert_eq!(
            next_serving(&canary, &history, &SwapChange::Rollback).unwrap(),
            pinned
        );
        assert!(next_serving(&Serving::Latest, &[], &SwapChange::Rollback).is_err());
        for bad in [0.0, 100.0, -1.0, f64::NAN] {
            assert!(
                next_serving(&pinned, &[], &deploy(5, Some(bad))).is_err(),
                "{bad}"
            );
        }
        let ab = SwapChange::Ab {
            a: v(2),
            b: v(2),
            split: 30.0,
        };
        assert!(next_serving(&Serving::Latest, &[], &ab).is_err());
    }

    fn watch(replaced: Option<f64>) -> Watch {
        Watch {
            since: Instant::now(),
            start: Figures::new(),
            replaced,
            guard_pending: true,
            first_window: None,
            window_mark: Sum::default(),
        }
    }

    fn sum(labelled: u64, mean: f64) -> Sum {
        Sum {
            labelled,
            loss: mean * labelled as f64,
        }
    }

    #[test]
    fn a_guard_judges_a_deploy_against_what_it_replaced_once_it_saw_enough_records() {
        let guard = Guard {
            max_increase: 0.2,
            min_records: 100,
        };
        let pinned = Serving::Pinned(v(4));
        // 99 labelled records: not judged yet.
        let mut w = watch(Some(1.0));
        let few = Figures::from([((4, false), sum(99, 5.0))]);
        assert!(guard_decision(&guard, &pinned, &few, &mut w).is_none());
        assert!(w.guard_pending);
        // 100 at a mean loss 1.19 against 1.0: within 20%, passed for good.
        let fine = Figures::from([((4, false), sum(100, 1.19))]);
        assert!(guard_decision(&guard, &pinned, &fine, &mut w).is_none());
        assert!(!w.guard_pending);
        let worse = Figures::from([((4, false), sum(100, 1.25))]);
        assert!(
            guard_decision(&guard, &pinned, &worse, &mut w).is_none(),
            "judged once"
        );
        // 1.25 against 1.0 on a fresh swap: rolled back. The working copy's figures at the
        // same version number do not count as the deployed version's.
        let mut w = watch(Some(1.0));
        let figures = Figures::from([((4, false), sum(100, 1.25)), ((4, true), sum(900, 0.1))]);
        let (change, why) = guard_decision(&guard, &pinned, &figures, &mut w).unwrap();
        assert_eq!(change, SwapChange::Rollback);
        assert!(why.contains("automatic rollback"), "{why}");
    }

    #[test]
    fn a_guard_judges_a_canary_against_its_other_side_over_the_same_time() {
        let guard = Guard {
            max_increase: 0.5,
            min_records: 10,
        };
        let canary = Serving::Split {
            a: None,
            b: v(7),
            b_percent: 10.0,
            kind: SplitKind::Canary,
        };
        // The working copy scored at a mean loss 0.2 before the swap and 1.0 since (the
        // data got harder): the canary's 1.2 is compared with 1.0, not with the 0.2 before.
        let mut w = watch(Some(0.2));
        w.start = Figures::from([((3, true), sum(1000, 0.2))]);
        let now = Figures::from([
            (
                (3, true),
                Sum {
                    labelled: 1090,
                    loss: 200.0 + 90.0,
                },
            ),
            ((7, false), sum(10, 1.2)),
        ]);
        assert!(guard_decision(&guard, &canary, &now, &mut w).is_none());
        let mut w = watch(Some(0.2));
        w.start = Figures::from([((3, true), sum(1000, 0.2))]);
        let bad = Figures::from([
            (
                (3, true),
                Sum {
                    labelled: 1090,
                    loss: 200.0 + 90.0,
                },
            ),
            ((7, false), sum(10, 1.6)),
        ]);
        assert!(guard_decision(&guard, &canary, &bad, &mut w).is_some());
    }

    #[test]
    fn a_swap_completes_with_the_first_checkpoint_that_carried_it() {
        let mut state = ServingState::default();
        assert_eq!(state.carry(v(1)), 0);
        let (tx, mut rx) = oneshot::channel();
        let table = ServingTable {
            epoch: 1,
            stages: BTreeMap::from([("clf".to_string(), Serving::Pinned(v(1)))]),
            imported: Vec::new(),
        };
        state.current = table.clone();
        state.tables.insert(1, table.clone());
        state.switching.push(Swap {
            stage: "clf".into(),
            rollback: false,
            table,
            loading: BTreeSet::new(),
            started: Instant::now(),
            waiter: tx,
        });
        // Checkpoint 1 was triggered before the swap: completing it switches nothing.
        state.completed(v(1));
        assert!(rx.try_recv().is_err());
        assert_eq!(state.carry(v(2)), 1);
        state.completed(v(2));
        let report = rx.try_recv().unwrap().unwrap();
        assert_eq!((report.checkpoint, report.epoch), (v(2), 1));
        // A recovery from checkpoint 1 serves what checkpoint 1 served.
        assert_eq!(state.restored(Some(v(1))).epoch, 0);
        assert_eq!(state.current.epoch, 0);
        state.carry(v(3));
        assert_eq!(state.restored(Some(v(2))).stages.len(), 1);
    }

    #[test]
    fn a_restarted_coordinator_serves_what_the_restored_checkpoint_served() {
        let mut state = ServingState::default();
        state.carry(v(1));
        let pinned = ServingTable {
            epoch: 1,
            stages: BTreeMap::from([("clf".to_string(), Serving::Pinned(v(1)))]),
            imported: Vec::new(),
        };
        state.current = pinned.clone();
        state.tables.insert(1, pinned.clone());
        state.history.insert("clf".into(), vec![Serving::Latest]);
        state.changed = true;
        // Checkpoints 2..=9 carry epoch 1; only the change is kept.
        for c in 2..10 {
            assert_eq!(state.carry(v(c)), 1);
        }
        assert_eq!(state.carried.len(), 2, "{:?}", state.carried);
        let saved = state.take_changes().expect("changed");
        assert!(
            state.take_changes().is_none(),
            "saved twice without a change"
        );
        // The coordinator restarts: what it saved comes back, and the job restores
        // checkpoint 7, which its barrier marked with epoch 1.
        let bytes = quiver_protocol::codec::encode(&saved).unwrap();
        let mut restarted =
            ServingState::from_saved(quiver_protocol::codec::decode(&bytes).unwrap());
        assert_eq!(restarted.restored(Some(v(7))), pinned);
        assert_eq!(restarted.history["clf"], vec![Serving::Latest]);
        // Checkpoint 1 was triggered before the swap: it serves the latest version.
        assert_eq!(restarted.restored(Some(v(1))), ServingTable::default());
    }
}

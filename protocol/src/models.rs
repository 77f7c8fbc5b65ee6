//! The model registry as the admin API shows it (DESIGN §6, "Parameter servers, versions and
//! swaps"): the versions the coordinator registered for a job's learner stages, with their
//! lineage, metrics and aliases.

use crate::ids::{CheckpointId, Generation, JobId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The stage kinds that learn parameters and so have model versions.
pub const LEARNER_KINDS: [&str; 4] = [
    "logistic_regression",
    "linear_regression",
    "kmeans",
    "matrix_factorization",
];

/// Where a model version came from: the job and the checkpoint whose state holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLineage {
    /// The job that trained it.
    pub job: JobId,
    /// The checkpoint whose state holds its parameters.
    pub checkpoint: CheckpointId,
    /// The job generation that took the checkpoint.
    pub generation: Generation,
}

/// One registered version of one learner stage's model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelVersionInfo {
    /// The learner stage.
    pub stage: String,
    /// Its version: the id of the checkpoint that produced it.
    pub version: CheckpointId,
    /// When it was registered (its checkpoint completed), ms since the epoch.
    pub created_ms: u64,
    /// Where it came from.
    pub lineage: ModelLineage,
    /// Figures about it by name (e.g. `records_in`, `state_bytes`); more are filled later.
    pub metrics: BTreeMap<String, f64>,
    /// The operator whose checkpointed state holds the parameters: the stage itself, or its
    /// parameter shards `STAGE/params`.
    pub state_operator: String,
    /// The aliases naming it (`champion`, `challenger`, ...).
    pub aliases: Vec<String>,
    /// The name of the file it was imported from (`quiver model import`); `None`: trained
    /// by the job.
    pub imported: Option<String>,
}

/// `quiver model list`: a job's learner stages and every registered version of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// The job.
    pub job: JobId,
    /// Its learner stages, in plan order (empty: the job has no model).
    pub learner_stages: Vec<String>,
    /// Whether the job takes checkpoints (versions are registered only at checkpoints).
    pub checkpointing: bool,
    /// Every version, by stage then version.
    pub versions: Vec<ModelVersionInfo>,
}

/// The most parameters `quiver model export` answers (8 MiB of values, within one admin
/// frame); a bigger model is refused with a message.
pub const MAX_EXPORT_PARAMETERS: usize = 1 << 20;

/// `quiver model export`: a learner stage's parameter vector as of one version, merged from
/// its parameter servers' checkpointed state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelExport {
    /// The stage's kind (`linear_regression`, `logistic_regression`).
    pub kind: String,
    /// The version's metadata: the registry's record when the version is registered, else
    /// what the checkpoint says (no metrics, no aliases).
    pub info: ModelVersionInfo,
    /// Whether the registry holds the version (an unregistered version is a complete
    /// checkpoint in which the model did not change).
    pub registered: bool,
    /// The parameter vector by index (`quiver_ml::SharedParameters` layout); parameters
    /// never written are 0.
    pub parameters: Vec<f64>,
}

/// How a learner stage with parameter servers chooses the version that scores a record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Serving {
    /// The version it trains (the default): the newest version its workers adopted.
    #[default]
    Latest,
    /// This registered version scores every record (training goes on beside it).
    Pinned(CheckpointId),
    /// By key hash (record hash where the stage has no key), `b_percent` % of the records
    /// are scored by `b`, the others by `a` (`None`: the latest version).
    Split {
        /// The version of the other records (`None`: the latest).
        a: Option<CheckpointId>,
        /// The version of `b_percent` % of the records.
        b: CheckpointId,
        /// The share of `b`, in (0, 100).
        b_percent: f64,
        /// Canary (`model deploy --canary`) or A/B (`model ab`).
        kind: SplitKind,
    },
}

impl Serving {
    /// The registered versions it scores with.
    pub fn versions(&self) -> Vec<CheckpointId> {
        match self {
            Serving::Latest => Vec::new(),
            Serving::Pinned(v) => vec![*v],
            Serving::Split { a, b, .. } => a.iter().copied().chain([*b]).collect(),
        }
    }

    /// How a person reads it: `latest`, `chk-7`, `chk-7 (90%) / chk-9 (10%, canary)`.
    pub fn describe(&self) -> String {
        match self {
            Serving::Latest => "latest".into(),
            Serving::Pinned(v) => v.to_string(),
            Serving::Split {
                a,
                b,
                b_percent,
                kind,
            } => {
                let a = a.map_or("latest".to_string(), |v| v.to_string());
                let kind = match kind {
                    SplitKind::Canary => "canary",
                    SplitKind::Ab => "A/B",
                };
                format!("{a} ({}%) / {b} ({b_percent}%, {kind})", 100.0 - b_percent)
            }
        }
    }
}

/// What a split of traffic between two versions is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitKind {
    /// A new version on a share of the keys, to be promoted or rolled back.
    Canary,
    /// Two versions compared side by side.
    Ab,
}

/// Which version every learner stage of a job serves. `epoch` numbers the tables: a barrier
/// carries the epoch in force, and each worker switches when a barrier of a new epoch
/// passes through it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServingTable {
    /// The table's number (0: every stage serves its latest version).
    pub epoch: u64,
    /// The stages that do not serve their latest version.
    pub stages: BTreeMap<String, Serving>,
    /// The models of the imported versions `stages` names: they live in the registry, not
    /// in a checkpoint, so the table carries them to the nodes.
    pub imported: Vec<ImportedVersion>,
}

/// An imported version's model as a serving table carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedVersion {
    /// The learner stage.
    pub stage: String,
    /// The version.
    pub version: CheckpointId,
    /// Its parameter vector (`quiver_ml::SharedParameters` layout).
    pub parameters: Vec<f64>,
    /// The `quiver_ml` snapshot (`Persist::to_snapshot`) of the saved model it was imported
    /// from; `None` (an export was imported): the model is built from `parameters`.
    pub snapshot: Option<Vec<u8>>,
}

impl ServingTable {
    /// What stage `stage` serves.
    pub fn of(&self, stage: &str) -> &Serving {
        static LATEST: Serving = Serving::Latest;
        self.stages.get(stage).unwrap_or(&LATEST)
    }
}

/// The largest file `quiver model import` sends (within one admin frame).
pub const MAX_IMPORT_BYTES: usize = 8 << 20;

/// A change of what a learner stage serves (`quiver model deploy / promote / rollback / ab`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SwapChange {
    /// Serve `version`; with `canary`, on that share (%) of the keys first.
    Deploy {
        /// The registered version.
        version: CheckpointId,
        /// Percent of keys that move first.
        canary: Option<f64>,
    },
    /// A canary's version serves every key.
    Promote,
    /// Back to what the stage served before the last deploy, promote or A/B.
    Rollback,
    /// Versions `a` and `b` side by side, `b` on `split` % of the keys.
    Ab {
        /// The version of the other keys.
        a: CheckpointId,
        /// The version of `split` % of the keys.
        b: CheckpointId,
        /// Percent of keys on `b`.
        split: f64,
    },
}

/// A completed swap: the checkpoint whose barrier switched every partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwapReport {
    /// The stage.
    pub stage: String,
    /// What it serves now.
    pub serving: Serving,
    /// The serving table's epoch.
    pub epoch: u64,
    /// The checkpoint whose barrier carried it everywhere.
    pub checkpoint: CheckpointId,
    /// From the request to that checkpoint's completion, ms.
    pub elapsed_ms: u64,
}

/// What a learner partition scored with one version since it started serving it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServedVersion {
    /// The learner stage.
    pub stage: String,
    /// Its partition.
    pub partition: u32,
    /// The version (0: an untrained model).
    pub version: u64,
    /// Scored by the working copy at that version (the latest), not by the registered
    /// version loaded from the registry.
    pub latest: bool,
    /// Whether the partition still scores with it.
    pub current: bool,
    /// Records scored.
    pub scored: u64,
    /// Of those, records with a label.
    pub labelled: u64,
    /// Summed loss over the labelled records: squared error (regression, matrix
    /// factorisation), log loss (classification) or squared distance to the assigned
    /// centroid (k-means: every record counts as labelled).
    pub loss_sum: f64,
    /// Summed absolute error over the labelled records (regression, matrix factorisation).
    pub abs_error_sum: f64,
    /// Labelled records predicted right (classification).
    pub correct: u64,
    /// Time spent scoring, µs.
    pub scoring_us: u64,
}

/// One version of one stage in `quiver model status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionStatus {
    /// The version.
    pub version: u64,
    /// These are the figures of the working copy while it was at that version (serving the
    /// latest), not of the registered version.
    pub latest: bool,
    /// Records scored by it over every partition.
    pub scored: u64,
    /// Its share of the stage's records scored by the versions served now.
    pub share: f64,
    /// Of those, labelled.
    pub labelled: u64,
    /// Mean loss over labelled records (k-means: the mean squared distance to the assigned
    /// centroid, the inertia per record).
    pub loss: Option<f64>,
    /// Mean absolute error over labelled records (regressions, matrix factorisation); the
    /// root of `loss` is their RMSE.
    pub mae: Option<f64>,
    /// Share predicted right (classifiers).
    pub accuracy: Option<f64>,
    /// Mean scoring time per record, µs.
    pub latency_us: Option<f64>,
}

/// One learner stage in `quiver model status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageStatus {
    /// The stage.
    pub stage: String,
    /// What it serves (a predict stage: `Latest` means nothing yet).
    pub serving: Serving,
    /// A predict stage's model and what of it it serves: `clf alias "champion"`,
    /// `clf version 7` (`None`: a learner).
    pub follows: Option<String>,
    /// Its aliases (a predict stage: its learner's) and the versions they name.
    pub aliases: BTreeMap<String, u64>,
    /// For each partition, the versions it scores with now.
    pub partitions: Vec<(u32, Vec<u64>)>,
    /// Figures per version.
    pub versions: Vec<VersionStatus>,
}

/// `quiver model status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    /// The job.
    pub job: JobId,
    /// The serving table in force.
    pub epoch: u64,
    /// Its learner stages with parameter servers.
    pub stages: Vec<StageStatus>,
    /// Recent automatic decisions (guards, update policies), oldest first.
    pub events: Vec<String>,
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn utc(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// Whether `alias` is a valid alias name: `[a-z][a-z0-9_-]*`, at most 64 bytes.
pub fn is_valid_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    alias.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::is_valid_alias;

    #[test]
    fn alias_names_are_lowercase_words() {
        for good in [
            "champion",
            "challenger",
            "a",
            "v2",
            "canary_1",
            "blue-green",
        ] {
            assert!(is_valid_alias(good), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "Champion",
            "1st",
            "-x",
            "_x",
            "a b",
            "é",
            "a/b",
            long.as_str(),
        ] {
            assert!(!is_valid_alias(bad), "{bad}");
        }
    }
}

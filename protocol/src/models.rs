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

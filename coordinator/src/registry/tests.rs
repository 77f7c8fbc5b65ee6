//! The registry on a real sled database in a temporary directory: registration at completed
//! checkpoints, retention with the checkpoints, aliases pinning checkpoints, one version per
//! alias, and names refused.

use super::*;
use crate::checkpoint_store::Manifest;
use crate::store::Store;
use quiver_protocol::messages::SnapshotKind;
use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::{Generation, KeyGroup};

const JOB: JobId = JobId(1);

const SPEC: &str = r#"
[job]
name = "clicks"
parallelism = 2

[[source]]
name = "clicks"
kind = "generator"
count = 100

[[stage]]
name = "scaled"
kind = "standard_scaler"
input = "clicks"
columns = ["amount"]
output = "features"

[[stage]]
name = "clf"
kind = "logistic_regression"
input = "scaled"
features = "features"
label = "user"

[[sink]]
name = "out"
kind = "file"
input = "clf"
path = "out/"
"#;

fn plan() -> JobPlan {
    let spec = JobSpec::parse(SPEC, std::path::Path::new("/tmp")).unwrap();
    JobPlan::from_spec(&spec)
}

fn open(dir: &tempfile::TempDir) -> (Store, Registry) {
    let store = Store::open(dir.path()).unwrap();
    let checkpoints = CheckpointStore::open(store.db()).unwrap();
    let registry = Registry::open(store.db(), checkpoints).unwrap();
    (store, registry)
}

/// Completes checkpoint `id` with `state` as both partitions' state of `clf` and `scaled`.
fn checkpoint(registry: &Registry, id: u64, state: &[u8]) {
    let checkpoints = &registry.checkpoints;
    for operator in ["clf", "scaled"] {
        for group in 0..2 {
            checkpoints
                .put_state(JOB, CheckpointId(id), operator, KeyGroup(group), state)
                .unwrap();
        }
    }
    let manifest = Manifest {
        job: JOB,
        checkpoint: CheckpointId(id),
        generation: Generation(1),
        kind: SnapshotKind::Checkpoint,
        completed_at_ms: 1_000 + id,
        duration_ms: 1,
        operators: vec![("clf".into(), 2), ("scaled".into(), 2)],
        max_parallelism: 8,
    };
    checkpoints.complete(JOB, &manifest).unwrap();
}

/// Runs the registration of checkpoint `id` for the plan's learners.
fn register(registry: &Registry, id: u64) -> Vec<String> {
    let stages = learner_stages(&plan())
        .into_iter()
        .map(|s| (s, BTreeMap::from([("records_in".to_string(), 7.0)])))
        .collect();
    Registration {
        registry: registry.clone(),
        job: JOB,
        checkpoint: CheckpointId(id),
        generation: Generation(1),
        completed_at_ms: 1_000 + id,
        stages,
    }
    .run()
    .unwrap()
}

/// Checkpoints `ids` with different state each, registering each one.
fn checkpoints_with_new_state(registry: &Registry, ids: std::ops::RangeInclusive<u64>) {
    for id in ids {
        checkpoint(registry, id, format!("model at {id}").as_bytes());
        assert_eq!(register(registry, id), ["clf"], "checkpoint {id}");
    }
}

fn versions(registry: &Registry) -> Vec<u64> {
    registry
        .versions(JOB)
        .unwrap()
        .iter()
        .map(|v| v.version.0)
        .collect()
}

fn complete(registry: &Registry) -> Vec<u64> {
    registry
        .checkpoints
        .list(JOB)
        .unwrap()
        .iter()
        .map(|c| c.checkpoint.0)
        .collect()
}

#[test]
fn learners_are_found_by_kind_and_their_parameters_by_the_params_operator() {
    let mut plan = plan();
    let stages = learner_stages(&plan);
    assert_eq!(stages.len(), 1, "{stages:?}");
    assert_eq!(stages[0].name, "clf");
    assert_eq!(stages[0].state_operator, "clf");
    // The parameter shards of a learner at parallelism > 1 hold its parameters.
    let mut shards = plan.operators[2].clone();
    shards.name = "clf/params".into();
    plan.operators.push(shards);
    assert_eq!(learner_stages(&plan)[0].state_operator, "clf/params");
}

#[test]
fn a_checkpoint_registers_a_version_of_each_learner_whose_state_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoint(&registry, 1, b"model a");
    assert_eq!(register(&registry, 1), ["clf"]);
    // The same state again: no new version.
    checkpoint(&registry, 2, b"model a");
    assert!(register(&registry, 2).is_empty());
    checkpoint(&registry, 3, b"model b");
    assert_eq!(register(&registry, 3), ["clf"]);
    let listed = registry.versions(JOB).unwrap();
    assert_eq!(versions(&registry), [1, 3]);
    let v3 = &listed[1];
    assert_eq!(v3.stage, "clf");
    assert_eq!(v3.created_ms, 1_003);
    assert_eq!(v3.lineage.checkpoint, CheckpointId(3));
    assert_eq!(v3.lineage.job, JOB);
    assert_eq!(v3.state_operator, "clf");
    assert_eq!(v3.metrics["records_in"], 7.0);
    // Both partitions share one blob of 7 bytes.
    assert_eq!(v3.metrics["state_bytes"], 7.0);
    assert!(v3.aliases.is_empty());
    // Registering again keeps one version.
    assert_eq!(register(&registry, 3), ["clf"]);
    assert_eq!(versions(&registry), [1, 3]);
}

#[test]
fn a_version_of_a_pruned_checkpoint_is_not_registered() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    for id in 1..=4 {
        checkpoint(&registry, id, format!("model {id}").as_bytes());
    }
    registry.prune(JOB, 2, &[]).unwrap();
    assert!(register(&registry, 1).is_empty());
    assert!(versions(&registry).is_empty());
}

#[test]
fn versions_go_with_their_pruned_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoints_with_new_state(&registry, 1..=5);
    registry.prune(JOB, 3, &[]).unwrap();
    assert_eq!(complete(&registry), [3, 4, 5]);
    assert_eq!(versions(&registry), [3, 4, 5]);
}

#[test]
fn an_alias_pins_its_checkpoint_until_it_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoints_with_new_state(&registry, 1..=2);
    assert_eq!(
        registry
            .set_alias(JOB, "clf", "champion", CheckpointId(1))
            .unwrap(),
        None
    );
    checkpoints_with_new_state(&registry, 3..=6);
    registry.prune(JOB, 3, &[]).unwrap();
    assert_eq!(complete(&registry), [1, 4, 5, 6]);
    assert_eq!(versions(&registry), [1, 4, 5, 6]);
    assert_eq!(registry.pinned(JOB).unwrap(), [CheckpointId(1)]);
    // The pinned version is still restorable: its state reads back.
    let state = registry
        .checkpoints
        .read_state(JOB, CheckpointId(1), "clf", 0..2)
        .unwrap();
    assert_eq!(state[0].1, b"model at 1");
    // Moving the alias unpins it: the next retention drops checkpoint and version.
    assert_eq!(
        registry
            .set_alias(JOB, "clf", "champion", CheckpointId(6))
            .unwrap(),
        Some(CheckpointId(1))
    );
    registry.prune(JOB, 3, &[]).unwrap();
    assert_eq!(complete(&registry), [4, 5, 6]);
    assert_eq!(versions(&registry), [4, 5, 6]);
    // So does removing it, once the version falls out of the newest three.
    assert_eq!(
        registry.remove_alias(JOB, "clf", "champion").unwrap(),
        Some(CheckpointId(6))
    );
    assert!(registry.pinned(JOB).unwrap().is_empty());
}

#[test]
fn an_alias_names_one_version_per_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoints_with_new_state(&registry, 1..=2);
    registry
        .set_alias(JOB, "clf", "champion", CheckpointId(1))
        .unwrap();
    registry
        .set_alias(JOB, "clf", "champion", CheckpointId(2))
        .unwrap();
    registry
        .set_alias(JOB, "clf", "challenger", CheckpointId(2))
        .unwrap();
    let listed = registry.versions(JOB).unwrap();
    let aliases: Vec<(u64, Vec<String>)> = listed
        .iter()
        .map(|v| (v.version.0, v.aliases.clone()))
        .collect();
    assert_eq!(
        aliases,
        [
            (1, vec![]),
            (2, vec!["challenger".to_string(), "champion".to_string()])
        ]
    );
}

#[test]
fn bad_alias_names_and_unknown_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoints_with_new_state(&registry, 1..=1);
    for bad in ["", "Champion", "1st", "-x", "a b", "a/b"] {
        let e = registry
            .set_alias(JOB, "clf", bad, CheckpointId(1))
            .unwrap_err();
        assert!(matches!(e, RegistryError::BadAlias { .. }), "{bad}: {e}");
        assert!(e.to_string().contains("e.g. champion"), "{e}");
    }
    let e = registry
        .set_alias(JOB, "clf", "champion", CheckpointId(9))
        .unwrap_err();
    assert!(matches!(e, RegistryError::NoVersion { .. }), "{e}");
    assert!(e.to_string().contains("quiver model list job-1"), "{e}");
    let e = registry
        .set_alias(JOB, "scaled", "champion", CheckpointId(1))
        .unwrap_err();
    assert!(matches!(e, RegistryError::NoVersion { .. }), "{e}");
    assert!(registry.pinned(JOB).unwrap().is_empty());
}

#[test]
fn registry_survives_a_coordinator_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_store, registry) = open(&dir);
        checkpoints_with_new_state(&registry, 1..=2);
        registry
            .set_alias(JOB, "clf", "champion", CheckpointId(1))
            .unwrap();
    }
    let (_store, registry) = open(&dir);
    assert_eq!(versions(&registry), [1, 2]);
    assert_eq!(registry.pinned(JOB).unwrap(), [CheckpointId(1)]);
}

#[test]
fn retention_drops_unaliased_versions_of_incomplete_checkpoints() {
    let v = |stage: &str, id: u64| (stage.to_string(), CheckpointId(id));
    let versions = [v("a", 1), v("a", 2), v("b", 1), v("b", 3)];
    let complete = HashSet::from([CheckpointId(3)]);
    let aliased = HashSet::from([v("a", 1)]);
    assert_eq!(
        dropped(&versions, &complete, &aliased),
        [v("a", 2), v("b", 1)]
    );
}

/// Imports a model with `parameters` as version `id` of `clf`.
fn import(registry: &Registry, id: u64, parameters: Vec<f64>) {
    let record = VersionRecord {
        stage: "clf".into(),
        version: CheckpointId(id),
        created_ms: 5_000,
        lineage: ModelLineage {
            job: JOB,
            checkpoint: CheckpointId(id),
            generation: Generation(1),
        },
        metrics: BTreeMap::new(),
        state_operator: "registry".into(),
    };
    let model = ImportRecord {
        file: "model.json".into(),
        parameters,
        snapshot: None,
    };
    registry.import(JOB, &record, &model).unwrap();
}

#[test]
fn an_imported_version_is_listed_aliased_and_outlives_every_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, registry) = open(&dir);
    checkpoints_with_new_state(&registry, 1..=2);
    import(&registry, 3, vec![0.5, -1.0]);
    let listed = registry.versions(JOB).unwrap();
    assert_eq!(versions(&registry), [1, 2, 3]);
    assert_eq!(listed[2].imported.as_deref(), Some("model.json"));
    assert_eq!(listed[0].imported, None);
    // The id is taken: a second import (or a checkpoint) cannot reuse it.
    let record = VersionRecord {
        stage: "clf".into(),
        version: CheckpointId(3),
        created_ms: 0,
        lineage: listed[2].lineage.clone(),
        metrics: BTreeMap::new(),
        state_operator: "registry".into(),
    };
    let again = ImportRecord {
        file: "other.json".into(),
        parameters: vec![],
        snapshot: None,
    };
    assert!(registry.import(JOB, &record, &again).is_err());
    assert_eq!(
        registry
            .imported(JOB, "clf", CheckpointId(3))
            .unwrap()
            .unwrap()
            .parameters,
        [0.5, -1.0]
    );
    // An alias may name it, though no checkpoint holds it.
    registry
        .set_alias(JOB, "clf", "challenger", CheckpointId(3))
        .unwrap();
    registry.remove_alias(JOB, "clf", "challenger").unwrap();
    // Retention drops trained versions with their checkpoints, never an imported one.
    checkpoints_with_new_state(&registry, 4..=8);
    registry.prune(JOB, 2, &[]).unwrap();
    assert_eq!(versions(&registry), [3, 7, 8]);
    // Its export is its vector as imported.
    let request = ExportRequest {
        job: JOB,
        stage: "clf".into(),
        kind: "logistic_regression".into(),
        state_operator: "clf".into(),
        version: CheckpointId(3),
    };
    let export = registry.export(&request).unwrap();
    assert_eq!(export.parameters, [0.5, -1.0]);
    assert!(export.registered);
    assert_eq!(export.info.imported.as_deref(), Some("model.json"));
}

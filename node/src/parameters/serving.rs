//! What a deployment's learners and predict stages serve on this node (design §6, "Swaps ride on barriers"): the
//! serving tables it was told of, by epoch, and the registered versions they name, loaded from
//! the coordinator's checkpoint store (imported versions: carried by the table) before the
//! table can be put in force.

use quiver_protocol::models::ServingTable;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// The serving tables and loaded versions of one deployment.
#[derive(Default)]
pub(crate) struct JobServing {
    state: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    tables: BTreeMap<u64, ServingTable>,
    /// Parameter vectors by (stage, version).
    versions: HashMap<(String, u64), Arc<Vec<f64>>>,
    /// The `quiver_ml` snapshots of imported saved models by (stage, version).
    snapshots: HashMap<(String, u64), Arc<Vec<u8>>>,
}

impl JobServing {
    fn lock(&self) -> MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The table of `epoch`, if this node was told of it.
    pub(crate) fn table(&self, epoch: u64) -> Option<ServingTable> {
        self.lock().tables.get(&epoch).cloned()
    }

    /// The epoch of the first table recorded (the deployment's).
    pub(crate) fn first_epoch(&self) -> Option<u64> {
        self.lock().tables.keys().next().copied()
    }

    /// Records a table whose versions are loaded.
    pub(crate) fn insert_table(&self, table: ServingTable) {
        self.lock().tables.insert(table.epoch, table);
    }

    /// The parameters of `version` of `stage`, if loaded.
    pub(crate) fn values(&self, stage: &str, version: u64) -> Option<Arc<Vec<f64>>> {
        self.lock()
            .versions
            .get(&(stage.to_string(), version))
            .cloned()
    }

    /// The snapshot of the saved model `version` of `stage` was imported from, if any.
    pub(crate) fn snapshot(&self, stage: &str, version: u64) -> Option<Arc<Vec<u8>>> {
        self.lock()
            .snapshots
            .get(&(stage.to_string(), version))
            .cloned()
    }

    /// Keeps the snapshot of the saved model `version` of `stage` was imported from.
    pub(crate) fn insert_snapshot(&self, stage: &str, version: u64, snapshot: Vec<u8>) {
        self.lock()
            .snapshots
            .insert((stage.to_string(), version), Arc::new(snapshot));
    }

    /// Keeps the parameters of `version` of `stage`.
    pub(crate) fn insert_values(&self, stage: &str, version: u64, values: Vec<f64>) {
        self.lock()
            .versions
            .insert((stage.to_string(), version), Arc::new(values));
    }
}

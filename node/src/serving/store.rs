//! The embedded serving store: named tables of the last committed JSON row per key, with the
//! rows each sink partition staged per checkpoint until that checkpoint commits.

use quiver_protocol::CheckpointId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Who stages rows: one sink partition of one run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Writer {
    /// The job's lineage (shared by runs restored from one another's savepoints).
    pub lineage: u64,
    /// The sink's name.
    pub sink: String,
    /// The partition.
    pub partition: u32,
}

/// One table's rows and counters.
#[derive(Debug, Default)]
struct Table {
    rows: HashMap<String, Arc<str>>,
    updates: u64,
}

impl Table {
    /// Makes `row` the row of `key`.
    fn put(&mut self, key: String, row: Arc<str>) {
        self.rows.insert(key, row);
        self.updates += 1;
    }
}

/// What a table holds, for the API's listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableStats {
    /// The table.
    pub table: String,
    /// Keys with a row.
    pub rows: u64,
    /// Rows published since the process started.
    pub updates: u64,
}

/// Rows staged by one writer per checkpoint: `(table, key, row)`.
type Staged = BTreeMap<CheckpointId, Vec<(String, String, Arc<str>)>>;

/// Every table of a store, and what writers staged.
#[derive(Debug, Default)]
pub struct Tables {
    tables: Mutex<HashMap<String, Table>>,
    staged: Mutex<HashMap<Writer, Staged>>,
}

impl Tables {
    /// Publishes `rows` (`(key, JSON object)`) into `table` at once.
    pub fn publish(&self, table: &str, rows: impl IntoIterator<Item = (String, Arc<str>)>) {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let table = tables.entry(table.to_string()).or_default();
        for (key, row) in rows {
            table.put(key, row);
        }
    }

    /// Keeps `rows` of `table` for `writer` until checkpoint `checkpoint` commits.
    pub fn stage(
        &self,
        writer: &Writer,
        checkpoint: CheckpointId,
        table: &str,
        rows: Vec<(String, Arc<str>)>,
    ) {
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        staged
            .entry(writer.clone())
            .or_default()
            .entry(checkpoint)
            .or_default()
            .extend(rows.into_iter().map(|(k, r)| (table.to_string(), k, r)));
    }

    /// Publishes what `writer` staged up to `checkpoint`, in checkpoint order.
    pub fn commit(&self, writer: &Writer, checkpoint: CheckpointId) {
        let ready = {
            let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
            let Some(mine) = staged.get_mut(writer) else {
                return;
            };
            crate::sinks::take_due(mine, checkpoint)
        };
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        for (table, key, row) in ready.into_values().flatten() {
            tables.entry(table).or_default().put(key, row);
        }
    }

    /// A writer restored from `restored` (`None`: a fresh start): publishes what it staged up
    /// to that checkpoint and forgets the rest, which a failed deployment staged.
    pub fn restore(&self, writer: &Writer, restored: Option<CheckpointId>) {
        if let Some(checkpoint) = restored {
            self.commit(writer, checkpoint);
        }
        let mut staged = self.staged.lock().unwrap_or_else(|e| e.into_inner());
        staged.remove(writer);
    }

    /// The row of `key` in `table` (`None`: no such row, or no such table yet).
    pub fn get(&self, table: &str, key: &str) -> Option<Arc<str>> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables.get(table)?.rows.get(key).cloned()
    }

    /// Up to `limit` rows of `table`, by key (`None`: no such table).
    pub fn rows(&self, table: &str, limit: usize) -> Option<Vec<Arc<str>>> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let table = tables.get(table)?;
        let mut keys: Vec<&String> = table.rows.keys().collect();
        keys.sort_unstable();
        Some(
            keys.into_iter()
                .take(limit)
                .map(|k| table.rows[k].clone())
                .collect(),
        )
    }

    /// Every table's counters, by name.
    pub fn stats(&self) -> Vec<TableStats> {
        let tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats: Vec<TableStats> = tables
            .iter()
            .map(|(name, t)| TableStats {
                table: name.clone(),
                rows: t.rows.len() as u64,
                updates: t.updates,
            })
            .collect();
        stats.sort_unstable_by(|a, b| a.table.cmp(&b.table));
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(partition: u32) -> Writer {
        Writer {
            lineage: 1,
            sink: "s".into(),
            partition,
        }
    }

    fn row(text: &str) -> (String, Arc<str>) {
        ("k".to_string(), Arc::from(text))
    }

    #[test]
    fn staged_rows_appear_only_when_their_checkpoint_commits() {
        let tables = Tables::default();
        tables.stage(&writer(0), CheckpointId(1), "t", vec![row("a")]);
        tables.stage(&writer(0), CheckpointId(2), "t", vec![row("b")]);
        assert_eq!(tables.get("t", "k"), None);
        tables.commit(&writer(0), CheckpointId(1));
        assert_eq!(tables.get("t", "k"), Some(Arc::from("a")));
        tables.commit(&writer(0), CheckpointId(2));
        assert_eq!(tables.get("t", "k"), Some(Arc::from("b")));
        assert_eq!(tables.stats()[0].updates, 2);
    }

    #[test]
    fn a_restore_publishes_up_to_its_checkpoint_and_drops_the_rest() {
        let tables = Tables::default();
        tables.stage(&writer(0), CheckpointId(1), "t", vec![row("a")]);
        tables.stage(&writer(0), CheckpointId(2), "t", vec![row("b")]);
        tables.stage(&writer(1), CheckpointId(2), "u", vec![row("c")]);
        tables.restore(&writer(0), Some(CheckpointId(1)));
        assert_eq!(tables.get("t", "k"), Some(Arc::from("a")));
        tables.commit(&writer(0), CheckpointId(2));
        assert_eq!(tables.get("t", "k"), Some(Arc::from("a")), "2 was dropped");
        tables.commit(&writer(1), CheckpointId(2));
        assert_eq!(
            tables.get("u", "k"),
            Some(Arc::from("c")),
            "others keep theirs"
        );
    }
}

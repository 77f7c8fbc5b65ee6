//! The board: where a learner's feed partition leaves the shards' versions for the learner
//! partition on the same node. Latest-wins memory: the feed never waits for the worker.

use crate::operator::{OperatorError, Wait};
use quiver_protocol::batch::Batch;
use quiver_protocol::{Generation, JobId, PartitionId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;

/// How long a learner partition waits for its parameter servers' first version (each shard
/// publishes its restored values when its task starts) before the job fails with a message.
const FIRST_VERSION_TIMEOUT: Duration = Duration::from_secs(60);

/// The most parameters a model may have (a parameter index beyond is refused): 2^31,
/// 16 GiB of values.
const MAX_PARAMETERS: i64 = 1 << 31;

/// Which board: one per learner partition of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BoardKey {
    /// The job.
    pub(crate) job: JobId,
    /// Its deployment.
    pub(crate) generation: Generation,
    /// The learner stage.
    pub(crate) learner: String,
    /// The learner partition (and feed partition) it serves.
    pub(crate) partition: PartitionId,
}

/// The boards of a node's running learners, shared by each learner partition and its feed
/// partition; a board is gone when both are.
#[derive(Default)]
pub(crate) struct Boards {
    boards: Mutex<HashMap<BoardKey, Weak<Board>>>,
}

impl Boards {
    /// The board of `key` for a learner with `shards` shards, made when first asked for.
    pub(crate) fn get(&self, key: BoardKey, shards: u32) -> Arc<Board> {
        let mut boards = self.boards.lock().unwrap_or_else(|e| e.into_inner());
        boards.retain(|_, board| board.strong_count() > 0);
        if let Some(board) = boards.get(&key).and_then(Weak::upgrade) {
            return board;
        }
        let board = Arc::new(Board::new(&key.learner, shards));
        boards.insert(key, Arc::downgrade(&board));
        board
    }
}

/// A version as a worker adopts it.
pub(crate) struct Version {
    /// The values by parameter index (parameters never written are 0 and may be missing
    /// from the end).
    pub(crate) values: Vec<f64>,
    /// The oldest of the shards' versions: every shard has published at least this one.
    pub(crate) version: i64,
    /// The board's count of completed shard versions when it was read.
    pub(crate) seen: u64,
}

/// The versions of one learner's shards, merged, as one node's worker sees them.
pub(crate) struct Board {
    learner: String,
    state: Mutex<Published>,
    ready: watch::Sender<bool>,
}

struct Published {
    values: Vec<f64>,
    /// The last version each shard completed (`None`: none yet).
    versions: Vec<Option<i64>>,
    /// Shard versions completed so far.
    completed: u64,
}

impl Published {
    /// The merged version's number (the oldest shard's, once every shard has one) and the
    /// count of completed shard versions, unless that count is `seen`.
    fn number(&self, seen: Option<u64>) -> Option<(i64, u64)> {
        if seen == Some(self.completed) {
            return None;
        }
        let version = self.versions.iter().copied().min().flatten()?;
        Some((version, self.completed))
    }
}

impl Board {
    fn new(learner: &str, shards: u32) -> Board {
        Board {
            learner: learner.to_string(),
            state: Mutex::new(Published {
                values: Vec::new(),
                versions: vec![None; shards as usize],
                completed: 0,
            }),
            ready: watch::Sender::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a batch of version records (`ParameterPlan::version_schema`): values as they
    /// come, and the end of a shard's version.
    pub(crate) fn apply(&self, batch: &Batch) -> Result<(), OperatorError> {
        let bad = |what: &str| {
            OperatorError::Data(format!(
                "parameter versions of \"{}\": {what}",
                self.learner
            ))
        };
        let columns = batch.columns();
        let (Some(shards), Some(versions), Some(parameters), Some(values)) = (
            columns.first().and_then(|c| c.as_i64()),
            columns.get(1).and_then(|c| c.as_i64()),
            columns.get(2).and_then(|c| c.as_i64()),
            columns.get(3).and_then(|c| c.as_f64()),
        ) else {
            return Err(bad(
                "a batch without the (shard, version, parameter, value) columns",
            ));
        };
        let mut state = self.lock();
        let mut all_ready = false;
        for row in 0..batch.len() {
            let parameter = parameters[row];
            if parameter >= 0 {
                if parameter >= MAX_PARAMETERS {
                    return Err(bad(&format!("parameter index {parameter} is out of range")));
                }
                let i = parameter as usize;
                if i >= state.values.len() {
                    state.values.resize(i + 1, 0.0);
                }
                state.values[i] = values[row];
                continue;
            }
            let shard = usize::try_from(shards[row])
                .ok()
                .filter(|&s| s < state.versions.len())
                .ok_or_else(|| bad(&format!("no shard {}", shards[row])))?;
            state.versions[shard] = Some(versions[row]);
            state.completed += 1;
            all_ready = state.versions.iter().all(Option::is_some);
        }
        drop(state);
        if all_ready {
            self.ready
                .send_if_modified(|ready| !std::mem::replace(ready, true));
        }
        Ok(())
    }

    /// Whether every shard has published a version.
    pub(crate) fn is_ready(&self) -> bool {
        *self.ready.borrow()
    }

    /// Resolves once every shard has published a version.
    pub(crate) fn wait_ready(self: &Arc<Self>) -> Wait {
        let mut ready = self.ready.subscribe();
        let learner = self.learner.clone();
        Box::pin(async move {
            let waited = tokio::time::timeout(FIRST_VERSION_TIMEOUT, ready.wait_for(|r| *r)).await;
            match waited {
                Ok(Ok(_)) => Ok(()),
                _ => Err(OperatorError::State(format!(
                    "stage \"{learner}\": its parameter servers published no model within {} s \
                     (see the errors of {learner}/params and {learner}/versions)",
                    FIRST_VERSION_TIMEOUT.as_secs()
                ))),
            }
        })
    }

    /// The merged version if a shard completed one since `seen` (and every shard has one).
    pub(crate) fn newer_than(&self, seen: u64) -> Option<Version> {
        self.read(Some(seen))
    }

    /// The merged version (once every shard has one).
    pub(crate) fn latest(&self) -> Option<Version> {
        self.read(None)
    }

    /// As [`Board::newer_than`] without copying the values: the version number and the
    /// board's count (a sparse reader then reads what it needs through [`Board::values`]).
    pub(crate) fn newer_number(&self, seen: u64) -> Option<(i64, u64)> {
        self.number(Some(seen))
    }

    /// As [`Board::latest`] without copying the values.
    pub(crate) fn latest_number(&self) -> Option<(i64, u64)> {
        self.number(None)
    }

    /// The merged version's number and the board's count, unless it is the one read at
    /// `seen`.
    fn number(&self, seen: Option<u64>) -> Option<(i64, u64)> {
        self.lock().number(seen)
    }

    /// The values as published so far, held for a few reads.
    pub(crate) fn values(&self) -> Values<'_> {
        Values(self.lock())
    }

    /// The merged version, unless it is the one read at `seen` (then nothing is copied).
    fn read(&self, seen: Option<u64>) -> Option<Version> {
        let state = self.lock();
        let (version, seen) = state.number(seen)?;
        Some(Version {
            values: state.values.clone(),
            version,
            seen,
        })
    }
}

/// The board's values, locked while a worker reads the few it needs.
pub(crate) struct Values<'a>(MutexGuard<'a, Published>);

impl Values<'_> {
    /// Writes the values from index `start` into `out` (0 for a parameter never published).
    pub(crate) fn read(&self, start: usize, out: &mut [f64]) {
        let published = self.0.values.get(start..).unwrap_or_default();
        for (k, slot) in out.iter_mut().enumerate() {
            *slot = published.get(k).copied().unwrap_or(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quiver_protocol::batch::Column;

    fn records(rows: &[(i64, i64, i64, f64)]) -> Batch {
        let column = |f: fn(&(i64, i64, i64, f64)) -> i64| rows.iter().map(f).collect();
        Batch::try_new(
            vec![0; rows.len()],
            vec![
                Column::i64(column(|r| r.0)),
                Column::i64(column(|r| r.1)),
                Column::i64(column(|r| r.2)),
                Column::f64(rows.iter().map(|r| r.3).collect()),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_version_is_complete_when_every_shard_published_it() {
        let boards = Boards::default();
        let key = BoardKey {
            job: JobId(1),
            generation: Generation(1),
            learner: "lr".into(),
            partition: PartitionId(0),
        };
        let board = boards.get(key.clone(), 2);
        assert!(
            Arc::ptr_eq(&board, &boards.get(key, 2)),
            "one board per key"
        );
        board
            .apply(&records(&[(0, 0, 3, 1.5), (0, 0, -1, 0.0)]))
            .unwrap();
        assert!(
            !board.is_ready() && board.newer_than(0).is_none(),
            "shard 1 missing"
        );
        board
            .apply(&records(&[(1, 0, 0, 2.0), (1, 0, -1, 0.0)]))
            .unwrap();
        assert!(board.is_ready());
        let v = board.newer_than(0).unwrap();
        assert_eq!(
            (v.values, v.version, v.seen),
            (vec![2.0, 0.0, 0.0, 1.5], 0, 2)
        );
        assert!(board.newer_than(2).is_none(), "nothing new since");
        // Shard 0 publishes version 7: the merged version is still 0 until shard 1 does.
        board
            .apply(&records(&[(0, 7, 3, 2.5), (0, 7, -1, 0.0)]))
            .unwrap();
        let v = board.newer_than(2).unwrap();
        assert_eq!((v.values[3], v.version), (2.5, 0));
        board.apply(&records(&[(1, 7, -1, 0.0)])).unwrap();
        assert_eq!(board.newer_than(3).unwrap().version, 7);
    }

    #[test]
    fn a_sparse_reader_reads_the_values_it_asks_for_and_zeros_beyond() {
        let board = Board::new("mf", 1);
        board
            .apply(&records(&[(0, 4, 1, 0.5), (0, 4, 3, 1.5), (0, 4, -1, 0.0)]))
            .unwrap();
        assert_eq!(board.newer_number(0), Some((4, 1)));
        assert_eq!(board.newer_number(1), None, "nothing new since");
        assert_eq!(board.latest_number(), Some((4, 1)));
        let mut out = [9.0; 4];
        board.values().read(1, &mut out);
        assert_eq!(out, [0.5, 0.0, 1.5, 0.0], "index 4 was never published");
        board.values().read(10, &mut out);
        assert_eq!(out, [0.0; 4]);
    }

    #[test]
    fn hostile_records_are_refused() {
        let board = Board::new("lr", 1);
        assert!(
            board.apply(&records(&[(3, 0, -1, 0.0)])).is_err(),
            "no shard 3"
        );
        assert!(board.apply(&records(&[(0, 0, 1 << 40, 0.0)])).is_err());
        let wrong = Batch::try_new(vec![0], vec![Column::i64(vec![1])]).unwrap();
        assert!(board.apply(&wrong).is_err());
    }
}

//! A `matrix_factorization` partition as a worker of its parameter servers (design §6,
//! "Matrix factorisation on parameter servers"): the global mean's count and sum and every
//! item's bias and factors live on the shards, keyed as `quiver_ml`'s [`MfLayout`] lays them
//! out (the item id is its index); users stay in the partition that owns them.
//!
//! Sparse both ways. The worker pulls an item from the board the first time a row of it
//! comes in an epoch (absent there: it starts from the id-derived factors the library draws
//! when it learns the item) and remembers the values it pulled as the item's *base*. At a
//! barrier it pushes, for the items rated in the epoch only, the change of each value
//! since its base (averaged by the shards), and the change of the ratings' count and sum
//! (summed). Then, when a newer version is complete, it adopts it: each pushed item becomes
//! the version's value plus the change just pushed (which no version holds yet), every other
//! cached item is dropped (pulled again at its next row), and so is the mean. A single
//! worker never adopts: its model is the whole model (it reads only the version number).

use crate::ml_stages::columns::data_error;
use crate::ml_stages::sharing::change_batch;
use crate::operator::{OperatorError, Wait};
use crate::parameters::WorkerLink;
use quiver_ml::recommendation::{MatrixFactorization, MfLayout};
use quiver_protocol::batch::Batch;
use rustc_hash::FxHashMap;

/// A matrix factorisation partition's side of its parameter servers.
pub(super) struct ItemSharing {
    stage: String,
    link: WorkerLink,
    layout: MfLayout,
    /// The items cached this epoch.
    cache: FxHashMap<u64, Cached>,
    /// The ratings' count and sum the next change is measured from.
    stats: [f64; 2],
    /// The change of the count and sum the last push carried.
    pushed_stats: [f64; 2],
    /// The version adopted.
    version: u64,
    /// The board's count of shard versions when last read.
    seen: u64,
    /// The mean was pulled (or seeded) once the shards were ready.
    started: bool,
}

/// An item in a worker's cache.
struct Cached {
    /// Its values when last pulled, pushed or adopted: its next change is measured from them
    /// (zeros for an item the shards did not hold).
    base: Vec<f64>,
    /// A row of it with a rating came since the last push.
    rated: bool,
    /// The change the last push carried (`None`: the item was not in it).
    pushed: Option<Vec<f64>>,
}

impl Cached {
    fn new(base: Vec<f64>, rated: bool) -> Self {
        Cached {
            base,
            rated,
            pushed: None,
        }
    }
}

impl ItemSharing {
    /// The worker side of the stage `stage`, whose model has `layout`.
    pub(super) fn new(stage: &str, link: WorkerLink, layout: MfLayout) -> Self {
        ItemSharing {
            stage: stage.to_string(),
            link,
            layout,
            cache: FxHashMap::default(),
            stats: [0.0; 2],
            pushed_stats: [0.0; 2],
            version: 0,
            seen: 0,
            started: false,
        }
    }

    /// The version rows are scored with.
    pub(super) fn version(&self) -> u64 {
        self.version
    }

    /// Until every shard has published its first version: what the task awaits.
    pub(super) fn ready(&self) -> Option<Wait> {
        (!self.link.board.is_ready()).then(|| self.link.board.wait_ready())
    }

    /// Before the first row: the model takes the shards' ratings count and sum, and the
    /// version number.
    pub(super) fn start(&mut self, model: &mut MatrixFactorization) -> Result<(), OperatorError> {
        if std::mem::replace(&mut self.started, true) {
            return Ok(());
        }
        if let Some((version, seen)) = self.link.board.latest_number() {
            (self.version, self.seen) = (version.max(0) as u64, seen);
        }
        self.link.board.values().read(0, &mut self.stats);
        model
            .set_rating_stats(self.stats)
            .map_err(|e| data_error(&self.stage, e))
    }

    /// A model restored from state saved before the stage had parameter servers: its mean
    /// and items are pushed whole at the first barrier (their bases are zeros).
    pub(super) fn seed(&mut self, model: &MatrixFactorization) {
        self.started = true;
        self.stats = [0.0; 2];
        for item in model.items() {
            let zeros = vec![0.0; self.layout.stride()];
            self.cache.insert(item, Cached::new(zeros, true));
        }
    }

    /// Makes `item` ready to score and (`rated`: the row has a rating) learn: pulled from the
    /// board at its first row of the epoch; a rated item is pushed at the next barrier.
    /// `false`: the item id has no index (beyond [`MfLayout::max_item`]), so it can be scored
    /// but not learnt.
    pub(super) fn pull(
        &mut self,
        model: &mut MatrixFactorization,
        item: u64,
        rated: bool,
    ) -> Result<bool, OperatorError> {
        let Some(index) = self.layout.item_index(item) else {
            return Ok(false);
        };
        if let Some(cached) = self.cache.get_mut(&item) {
            cached.rated |= rated;
            return Ok(true);
        }
        let mut values = vec![0.0; self.layout.stride()];
        self.link.board.values().read(index as usize, &mut values);
        if values.iter().any(|&v| v != 0.0) {
            model
                .set_item_parameters(item, &values)
                .map_err(|e| data_error(&self.stage, e))?;
        }
        self.cache.insert(item, Cached::new(values, rated));
        Ok(true)
    }

    /// The changes since the last push, as records for the shards (the items rated and the
    /// ratings' count and sum; an unchanged value is left out); the next changes are
    /// measured from now.
    pub(super) fn push(&mut self, model: &MatrixFactorization) -> Batch {
        let layout = self.layout;
        let (mut keys, mut changes, mut averaged) = (Vec::new(), Vec::new(), Vec::new());
        let mut record = |key: i64, now: f64, before: &mut f64| {
            let change = now - *before;
            if now != *before {
                keys.push(key);
                changes.push(change);
                averaged.push(i64::from(layout.averaged(key)));
                *before = now;
            }
            change
        };
        let stats = model.rating_stats();
        self.pushed_stats = [
            record(MfLayout::COUNT, stats[0], &mut self.stats[0]),
            record(MfLayout::SUM, stats[1], &mut self.stats[1]),
        ];
        let mut rated = Vec::new();
        for (&item, cached) in &mut self.cache {
            cached.pushed = None;
            if std::mem::take(&mut cached.rated) {
                rated.push(item);
            }
        }
        rated.sort_unstable();
        for item in rated {
            let (Some(now), Some(index), Some(cached)) = (
                model.item_parameters(item),
                layout.item_index(item),
                self.cache.get_mut(&item),
            ) else {
                continue;
            };
            let change: Vec<f64> = (now.iter().zip(cached.base.iter_mut()).enumerate())
                .map(|(k, (&v, before))| record(index + k as i64, v, before))
                .collect();
            cached.pushed = change.iter().any(|&c| c != 0.0).then_some(change);
        }
        change_batch(keys, changes, averaged)
    }

    /// Barrier: pushes the changes, then adopts the newest complete version (its number
    /// only, for a single worker).
    pub(super) fn push_then_adopt(
        &mut self,
        model: &mut MatrixFactorization,
    ) -> Result<Batch, OperatorError> {
        let pushed = self.push(model);
        let Some((version, seen)) = self.link.board.newer_number(self.seen) else {
            return Ok(pushed);
        };
        (self.version, self.seen) = (version.max(0) as u64, seen);
        if self.link.workers > 1 {
            self.adopt(model)?;
        }
        Ok(pushed)
    }

    /// The board's values plus the changes the last push carried, for the items in it and
    /// the mean; every other item leaves the cache.
    fn adopt(&mut self, model: &mut MatrixFactorization) -> Result<(), OperatorError> {
        let values = self.link.board.values();
        let mut stats = [0.0; 2];
        values.read(0, &mut stats);
        for (s, change) in stats.iter_mut().zip(self.pushed_stats) {
            *s += change;
        }
        let mut kept = FxHashMap::default();
        for (item, cached) in self.cache.drain() {
            let (Some(change), Some(index)) = (cached.pushed, self.layout.item_index(item)) else {
                model.remove_item(item);
                continue;
            };
            let mut adopted = vec![0.0; self.layout.stride()];
            values.read(index as usize, &mut adopted);
            for (v, c) in adopted.iter_mut().zip(change) {
                *v += c;
            }
            model
                .set_item_parameters(item, &adopted)
                .map_err(|e| data_error(&self.stage, e))?;
            kept.insert(item, Cached::new(adopted, false));
        }
        drop(values);
        self.cache = kept;
        model
            .set_rating_stats(stats)
            .map_err(|e| data_error(&self.stage, e))?;
        self.stats = stats;
        Ok(())
    }
}

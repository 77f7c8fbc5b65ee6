//! A `matrix_factorization` partition as a worker of its parameter servers (design §6,
//! "Matrix factorisation on parameter servers"): the global mean's count and sum and every
//! item's bias and factors live on the shards, keyed as `quiver_ml`'s [`MfLayout`] lays them
//! out (the item id is its index); users stay in the partition that owns them.
//!
//! Sparse both ways. The worker pulls an item from the board the first time a row of it
//! comes in an epoch (absent there: it starts from the id-derived factors the library draws
//! when it learns the item) and remembers the values it pulled as the item's *base*. At a
//! barrier it pushes, for the items it learnt in the epoch only, the change of each value
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
use rustc_hash::{FxHashMap, FxHashSet};

/// A matrix factorisation partition's side of its parameter servers.
pub(super) struct ItemSharing {
    stage: String,
    link: WorkerLink,
    layout: MfLayout,
    /// Each cached item's values when last pulled, pushed or adopted: its next change is
    /// measured from them (zeros for an item the shards did not hold).
    base: FxHashMap<u64, Vec<f64>>,
    /// The ratings' count and sum the next change is measured from.
    stats: [f64; 2],
    /// Items learnt since the last push.
    touched: FxHashSet<u64>,
    /// The version adopted.
    version: u64,
    /// The board's count of shard versions when last read.
    seen: u64,
    /// The mean was pulled (or seeded) once the shards were ready.
    started: bool,
}

impl ItemSharing {
    /// The worker side of the stage `stage`, whose model has `layout`.
    pub(super) fn new(stage: &str, link: WorkerLink, layout: MfLayout) -> Self {
        ItemSharing {
            stage: stage.to_string(),
            link,
            layout,
            base: FxHashMap::default(),
            stats: [0.0; 2],
            touched: FxHashSet::default(),
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
            self.base.insert(item, vec![0.0; self.layout.stride()]);
            self.touched.insert(item);
        }
    }

    /// Makes `item` ready to score and learn: pulled from the board at its first row of the
    /// epoch. `false`: the item id has no index (beyond [`MfLayout::max_item`]), so it can
    /// be scored but not learnt.
    pub(super) fn pull(
        &mut self,
        model: &mut MatrixFactorization,
        item: u64,
    ) -> Result<bool, OperatorError> {
        let Some(index) = self.layout.item_index(item) else {
            return Ok(false);
        };
        if self.base.contains_key(&item) {
            return Ok(true);
        }
        let mut values = vec![0.0; self.layout.stride()];
        self.link.board.values().read(index as usize, &mut values);
        if values.iter().any(|&v| v != 0.0) {
            model
                .set_item_parameters(item, &values)
                .map_err(|e| data_error(&self.stage, e))?;
        }
        self.base.insert(item, values);
        Ok(true)
    }

    /// A row of `item` was learnt: it is pushed at the next barrier.
    pub(super) fn learnt(&mut self, item: u64) {
        self.touched.insert(item);
    }

    /// The changes since the last push, as records for the shards (the items learnt and the
    /// ratings' count and sum); the next changes are measured from now.
    pub(super) fn push(&mut self, model: &MatrixFactorization) -> Batch {
        let layout = self.layout;
        let (mut keys, mut changes, mut averaged) = (Vec::new(), Vec::new(), Vec::new());
        let mut record = |key: i64, now: f64, before: &mut f64| {
            if now != *before {
                keys.push(key);
                changes.push(now - *before);
                averaged.push(i64::from(layout.averaged(key)));
                *before = now;
            }
        };
        let stats = model.rating_stats();
        record(MfLayout::COUNT, stats[0], &mut self.stats[0]);
        record(MfLayout::SUM, stats[1], &mut self.stats[1]);
        let mut touched: Vec<u64> = self.touched.drain().collect();
        touched.sort_unstable();
        for item in touched {
            let (Some(now), Some(index)) = (model.item_parameters(item), layout.item_index(item))
            else {
                continue;
            };
            let base = self
                .base
                .entry(item)
                .or_insert_with(|| vec![0.0; now.len()]);
            for (k, (&v, before)) in now.iter().zip(base.iter_mut()).enumerate() {
                record(index + k as i64, v, before);
            }
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
            self.adopt(model, &pushed)?;
        }
        Ok(pushed)
    }

    /// The board's values plus the changes `pushed` for the items pushed and the mean;
    /// every other item leaves the cache.
    fn adopt(
        &mut self,
        model: &mut MatrixFactorization,
        pushed: &Batch,
    ) -> Result<(), OperatorError> {
        let columns = pushed.columns();
        let (Some(keys), Some(changes)) = (columns[0].as_i64(), columns[1].as_f64()) else {
            return Ok(());
        };
        let change: FxHashMap<i64, f64> =
            keys.iter().copied().zip(changes.iter().copied()).collect();
        let values = self.link.board.values();
        let mut stats = [0.0; 2];
        values.read(0, &mut stats);
        for (k, s) in stats.iter_mut().enumerate() {
            *s += change.get(&(k as i64)).copied().unwrap_or(0.0);
        }
        let mut kept = FxHashMap::default();
        for (item, _) in self.base.drain() {
            let index = self.layout.item_index(item).unwrap_or(i64::MAX);
            let pushed_item =
                (0..self.layout.stride() as i64).any(|k| change.contains_key(&(index + k)));
            if !pushed_item {
                model.remove_item(item);
                continue;
            }
            let mut adopted = vec![0.0; self.layout.stride()];
            values.read(index as usize, &mut adopted);
            for (k, v) in adopted.iter_mut().enumerate() {
                *v += change.get(&(index + k as i64)).copied().unwrap_or(0.0);
            }
            model
                .set_item_parameters(item, &adopted)
                .map_err(|e| data_error(&self.stage, e))?;
            kept.insert(item, adopted);
        }
        drop(values);
        self.base = kept;
        model
            .set_rating_stats(stats)
            .map_err(|e| data_error(&self.stage, e))?;
        self.stats = stats;
        Ok(())
    }
}

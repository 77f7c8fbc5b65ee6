//! `kind = "recommend"`: online top-K recommendations per user.
//!
//! For each row `(user, item, strength)` the partition first scores the row against the list
//! it served the user before (`hit`: was the item in it?), then learns from it — biased
//! matrix factorisation of `strength` (`quiver_ml::recommendation::MatrixFactorization`),
//! the item's co-occurrence with the user's recent items and its popularity
//! ([`graph::ItemGraph`]), the user's history — and then ranks the user's candidates into a
//! new list of `k` items: the neighbours of the user's recent items and popular items,
//! without what the user has seen. The user's variant (a hash of the id against `ab_split`)
//! says how candidates are ranked: `mf` by the factorisation's predicted strength,
//! `cooccurrence` by co-occurrence weight. A row with a null user or item gets null outputs
//! and teaches nothing; a null strength ranks without learning.
//!
//! The input is partitioned by user, so a user's history and list live in one partition;
//! item knowledge (factors, co-occurrence, popularity) is each partition's own, learnt from
//! its users (a uniform sample of all users under hash partitioning). State is snapshotted
//! whole per partition, as the other per-partition models are: a checkpoint copies every
//! user's history (O(users), unlike `matrix_factorization`'s incremental user state), and a
//! restore at another parallelism keeps one partition's state per new partition. With
//! `job.state_ttl`, a user without a row for that long is forgotten (history, list, factors).

mod graph;
#[cfg(test)]
mod tests;

use super::columns::{data_error, learnt, refused, row_error, version_i64, Ids, InputColumn};
use super::stage::AddColumns;
use super::PartitionState;
use crate::operator::{KeyGroupState, OperatorError, SavedState};
use crate::operators::StageContext;
use crate::state::ttl::Clock;
use graph::ItemGraph;
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{OnlineModel, Persist};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{RecommendStage, StageSpec};
use quiver_protocol::Schema;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The largest snapshot a restore decodes.
const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

/// The variant of users ranked by the factorisation.
pub(crate) const VARIANT_MF: &str = "mf";
/// The variant of users ranked by co-occurrence.
pub(crate) const VARIANT_COOCCURRENCE: &str = "cooccurrence";

/// What a partition keeps per user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UserRecord {
    /// Recent distinct items, oldest first.
    recent: Vec<u64>,
    /// The list served after the user's last row.
    served: Vec<u64>,
    /// When the user's last row came (ms, the partition's clock; 0 without a TTL).
    seen: i64,
}

/// A partition's state, as a restore reads it.
#[derive(Deserialize)]
struct Saved {
    model: Vec<u8>,
    users: Vec<(u64, UserRecord)>,
    items: ItemGraph,
    expired: u64,
}

/// A partition's state, as a snapshot writes it (the layout of [`Saved`], borrowed).
#[derive(Serialize)]
struct SavedRef<'a> {
    model: Vec<u8>,
    users: Vec<(u64, &'a UserRecord)>,
    items: &'a ItemGraph,
    expired: u64,
}

/// One partition of a `recommend` stage: its input columns and what it learnt.
struct RecommendOperator {
    stage: String,
    user: InputColumn,
    item: InputColumn,
    strength: InputColumn,
    learnt: Learnt,
}

/// What a partition learnt, and how it ranks.
struct Learnt {
    spec: RecommendStage,
    params: MfParams,
    model: MatrixFactorization,
    users: HashMap<u64, UserRecord>,
    items: ItemGraph,
    state: PartitionState,
    /// `job.state_ttl` and the clock it is read on.
    ttl: Option<(Duration, Arc<dyn Clock>)>,
    /// When users were last swept for expiry (ms).
    swept: i64,
    /// Users forgotten for the TTL.
    expired: u64,
    /// Candidate scores, reused from row to row.
    scratch: FxHashMap<u64, f64>,
}

/// Builds one partition with the job's settings `ctx`, its state TTL read on `clock`.
pub(super) fn build(
    stage: &StageSpec,
    spec: &RecommendStage,
    input: &Schema,
    state: PartitionState,
    ctx: &StageContext,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn AddColumns>, OperatorError> {
    let params = MfParams {
        n_factors: usize::try_from(spec.n_factors).unwrap_or(usize::MAX),
        seed: spec.seed,
        ..MfParams::biased_mf_stream()
    };
    let model = MatrixFactorization::new(params.clone()).map_err(|e| data_error(&stage.name, e))?;
    Ok(Box::new(RecommendOperator {
        stage: stage.name.clone(),
        user: InputColumn::find(&stage.name, input, &spec.user)?,
        item: InputColumn::find(&stage.name, input, &spec.item)?,
        strength: InputColumn::find(&stage.name, input, &spec.strength)?,
        learnt: Learnt {
            spec: spec.clone(),
            params,
            model,
            users: HashMap::new(),
            items: ItemGraph::default(),
            state,
            ttl: ctx.state_ttl.map(|ttl| (ttl, clock)),
            swept: 0,
            expired: 0,
            scratch: FxHashMap::default(),
        },
    }))
}

/// Whether `user` is ranked by co-occurrence: a SplitMix64 hash of the id, as a fraction of
/// 2^64, below `split`.
pub(crate) fn in_cooccurrence_arm(user: u64, split: f64) -> bool {
    let mut z = user.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z as f64) / 18_446_744_073_709_551_616.0 < split
}

/// The columns one batch adds, built a row at a time.
struct Lists {
    items: ColumnBuilder,
    scores: ColumnBuilder,
    variants: ColumnBuilder,
    versions: ColumnBuilder,
    hits: ColumnBuilder,
}

impl Lists {
    fn new(n: usize) -> Lists {
        Lists {
            items: ColumnBuilder::new(ColumnType::Dense, n),
            scores: ColumnBuilder::new(ColumnType::Dense, n),
            variants: ColumnBuilder::new(ColumnType::Str, n),
            versions: ColumnBuilder::new(ColumnType::I64, n),
            hits: ColumnBuilder::new(ColumnType::F64, n),
        }
    }

    fn push_null(&mut self) {
        self.items.push_null();
        self.scores.push_null();
        self.variants.push_null();
        self.versions.push_null();
        self.hits.push_null();
    }

    fn finish(self, columns: &mut Vec<Column>) {
        columns.extend(
            [
                self.items,
                self.scores,
                self.variants,
                self.versions,
                self.hits,
            ]
            .map(|mut column| column.finish()),
        );
    }
}

impl Learnt {
    /// Forgets users without a row for the TTL, at most once per tenth of it.
    fn expire(&mut self) -> i64 {
        let Some((ttl, clock)) = &self.ttl else {
            return 0;
        };
        let now = clock.now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        if now.saturating_sub(self.swept) >= (ttl_ms / 10).max(1) {
            self.swept = now;
            let before = self.users.len();
            let model = &mut self.model;
            self.users.retain(|&user, record| {
                let live = now.saturating_sub(record.seen) < ttl_ms;
                if !live {
                    model.remove_user(user);
                }
                live
            });
            self.expired += (before - self.users.len()) as u64;
        }
        now
    }

    /// Learns from `item` with `strength` for `user`. An update the factorisation refuses (it
    /// would diverge) is counted by the library; the history and the item graph learn anyway.
    fn learn(&mut self, user: u64, item: u64, strength: f64) -> Result<(), quiver_ml::MlError> {
        learnt(self.model.learn_one(user, item, strength))?;
        let record = self.users.entry(user).or_default();
        let popular = self.spec.candidates as usize;
        self.items
            .learn(&record.recent, item, self.spec.neighbours as usize, popular);
        record.recent.retain(|&seen| seen != item);
        record.recent.push(item);
        let history = self.spec.history as usize;
        if record.recent.len() > history {
            record.recent.drain(..record.recent.len() - history);
        }
        Ok(())
    }

    /// Ranks `user`'s candidates: the best `k` with their scores, and the variant.
    fn rank(&mut self, user: u64) -> (Vec<(u64, f64)>, &'static str) {
        let recent = self.users.get(&user).map_or(&[][..], |r| &r.recent[..]);
        let mut candidates =
            self.items
                .candidates(recent, self.spec.candidates as usize, &mut self.scratch);
        let variant = if in_cooccurrence_arm(user, self.spec.ab_split) {
            VARIANT_COOCCURRENCE
        } else {
            for (item, score) in &mut candidates {
                *score = self.model.predict_one(user, *item);
            }
            candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            VARIANT_MF
        };
        candidates.truncate(self.spec.k as usize);
        (candidates, variant)
    }
}

impl AddColumns for RecommendOperator {
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        let users = Ids::of(&self.stage, &self.user, batch)?;
        let items = Ids::of(&self.stage, &self.item, batch)?;
        let strengths = self.strength.numbers(&self.stage, batch)?;
        let learnt = &mut self.learnt;
        let now = learnt.expire();
        let mut out = Lists::new(n);
        let refused = |e| refused(&self.stage, e);
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let (Some(user), Some(item)) = (users.get(row)?, items.get(row)?) else {
                out.push_null();
                continue;
            };
            let served = learnt.users.get(&user).map(|r| &r.served);
            match served {
                Some(list) if !list.is_empty() => {
                    out.hits.push_f64(f64::from(u8::from(list.contains(&item))))
                }
                _ => {
                    out.hits.push_null();
                    Ok(())
                }
            }
            .map_err(refused)?;
            if let Some(strength) = strengths.finite(row)? {
                learnt
                    .learn(user, item, strength)
                    .map_err(|e| row_error(&self.stage, event_time, e))?;
            }
            let (list, variant) = learnt.rank(user);
            let ids: Vec<f64> = list.iter().map(|&(item, _)| item as i64 as f64).collect();
            let scores: Vec<f64> = list.iter().map(|&(_, score)| score).collect();
            out.items.push_dense(&ids).map_err(refused)?;
            out.scores.push_dense(&scores).map_err(refused)?;
            out.variants.push_str(variant).map_err(refused)?;
            out.versions
                .push_i64(version_i64(learnt.model.version().0))
                .map_err(refused)?;
            let record = learnt.users.entry(user).or_default();
            record.served = list.into_iter().map(|(item, _)| item).collect();
            record.seen = now;
        }
        out.finish(columns);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<KeyGroupState>, OperatorError> {
        let learnt = &self.learnt;
        let model = learnt.model.snapshot().map_err(|e| learnt.state.error(e))?;
        let mut users: Vec<(u64, &UserRecord)> =
            learnt.users.iter().map(|(&u, r)| (u, r)).collect();
        users.sort_unstable_by_key(|(user, _)| *user);
        let saved = SavedRef {
            model,
            users,
            items: &learnt.items,
            expired: learnt.expired,
        };
        let bytes = bincode::serde::encode_to_vec(&saved, bincode::config::standard());
        learnt.state.save(Some(bytes))
    }

    fn restore(&mut self, states: SavedState) -> Result<(), OperatorError> {
        let Some(bytes) = self.learnt.state.pick(states) else {
            return Ok(());
        };
        let config = bincode::config::standard().with_limit::<MAX_SNAPSHOT_BYTES>();
        let (saved, _): (Saved, usize) = bincode::serde::decode_from_slice(&bytes, config)
            .map_err(|e| self.learnt.state.error(e))?;
        self.learnt.model = if saved.model.is_empty() {
            MatrixFactorization::new(self.learnt.params.clone())
                .map_err(|e| self.learnt.state.error(e))?
        } else {
            MatrixFactorization::from_snapshot(&saved.model)
                .map_err(|e| self.learnt.state.error(e))?
        };
        self.learnt.users = saved.users.into_iter().collect();
        self.learnt.items = saved.items;
        self.learnt.expired = saved.expired;
        Ok(())
    }

    fn state_entries(&self) -> u64 {
        self.learnt.users.len() as u64
    }

    fn state_expired(&self) -> u64 {
        self.learnt.expired
    }

    fn refused_updates(&self) -> u64 {
        self.learnt.model.refused_updates().0
    }
}

//! The generator source: seeded, deterministic workloads, W1 (below) and the recommender's
//! user behaviour events ([`behaviour`]).
//!
//! Partition `p` of `P` emits the sequence numbers `seq = p, p + P, p + 2P, ...` below
//! `count` (forever without one), so the union of all partitions is `0, 1, 2, ...` whatever
//! `P` is, and each event is a function of its `seq`. For each `seq`, W1 emits:
//!
//! ```text
//! r      = splitmix64(seq ^ (seed * 0x9E3779B97F4A7C15))   // wrapping multiply
//! user   = (r % keys) as i64
//! amount = ((r >> 32) % 10_000) as f64 / 100.0             // in [0, 100), two decimals
//! ts     = seq as i64                                      // also the event time (1 per ms)
//! ```
//!
//! With `seed = 0` the mask is 0, so the data is exactly the W1 reference loop's
//! (`splitmix64(seq)`); multiplying by the odd golden-ratio constant maps each seed to a
//! distinct mask. The position is the next sequence number this partition emits.
//!
//! A batch is built as its columns directly: a few buffers per batch, no allocation per event.

pub mod behaviour;

use crate::operator::{OperatorError, Source, SourcePosition};
use behaviour::{Behaviour, Walk};
use quiver_protocol::batch::{Batch, Column, ColumnBuilder, ColumnType};
use quiver_protocol::spec::{generator_schema, GeneratorSource as GeneratorSpec, Workload};
use quiver_protocol::Schema;

/// Sebastiano Vigna's splitmix64 finaliser (the W1 reference loop's `splitmix`).
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One generated event: `(user, amount, ts)` for sequence number `seq`.
#[inline]
pub fn w1_event(seq: u64, seed: u64, keys: u64) -> (i64, f64, i64) {
    let r = splitmix64(seq ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let user = (r % keys) as i64;
    let amount = ((r >> 32) % 10_000) as f64 / 100.0;
    (user, amount, seq as i64)
}

/// What a generator emits.
#[derive(Debug, Clone)]
enum Rows {
    /// W1's `user`, `amount`, `ts`.
    W1,
    /// Behaviour events, walked block by block.
    Behaviour(Walk),
}

/// A partition of the generator.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    keys: u64,
    count: Option<u64>,
    step: u64,
    partition: u64,
    next: u64,
    rows: Rows,
    /// Schema positions of the workload's columns, in [`generator_schema`]'s order.
    columns: Vec<usize>,
}

impl Generator {
    /// Partition `partition` of `parallelism` emitting rows of `schema` (which names the
    /// workload's columns, [`generator_schema`], in any order).
    pub fn new(
        spec: &GeneratorSpec,
        schema: &Schema,
        partition: u32,
        parallelism: u32,
    ) -> Result<Generator, OperatorError> {
        if parallelism == 0 || partition >= parallelism {
            return Err(OperatorError::Data(format!(
                "generator: partition {partition} does not exist in parallelism {parallelism}"
            )));
        }
        if spec.keys == 0 {
            return Err(OperatorError::Data(
                "generator: keys must be at least 1".to_string(),
            ));
        }
        let rows = match spec.workload {
            Workload::W1 => Rows::W1,
            Workload::Behaviour if spec.items < behaviour::CATEGORIES => {
                return Err(OperatorError::Data(format!(
                    "generator: items must be at least {} (one per taste category), found {}",
                    behaviour::CATEGORIES,
                    spec.items
                )))
            }
            Workload::Behaviour => Rows::Behaviour(Walk::new(
                Behaviour {
                    seed: spec.seed,
                    keys: spec.keys,
                    items: spec.items,
                },
                u64::MAX,
            )),
        };
        Ok(Generator {
            seed: spec.seed,
            keys: spec.keys,
            count: spec.count,
            step: u64::from(parallelism),
            partition: u64::from(partition),
            next: u64::from(partition),
            rows,
            columns: positions(&generator_schema(spec.workload), schema)?,
        })
    }

    /// The next `n` W1 events, as columns in [`generator_schema`]'s order, and their times.
    fn w1_columns(&mut self, n: usize) -> (Vec<Column>, Vec<i64>) {
        let (mut users, mut amounts, mut times) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for _ in 0..n {
            let (user, amount, ts) = w1_event(self.next, self.seed, self.keys);
            users.push(user);
            amounts.push(amount);
            times.push(ts);
            self.next += self.step;
        }
        let columns = vec![
            Column::i64(users),
            Column::f64(amounts),
            Column::i64(times.clone()),
        ];
        (columns, times)
    }
}

/// The position in `schema` of each column of `generated` (a workload's schema): `schema`
/// must hold exactly those columns, with their types, in any order.
fn positions(generated: &Schema, schema: &Schema) -> Result<Vec<usize>, OperatorError> {
    let names = generated.names();
    let columns = generated
        .columns
        .iter()
        .map(|c| {
            schema
                .index_of(&c.name)
                .filter(|&i| schema.columns[i].ty == c.ty)
                .ok_or_else(|| {
                    OperatorError::Data(format!(
                        "generator: the schema needs column \"{}\" of type {} (schema: {})",
                        c.name,
                        c.ty,
                        schema.names()
                    ))
                })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    if let Some(extra) = schema
        .columns
        .iter()
        .find(|c| generated.index_of(&c.name).is_none())
    {
        return Err(OperatorError::Data(format!(
            "generator: column \"{}\" is not generated (it emits {names})",
            extra.name
        )));
    }
    Ok(columns)
}

/// The next `n` behaviour events of a partition from `next` on, every `step`-th, walked
/// with `walk`: columns in [`generator_schema`]'s order, and their times.
fn behaviour_columns(
    walk: &mut Walk,
    next: &mut u64,
    step: u64,
    n: usize,
) -> Result<(Vec<Column>, Vec<i64>), OperatorError> {
    let types = [
        ColumnType::I64,
        ColumnType::I64,
        ColumnType::Str,
        ColumnType::F64,
        ColumnType::F64,
        ColumnType::F64,
    ];
    let mut b = types.map(|ty| ColumnBuilder::new(ty, n));
    let mut times = Vec::with_capacity(n);
    let bug = |e| OperatorError::Data(format!("generator: a builder refused a value: {e:?}"));
    for _ in 0..n {
        let e = walk.event_at(*next);
        b[0].push_i64(e.user).map_err(bug)?;
        b[1].push_i64(e.item).map_err(bug)?;
        b[2].push_str(e.action.name()).map_err(bug)?;
        match e.rating {
            Some(r) => b[3].push_f64(r).map_err(bug)?,
            None => b[3].push_null(),
        }
        b[4].push_f64(e.strength).map_err(bug)?;
        b[5].push_f64(e.clicked).map_err(bug)?;
        times.push(e.ts);
        *next += step;
    }
    let mut columns: Vec<Column> = b.iter_mut().map(ColumnBuilder::finish).collect();
    columns.push(Column::i64(times.clone()));
    Ok((columns, times))
}

impl Source for Generator {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        let left = match self.count {
            Some(count) if self.next >= count => return Ok(None),
            Some(count) => (count - self.next).div_ceil(self.step),
            None => u64::MAX,
        };
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(max);
        // The event time is `ts`.
        let (generated, times) = match &mut self.rows {
            Rows::W1 => self.w1_columns(n),
            Rows::Behaviour(walk) => behaviour_columns(walk, &mut self.next, self.step, n)?,
        };
        let mut columns: Vec<(usize, Column)> =
            self.columns.iter().copied().zip(generated).collect();
        columns.sort_unstable_by_key(|(at, _)| *at);
        Batch::try_new(times, columns.into_iter().map(|(_, c)| c).collect())
            .map(Some)
            .map_err(|e| OperatorError::Data(format!("generator: {e}")))
    }

    fn position(&self) -> SourcePosition {
        SourcePosition::Sequence(self.next)
    }

    fn seek(&mut self, position: SourcePosition) -> Result<(), OperatorError> {
        match position {
            SourcePosition::Sequence(seq) if seq % self.step == self.partition => {
                self.next = seq;
                Ok(())
            }
            other => Err(OperatorError::State(format!(
                "generator partition {} of {}: cannot seek to {other:?} (it emits sequence numbers {} + k*{})",
                self.partition, self.step, self.partition, self.step
            ))),
        }
    }

    fn blocks(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod behaviour_tests;
#[cfg(test)]
mod tests;

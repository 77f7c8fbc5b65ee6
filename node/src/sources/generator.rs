//! The generator source: the seeded, deterministic W1 workload.
//!
//! Partition `p` of `P` emits the sequence numbers `seq = p, p + P, p + 2P, ...` below
//! `count` (forever without one), so the union of all partitions is `0, 1, 2, ...` whatever
//! `P` is. For each `seq`:
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

use crate::operator::{OperatorError, Source, SourcePosition};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::spec::GeneratorSource as GeneratorSpec;
use quiver_protocol::{Schema, ValueType};

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

/// A partition of the generator.
#[derive(Debug, Clone)]
pub struct Generator {
    seed: u64,
    keys: u64,
    count: Option<u64>,
    step: u64,
    partition: u64,
    next: u64,
    /// Schema positions of `user`, `amount`, `ts`.
    columns: [usize; 3],
}

impl Generator {
    /// Partition `partition` of `parallelism` emitting rows of `schema` (which names the
    /// columns `user`, `amount` and `ts`, in any order).
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
        let expected = [
            ("user", ValueType::I64),
            ("amount", ValueType::F64),
            ("ts", ValueType::I64),
        ];
        let mut columns = [0; 3];
        for (slot, (name, ty)) in columns.iter_mut().zip(expected) {
            *slot = schema
                .index_of(name)
                .filter(|&i| schema.columns[i].ty == ty)
                .ok_or_else(|| {
                    OperatorError::Data(format!(
                        "generator: the schema needs column \"{name}\" of type {ty} (schema: {})",
                        schema.names()
                    ))
                })?;
        }
        if let Some(extra) = schema
            .columns
            .iter()
            .find(|c| !expected.iter().any(|(n, _)| *n == c.name))
        {
            return Err(OperatorError::Data(format!(
                "generator: column \"{}\" is not generated (it emits user, amount, ts)",
                extra.name
            )));
        }
        Ok(Generator {
            seed: spec.seed,
            keys: spec.keys,
            count: spec.count,
            step: u64::from(parallelism),
            partition: u64::from(partition),
            next: u64::from(partition),
            columns,
        })
    }
}

impl Source for Generator {
    fn poll_batch(&mut self, max: usize) -> Result<Option<Batch>, OperatorError> {
        let left = match self.count {
            Some(count) if self.next >= count => return Ok(None),
            Some(count) => (count - self.next).div_ceil(self.step),
            None => u64::MAX,
        };
        let n = usize::try_from(left).unwrap_or(usize::MAX).min(max);
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
        // The event time is `ts`.
        let [cu, ca, ct] = self.columns;
        let mut columns = [
            (cu, Column::i64(users)),
            (ca, Column::f64(amounts)),
            (ct, Column::i64(times.clone())),
        ];
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
mod tests;

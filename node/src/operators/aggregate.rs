//! The `aggregate` stage: keyed `count`/`sum`/`min`/`max`/`avg`, running or over event-time
//! windows.
//!
//! - Running (no window): one updated row per input record, `key columns, aggregates` in spec
//!   order, with the input's event time.
//! - Windowed ([`aligned`]: tumbling and sliding; [`session`]): a window `[start, end)` fires
//!   when the watermark reaches `end - 1`, emitting `key columns, window_start, window_end,
//!   aggregates` with event time `end - 1`. A record whose windows have all fired already is
//!   late: it goes to [`Output::late`](crate::operator::Output) unchanged. `on_end` fires what
//!   is left, in window-end order. Window bounds are computed with checked arithmetic: a
//!   record whose windows would reach beyond `i64` (only possible outside the event-time range
//!   sources accept, `quiver_protocol::record::EVENT_TIME_RANGE`) is an
//!   [`OperatorError::Data`], never a wrapped or clamped window.
//!
//! Batches are read and written as columns ([`columns`]): keys and aggregate arguments are
//! read from the typed key and argument columns (their types checked once per batch, null
//! values by the validity bitmap), the running aggregate emits the input's event times and
//! key columns (shared) with new aggregate columns, and fired windows are built column by
//! column. Late records are the input rows that were late, taken from the input batch.
//!
//! State lives per key in tables of the keyed-state layer (`crate::state`): a checkpoint
//! copies only the entries changed since the last confirmed checkpoint, encoded per key group
//! (the fixed key hash of `quiver_protocol::keygroup` over the key columns) as bincode keys
//! and values, with the operator's watermark as the header of every chain. With
//! `job.state_ttl`, a key's state — a running aggregate's accumulators, a windowed
//! aggregate's pending windows or sessions — expires a TTL after its last write ([`ttl`]).

mod acc_columns;
mod accumulator;
mod aligned;
mod columns;
mod flags;
mod key;
mod running;
mod session;
mod table;
mod ttl;

use super::StageContext;
use crate::operator::{KeyGroupState, Operator, OperatorError};
use crate::state::ttl::{Clock, Expiry, WallClock};
use crate::state::{DeltaCopy, Restored};
use accumulator::{Acc, AggregatePlan};
use key::{GroupKey, I64Key, StrKey, ValuesKey};
use quiver_protocol::keygroup::key_group;
use quiver_protocol::record::{MAX_EVENT_TIME, MAX_EVENT_TIME_SPAN_MS, MIN_EVENT_TIME};
use quiver_protocol::spec::{AggregateStage, WindowSpec, MAX_WINDOWS_PER_RECORD};
use quiver_protocol::state_piece::PieceKind;
use quiver_protocol::{Column, KeyGroup, Schema, ValueType};
use std::sync::Arc;
use std::time::Duration;

/// Builds an aggregate stage named `name` over rows of `input`. When `output` (the stage's
/// validated schema) is given, it must be the layout the stage emits. State expires after
/// `ctx.state_ttl` by the system clock.
pub(crate) fn build(
    name: &str,
    spec: &AggregateStage,
    input: &Schema,
    output: &Schema,
    ctx: &StageContext,
) -> Result<Box<dyn Operator>, OperatorError> {
    build_with_clock(name, spec, input, output, ctx, Arc::new(WallClock::new()))
}

/// [`build`] with the processing-time clock of the state TTL.
pub(crate) fn build_with_clock(
    name: &str,
    spec: &AggregateStage,
    input: &Schema,
    output: &Schema,
    ctx: &StageContext,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Operator>, OperatorError> {
    let key_columns = spec
        .key
        .iter()
        .map(|k| {
            input.index_of(k).ok_or_else(|| {
                OperatorError::Data(format!(
                    "stage \"{name}\": key column \"{k}\" is not in the input (columns: {})",
                    input.names()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let emitted = output_schema(spec, input, &key_columns);
    if !output.columns.is_empty() && emitted != *output {
        return Err(OperatorError::Data(format!(
            "stage \"{name}\": the spec's output schema ({}) is not what the aggregate emits ({})",
            output.names(),
            emitted.names()
        )));
    }
    let single_type = match key_columns.as_slice() {
        [c] => Some(input.columns[*c].ty),
        _ => None,
    };
    match single_type {
        Some(ValueType::I64) => {
            build_keyed::<I64Key>(name, spec, input, &emitted, key_columns, ctx, clock)
        }
        Some(ValueType::Str) => {
            build_keyed::<StrKey>(name, spec, input, &emitted, key_columns, ctx, clock)
        }
        _ => build_keyed::<ValuesKey>(name, spec, input, &emitted, key_columns, ctx, clock),
    }
}

/// The layout an aggregate emits: key columns, `window_start` and `window_end` when
/// windowed, then the aggregates with their output types.
fn output_schema(spec: &AggregateStage, input: &Schema, key_columns: &[usize]) -> Schema {
    let mut columns: Vec<Column> = key_columns
        .iter()
        .map(|&c| input.columns[c].clone())
        .collect();
    if spec.window.is_some() {
        for name in ["window_start", "window_end"] {
            columns.push(Column {
                name: name.to_string(),
                ty: ValueType::I64,
            });
        }
    }
    for (out, call) in &spec.aggregates {
        let column_type = call
            .column
            .as_deref()
            .and_then(|c| input.index_of(c))
            .map_or(ValueType::I64, |i| input.columns[i].ty);
        columns.push(Column {
            name: out.clone(),
            ty: column_type.aggregate_output(call.function),
        });
    }
    Schema { columns }
}

fn build_keyed<K: GroupKey>(
    name: &str,
    spec: &AggregateStage,
    input: &Schema,
    output: &Schema,
    key_columns: Vec<usize>,
    ctx: &StageContext,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Operator>, OperatorError> {
    let max_parallelism = ctx.max_parallelism;
    if max_parallelism == 0 {
        return Err(OperatorError::Data(format!(
            "stage \"{name}\": max_parallelism must be at least 1"
        )));
    }
    let plans = spec
        .aggregates
        .iter()
        .map(|(out, call)| {
            AggregatePlan::new(call.function, call.column.as_deref(), input).map_err(|e| {
                OperatorError::Data(format!("stage \"{name}\": aggregate \"{out}\": {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut core = Core::new(name, input, output, key_columns, plans, max_parallelism);
    core.tracked = ctx.checkpoints;
    // Bounded as the spec bounds them, so that window arithmetic on valid event times cannot
    // overflow and a record updates a bounded number of windows.
    let ms = |d: Duration, what: &str| -> Result<i64, OperatorError> {
        match i64::try_from(d.as_millis()) {
            Ok(ms) if (1..=MAX_EVENT_TIME_SPAN_MS).contains(&ms) => Ok(ms),
            _ => Err(OperatorError::Config(format!(
                "stage \"{name}\": window {what} must be between 1 ms and {MAX_EVENT_TIME_SPAN_MS} ms \
                 ({} days), got {d:?}",
                MAX_EVENT_TIME_SPAN_MS / 86_400_000
            ))),
        }
    };
    let expiry = ctx.state_ttl.map(|ttl| Expiry::new(ttl, clock));
    Ok(match spec.window {
        None => Box::new(running::RunningAggregate::<K>::new(core, expiry)),
        Some(WindowSpec::Tumbling { size }) => {
            let size = ms(size, "size")?;
            Box::new(aligned::AlignedWindows::<K>::new(core, size, size, expiry))
        }
        Some(WindowSpec::Sliding { size, slide }) => {
            let (size, slide) = (ms(size, "size")?, ms(slide, "slide")?);
            if slide > size {
                return Err(OperatorError::Data(format!(
                    "stage \"{name}\": sliding window slide ({slide} ms) must not exceed its size ({size} ms)"
                )));
            }
            // ceil(size / slide); both are positive.
            let windows = (size - 1) / slide + 1;
            if windows > i64::from(MAX_WINDOWS_PER_RECORD) {
                return Err(OperatorError::Config(format!(
                    "stage \"{name}\": a sliding window of size {size} ms and slide {slide} ms puts \
                     each record in {windows} windows; at most {MAX_WINDOWS_PER_RECORD} are allowed"
                )));
            }
            Box::new(aligned::AlignedWindows::<K>::new(core, size, slide, expiry))
        }
        Some(WindowSpec::Session { gap }) => Box::new(session::SessionWindows::<K>::new(
            core,
            ms(gap, "gap")?,
            expiry,
        )),
    })
}

/// What every aggregate operator shares: the plans, the schemas and the watermark.
#[derive(Clone)]
pub(crate) struct Core {
    name: String,
    key_columns: Vec<usize>,
    plans: Vec<AggregatePlan>,
    initial: Vec<Acc>,
    max_parallelism: u32,
    /// The largest watermark received (`i64::MIN` before any).
    watermark: i64,
    /// The input schema's column types: an input batch's key and argument columns must have
    /// them.
    input: Vec<ValueType>,
    /// The output schema's column types: key columns, window bounds, aggregates.
    output: Vec<ValueType>,
    /// Whether the job takes checkpoints: the state tracks the keys it changes.
    tracked: bool,
}

impl Core {
    fn new(
        name: &str,
        input: &Schema,
        output: &Schema,
        key_columns: Vec<usize>,
        plans: Vec<AggregatePlan>,
        max_parallelism: u32,
    ) -> Core {
        let initial = plans.iter().map(|p| p.initial.clone()).collect();
        let types = |schema: &Schema| schema.columns.iter().map(|c| c.ty).collect();
        Core {
            name: name.to_string(),
            key_columns,
            plans,
            initial,
            max_parallelism,
            watermark: i64::MIN,
            input: types(input),
            output: types(output),
            tracked: false,
        }
    }

    /// Moves the watermark to `watermark` if that is later; returns whether it moved (the
    /// windows it closes are then due to fire).
    fn advance_watermark(&mut self, watermark: i64) -> bool {
        let later = watermark > self.watermark;
        if later {
            self.watermark = watermark;
        }
        later
    }

    /// The error for a record at `t` whose windows would reach beyond `i64`: only possible for
    /// event times outside the valid range, which sources do not emit.
    fn time_overflow(&self, t: i64) -> OperatorError {
        self.data_error(format!(
            "event time {t} is too close to the end of the i64 range for this stage's windows \
             (sources only emit event times from {MIN_EVENT_TIME} to {MAX_EVENT_TIME} ms)"
        ))
    }

    /// A state error (saved state that cannot be restored) naming the stage.
    fn state_error(&self, message: impl std::fmt::Display) -> OperatorError {
        OperatorError::State(format!("stage \"{}\": {message}", self.name))
    }

    /// A data error naming the stage.
    fn data_error(&self, message: impl std::fmt::Display) -> OperatorError {
        OperatorError::Data(format!("stage \"{}\": {message}", self.name))
    }

    /// The key group of a key.
    fn group<K: GroupKey>(&self, key: &K) -> KeyGroup {
        key_group(key.hash_code(), self.max_parallelism)
    }

    /// A copy of `entries` for a snapshot (`kind`: the changes, or every entry) of a stage
    /// holding `live` entries, with the watermark as the header.
    fn copy<E>(
        &self,
        kind: PieceKind,
        drop_below: Option<Vec<u8>>,
        entries: Vec<(KeyGroup, E)>,
        live: usize,
    ) -> DeltaCopy<E> {
        DeltaCopy {
            operator: self.name.clone(),
            kind,
            meta: self.watermark.to_be_bytes().to_vec(),
            drop_below,
            entries,
            live,
        }
    }

    /// Restores key groups' chains, calling `add` with each live entry's key and value bytes.
    /// The watermark becomes the smallest one restored (the partitions of one stage share a
    /// watermark at a barrier; the smallest is the safe choice when they do not).
    fn restore_chains(
        &mut self,
        pieces: Vec<KeyGroupState>,
        mut add: impl FnMut(&[u8], &[u8]) -> Result<(), String>,
    ) -> Result<(), OperatorError> {
        let mut restored: Option<i64> = None;
        for group in Restored::merge(&self.name, pieces)? {
            let error = |e: String| {
                OperatorError::State(format!("stage \"{}\": {}: {e}", self.name, group.group))
            };
            if let Some(meta) = &group.meta {
                let bytes: [u8; 8] = meta.as_slice().try_into().map_err(|_| {
                    error(format!(
                        "a header of {} bytes is not a watermark",
                        meta.len()
                    ))
                })?;
                let w = i64::from_be_bytes(bytes);
                restored = Some(restored.map_or(w, |r| r.min(w)));
            }
            for (key, value) in &group.entries {
                add(key, value).map_err(error)?;
            }
        }
        if let Some(w) = restored {
            self.watermark = self.watermark.max(w);
        }
        Ok(())
    }
}

/// A key's saved accumulators in the stage's order: the stage's `i`th aggregate was saved at
/// `order[i]` (`None`: saved in the stage's order).
fn arrange(order: Option<&[usize]>, accs: Vec<Acc>) -> Result<Vec<Acc>, String> {
    let Some(order) = order else {
        return Ok(accs);
    };
    order
        .iter()
        .map(|&p| {
            accs.get(p).cloned().ok_or_else(|| {
                format!(
                    "a key has {} accumulators, none at position {p}",
                    accs.len()
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod acc_rows_tests;
#[cfg(test)]
mod event_time_bound_tests;
#[cfg(test)]
mod incremental_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod table_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ttl_tests;
#[cfg(test)]
mod window_tests;
#[cfg(test)]
mod window_ttl_tests;

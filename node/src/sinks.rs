//! Sinks: [`build_sink`] turns a validated `[[sink]]` into a [`Sink`] partition.
//!
//! Every sink writes a row as one JSON object named by the input schema's columns
//! ([`json::JsonEncoder`]), one per line:
//! - `file`: a folder of part files ([`file::FileSink`]: in-progress files start with `.`,
//!   published by renaming on [`Sink::finish`], or per checkpoint with a two-phase commit when
//!   the job is exactly-once);
//! - `stdout`: standard output ([`stdout::StdoutSink`]);
//! - `discard`: drops rows, counting them ([`discard::DiscardSink`]);
//! - `kafka`: a message per row to a Kafka topic ([`kafka::KafkaSink`]: as rows come without
//!   checkpoints, exactly once per checkpoint with them, staged in the brokers);
//! - `serve`: the last row per key into a table of the embedded serving store, served over
//!   HTTP ([`serve::ServeSink`], `crate::serving`);
//! - `redis`: `SET key row` per row in a Redis server, per completed checkpoint when the job
//!   is exactly-once ([`redis::RedisSink`]).

pub mod discard;
pub mod file;
pub mod json;
pub mod kafka;
pub mod redis;
pub mod serve;
pub mod stdout;

use crate::operator::{OperatorError, Sink};
use quiver_protocol::spec::{SinkKind, SinkSpec};
use quiver_protocol::{CheckpointId, Generation, Schema};
use std::collections::BTreeMap;

/// Where a sink partition runs: what it needs to name its files, own its folder and recover.
#[derive(Debug, Clone)]
pub struct SinkContext {
    /// The job, as shown to people (`job-3 "spend-per-user"`).
    pub job: String,
    /// The job's run id: unique per submission; output folders record the run owning them.
    pub run: u64,
    /// The run whose savepoint the job resumed from: its folders may be taken over.
    pub continues: Option<u64>,
    /// This partition: `0..parallelism`.
    pub partition: u32,
    /// The sink's parallelism in this deployment.
    pub parallelism: u32,
    /// The job's lineage: the submitted job and those started from its savepoints share it;
    /// file names carry it so runs never collide.
    pub lineage: u64,
    /// The job's generation (bumped at every recovery).
    pub generation: Generation,
    /// The job takes checkpoints: output is published per completed checkpoint
    /// (two-phase commit) instead of at the end.
    pub exactly_once: bool,
    /// The checkpoint this deployment restored from and the generation that took it; `None`
    /// for a fresh start.
    pub restored: Option<(CheckpointId, Generation)>,
    /// The deployment's cancel: a sink waiting in blocking code (for disk space) stops there.
    pub cancelled: crate::blocking::Cancellation,
}

/// For tests: partition `partition` of `parallelism` of an exactly-once job (lineage `0xab`,
/// run `0x51`) in generation `generation`, restored from `restored` (the checkpoint and the
/// generation that took it).
#[cfg(test)]
pub(crate) fn test_context(
    partition: u32,
    parallelism: u32,
    generation: u64,
    restored: Option<(u64, u64)>,
) -> SinkContext {
    SinkContext {
        job: "job-1 \"test\"".into(),
        run: 0x51,
        continues: None,
        partition,
        parallelism,
        lineage: 0xab,
        generation: Generation(generation),
        exactly_once: true,
        restored: restored.map(|(c, g)| (CheckpointId(c), Generation(g))),
        cancelled: Default::default(),
    }
}

/// Removes from `pending` the entries staged at a checkpoint `≤ checkpoint` and returns them,
/// in checkpoint order: what a sink publishes when `checkpoint` commits.
pub(crate) fn take_due<V>(
    pending: &mut BTreeMap<CheckpointId, V>,
    checkpoint: CheckpointId,
) -> BTreeMap<CheckpointId, V> {
    let later = pending.split_off(&CheckpointId(checkpoint.0.saturating_add(1)));
    std::mem::replace(pending, later)
}

/// Builds the partition of `spec` described by `ctx`, writing rows of `input`.
pub fn build_sink(
    spec: &SinkSpec,
    input: &Schema,
    ctx: &SinkContext,
) -> Result<Box<dyn Sink>, OperatorError> {
    Ok(match &spec.kind {
        SinkKind::File { path, mode } => {
            Box::new(file::FileSink::new(path, &spec.name, *mode, input, ctx)?)
        }
        SinkKind::Stdout => Box::new(stdout::StdoutSink::new(input)),
        SinkKind::Discard => Box::new(discard::DiscardSink::default()),
        SinkKind::Kafka {
            brokers,
            topic,
            key,
            compression,
        } => Box::new(kafka::KafkaSink::new(
            &spec.name,
            brokers,
            topic,
            key.as_deref(),
            *compression,
            input,
            ctx,
        )?),
        SinkKind::Serve { table, key, listen } => Box::new(serve::ServeSink::new(
            &spec.name, table, key, listen, input, ctx,
        )?),
        SinkKind::Redis(redis) => Box::new(redis::RedisSink::new(&spec.name, redis, input, ctx)?),
    })
}

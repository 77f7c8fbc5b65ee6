//! The Kafka sink's staging log: a topic of its own per job lineage and sink,
//! `quiver-staging-{lineage}-{sink}`, with one partition per sink partition, where a sink
//! partition writes what it stages at a barrier and marks what it published.
//!
//! Every record carries one header, `quiver`, `KIND GENERATION CHECKPOINT N SETTLED`:
//! - `row`: a staged row (key and value as they will be published), `N` its sequence number
//!   within the checkpoint;
//! - `staged`: the end of a checkpoint's rows, `N` their count, its value the target
//!   partitions' end offsets before any of them was published (where a re-publish looks for
//!   them);
//! - `published`: every row of the checkpoint reached the target topic;
//! - `fence`: a deployment restored this partition (a publish of an older deployment still
//!   under way sees the log move and stops).
//!
//! `SETTLED` is an offset of the log below which the writer knew nothing was left to publish,
//! so a restore reads the log from the `SETTLED` of its last record written by the restored
//! generation or a later one ([`scan_start`]), not from the beginning. Records of older
//! generations are skipped in that search: a stale writer of another attempt cannot know what
//! a later generation left unpublished.

use crate::kafka::{self, CALL_TIMEOUT};
use crate::operator::OperatorError;
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use std::sync::Arc;

/// The header naming a staging record.
pub(super) const HEADER: &str = "quiver";

/// The most bytes one fetch asks for.
const FETCH_BYTES: i32 = 1 << 20;

/// Empty answers in a row that make a read of offsets the broker holds fail.
const EMPTY_FETCHES: u32 = 20;

/// What a staging record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A staged row.
    Row,
    /// The end of a checkpoint's rows.
    Staged,
    /// A checkpoint's rows all reached the target topic.
    Published,
    /// A deployment took the partition over.
    Fence,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Row => "row",
            Kind::Staged => "staged",
            Kind::Published => "published",
            Kind::Fence => "fence",
        }
    }
}

/// The header of a staging record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mark {
    /// What the record is.
    pub(super) kind: Kind,
    /// The generation that wrote it.
    pub(super) generation: u64,
    /// The checkpoint it belongs to (0 for a fence).
    pub(super) checkpoint: u64,
    /// A row's sequence number, a checkpoint's row count; else 0.
    pub(super) n: u64,
    /// Nothing below this offset of the log was left to publish when it was written.
    pub(super) settled: i64,
}

impl Mark {
    /// The header's value.
    pub(super) fn encode(&self) -> Vec<u8> {
        format!(
            "{} {} {} {} {}",
            self.kind.name(),
            self.generation,
            self.checkpoint,
            self.n,
            self.settled
        )
        .into_bytes()
    }

    /// Reads a header's value; `None` if it is not one [`Mark::encode`] writes.
    pub(super) fn decode(bytes: &[u8]) -> Option<Mark> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split(' ');
        let kind = match parts.next()? {
            "row" => Kind::Row,
            "staged" => Kind::Staged,
            "published" => Kind::Published,
            "fence" => Kind::Fence,
            _ => return None,
        };
        let mark = Mark {
            kind,
            generation: parts.next()?.parse().ok()?,
            checkpoint: parts.next()?.parse().ok()?,
            n: parts.next()?.parse().ok()?,
            settled: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(mark)
    }

    /// The mark of a fetched record, if it has one.
    pub(super) fn of(record: &RecordAndOffset) -> Option<Mark> {
        Mark::decode(record.record.headers.get(HEADER)?)
    }
}

/// The staging topic of sink `sink` in lineage `lineage`.
pub(super) fn topic_name(lineage: u64, sink: &str) -> Result<String, OperatorError> {
    let name = format!("quiver-staging-{lineage:x}-{sink}");
    if name.len() > 249 {
        return Err(OperatorError::Config(format!(
            "kafka sink \"{sink}\": its staging topic name {name:?} is longer than Kafka's 249 \
             characters; give the sink a shorter name"
        )));
    }
    Ok(name)
}

/// Partition `partition` of the staging topic `topic`, created with `partitions` partitions
/// if missing. A topic with another partition count (the sink was rescaled) is refused.
pub(super) fn open(
    client: &Arc<Client>,
    brokers: &[String],
    topic: &str,
    partitions: u32,
    partition: u32,
) -> Result<Arc<PartitionClient>, OperatorError> {
    let count = i32::try_from(partitions).unwrap_or(i32::MAX);
    let existing = match kafka::partitions(client, brokers, topic) {
        Ok(existing) => Some(existing),
        Err(OperatorError::Config(_)) => None,
        Err(e) => return Err(e),
    };
    if existing.is_none() {
        let (c, t) = (client.clone(), topic.to_string());
        let created = kafka::call(
            || format!("create the staging topic \"{topic}\""),
            CALL_TIMEOUT,
            async move {
                c.controller_client()?
                    .create_topic(t, count, 1, 5_000)
                    .await
            },
        );
        match created {
            Ok(()) => {}
            // Another partition of the sink created it first.
            Err(e)
                if e.protocol()
                    == Some(rskafka::client::error::ProtocolError::TopicAlreadyExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let existing = existing.map_or(partitions as usize, |e| e.len());
    if existing != partitions as usize {
        return Err(OperatorError::Config(format!(
            "kafka sink: its staging topic \"{topic}\" has {existing} partitions and the sink \
             runs {partitions}: the Kafka sink cannot be rescaled yet; keep its parallelism"
        )));
    }
    let (c, t) = (client.clone(), topic.to_string());
    let p = i32::try_from(partition).unwrap_or(i32::MAX);
    let log = kafka::call(
        || format!("open the staging topic \"{topic}\" partition {partition}"),
        CALL_TIMEOUT,
        async move { c.partition_client(t, p, UnknownTopicHandling::Retry).await },
    )?;
    Ok(Arc::new(log))
}

/// The earliest or latest offset of `partition`.
pub(super) fn offset(partition: &Arc<PartitionClient>, at: OffsetAt) -> Result<i64, OperatorError> {
    let p = partition.clone();
    Ok(kafka::call(
        || {
            format!(
                "read the {at:?} offset of topic \"{}\" partition {}",
                partition.topic(),
                partition.partition()
            )
        },
        CALL_TIMEOUT,
        async move { p.get_offset(at).await },
    )?)
}

/// Every record of `partition` from offset `from` up to `to` (exclusive), in order.
pub(super) fn read(
    partition: &Arc<PartitionClient>,
    from: i64,
    to: i64,
) -> Result<Vec<RecordAndOffset>, OperatorError> {
    let mut records = Vec::new();
    let mut offset = from;
    let mut empty = 0;
    while offset < to {
        let p = partition.clone();
        let (batch, _) = kafka::call(
            || {
                format!(
                    "read topic \"{}\" partition {} at offset {offset}",
                    partition.topic(),
                    partition.partition()
                )
            },
            CALL_TIMEOUT,
            async move { p.fetch_records(offset, 1..FETCH_BYTES, 50).await },
        )?;
        let before = offset;
        for record in batch {
            if record.offset >= offset && record.offset < to {
                offset = record.offset + 1;
                records.push(record);
            }
        }
        if offset == before {
            // The broker holds the offsets below `to`: an answer without them is a slow one.
            empty += 1;
            if empty == EMPTY_FETCHES {
                return Err(OperatorError::Io(format!(
                    "topic \"{}\" partition {}: no records at offset {offset} below its end \
                     {to} after {EMPTY_FETCHES} fetches",
                    partition.topic(),
                    partition.partition()
                )));
            }
        }
    }
    Ok(records)
}

/// Where a restore of generation `generation`'s checkpoint reads the log from: the
/// `SETTLED` of the last record of `[low, end)` written by that generation or a later one,
/// searched backwards in growing windows; `low` if there is none.
pub(super) fn scan_start(
    log: &Arc<PartitionClient>,
    low: i64,
    end: i64,
    generation: u64,
) -> Result<i64, OperatorError> {
    let mut window = 256;
    loop {
        let from = end.saturating_sub(window).max(low);
        let last = read(log, from, end)?
            .iter()
            .rev()
            .filter_map(Mark::of)
            .find(|m| m.generation >= generation);
        if let Some(mark) = last {
            return Ok(mark.settled.clamp(low, end));
        }
        if from == low {
            return Ok(low);
        }
        window = window.saturating_mul(8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_reads_back_as_written_and_nothing_else_reads() {
        let mark = Mark {
            kind: Kind::Staged,
            generation: 3,
            checkpoint: 17,
            n: 250,
            settled: 1200,
        };
        assert_eq!(mark.encode(), b"staged 3 17 250 1200");
        assert_eq!(Mark::decode(&mark.encode()), Some(mark));
        for bad in [
            "",
            "row 1 2 3",
            "row 1 2 3 4 5",
            "rows 1 2 3 4",
            "row x 2 3 4",
        ] {
            assert_eq!(Mark::decode(bad.as_bytes()), None, "{bad:?}");
        }
    }
}

//! What `quiver job list`, `quiver job status` and `quiver cluster status` show: reports
//! built from the coordinator's live view of jobs and nodes.

use super::{Cluster, JobEntry, Lost};
use quiver_protocol::messages::{
    ClusterReport, JobReport, JobSummary, NodeReport, RatingErrors, Restarts, TaskMetrics,
    TaskReport,
};
use quiver_protocol::plan::OperatorKind;
use quiver_protocol::JobId;
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// One operator of a job's graph, for the dashboard (`/api/jobs/{id}/graph`).
#[derive(Serialize)]
pub(crate) struct GraphOperator {
    /// Its position in the plan.
    id: u32,
    /// Its spec name (`LEARNER/params`, `LEARNER/versions` for parameter servers).
    name: String,
    /// `source`, `stage`, `sink` or `parameters`.
    kind: &'static str,
    /// Its partitions.
    parallelism: u32,
    /// The operator it reads, if any.
    input: Option<u32>,
    /// The operator heading the task it runs in (itself unless chained).
    task: u32,
}

impl Cluster {
    /// A job's operators and how they connect.
    pub(crate) fn graph(&self, job: JobId) -> Result<Vec<GraphOperator>, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let plan = &entry.plan;
        Ok(plan
            .operators
            .iter()
            .map(|o| GraphOperator {
                id: o.id.0,
                name: o.name.clone(),
                kind: match o.kind {
                    OperatorKind::Source(_) => "source",
                    OperatorKind::Stage(_) => "stage",
                    OperatorKind::Sink(_) => "sink",
                    OperatorKind::Parameters(_) => "parameters",
                },
                parallelism: o.parallelism,
                input: o.input.as_ref().map(|e| e.from.0),
                task: plan.chain_head(o).0,
            })
            .collect())
    }

    fn summary(entry: &JobEntry) -> JobSummary {
        JobSummary {
            job: entry.record.job,
            name: entry.record.name.clone(),
            state: entry.record.state,
            generation: entry.record.generation,
        }
    }

    /// Every job.
    pub(crate) fn list(&self) -> Vec<JobSummary> {
        self.jobs.values().map(Self::summary).collect()
    }

    /// One job's report.
    pub(crate) fn status(&self, job: JobId) -> Result<JobReport, String> {
        let entry = self
            .jobs
            .get(&job)
            .ok_or_else(|| format!("no job {job}: see `quiver job list`"))?;
        let sources: HashSet<_> = entry
            .plan
            .operators
            .iter()
            .filter(|o| matches!(o.kind, OperatorKind::Source(_)))
            .map(|o| o.id)
            .collect();
        let tasks: Vec<TaskReport> = entry
            .tasks
            .iter()
            .map(|(id, t)| TaskReport {
                task: *id,
                operators: t.operators.clone(),
                node: t.node,
                finished: t.finished,
                metrics: t.metrics.clone(),
            })
            .collect();
        let elapsed = match (entry.started, entry.ended) {
            (Some(s), Some(e)) => e.saturating_duration_since(s),
            (Some(s), None) => s.elapsed(),
            _ => Duration::ZERO,
        };
        Ok(JobReport {
            summary: Self::summary(entry),
            error: entry
                .waiting_for
                .clone()
                .or_else(|| entry.record.error.clone()),
            elapsed_ms: elapsed.as_millis() as u64,
            source_records: tasks
                .iter()
                .filter(|t| sources.contains(&t.task.operator))
                .map(|t| t.metrics.records_in)
                .sum(),
            sink_records: tasks.iter().map(|t| t.metrics.sink_records).sum(),
            state_entries: tasks.iter().map(|t| t.metrics.state_entries).sum(),
            state_expired: tasks.iter().map(|t| t.metrics.state_expired).sum(),
            refused_updates: tasks.iter().map(|t| t.metrics.refused_updates).sum(),
            ratings: tasks
                .iter()
                .fold(RatingErrors::default(), |mut all, t| {
                    all.add(&t.metrics.rating_errors);
                    all
                })
                .summary(),
            tasks,
            last_checkpoint: self.last_checkpoint(job),
            restarts: Restarts {
                total: entry.restarts,
                in_a_row: entry.restarts_in_a_row,
                allowed: super::checkpointing::MAX_RESTARTS,
            },
            expired_checkpoints: entry.expired_checkpoints,
            checkpoint_bytes: self.checkpoints.stored_bytes(job).unwrap_or(0),
        })
    }

    /// The nodes.
    pub(crate) fn cluster(&self) -> ClusterReport {
        let nodes = self
            .nodes
            .iter()
            .map(|(id, n)| {
                let mut tasks = 0;
                let mut traffic = TaskMetrics::default();
                for job in self.jobs.values() {
                    for t in job.tasks.values().filter(|t| t.node == *id) {
                        if !job.record.state.is_terminal() {
                            tasks += 1;
                        }
                        traffic.add(&t.metrics);
                    }
                }
                NodeReport {
                    node: *id,
                    listen: n.listen,
                    slots: n.slots.total(),
                    reserved_slots: n.slots.reserved.clone(),
                    alive: n.lost.is_none(),
                    last_heartbeat_ms: n.last_heartbeat.elapsed().as_millis() as u64,
                    tasks,
                    bytes_sent: traffic.bytes_sent,
                    bytes_received: traffic.bytes_received,
                    lost_at_ms: n.lost.as_ref().map(Lost::epoch_ms),
                }
            })
            .collect();
        ClusterReport {
            coordinator: self.advertised.clone(),
            nodes,
        }
    }
}

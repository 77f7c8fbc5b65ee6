//! The coordinator's `/metrics`: nodes, jobs, every task's counters as of its last heartbeat,
//! checkpoints and recoveries, and the per-version figures of served models — built from the
//! live view at each scrape.

use super::Cluster;
use quiver_protocol::messages::JobState;
use quiver_protocol::metrics::{labels, Exposition, Labels, TaskSample};
use quiver_protocol::models::VersionStatus;
use quiver_protocol::JobId;

/// A model-version family: its name, help, and its value for a version, if it has one.
type VersionFamily = (
    &'static str,
    &'static str,
    fn(&VersionStatus) -> Option<f64>,
);

impl Cluster {
    /// Every metric the coordinator exports, as of now.
    pub(crate) fn exposition(&self) -> Exposition {
        let mut out = Exposition::default();
        self.node_metrics(&mut out);
        self.job_metrics(&mut out);
        let mut tasks = Vec::new();
        for (job, entry) in self
            .jobs
            .iter()
            .filter(|(_, e)| !e.record.state.is_terminal())
        {
            for (task, status) in &entry.tasks {
                tasks.push(TaskSample {
                    labels: labels([
                        ("job", job.to_string()),
                        ("operator", status.operators.clone()),
                        ("partition", task.partition.0.to_string()),
                        ("node", status.node.to_string()),
                    ]),
                    metrics: &status.metrics,
                });
            }
        }
        out.tasks(&tasks);
        self.model_metrics(&mut out);
        out
    }

    fn node_metrics(&self, out: &mut Exposition) {
        let node = |id: &quiver_protocol::NodeId| labels([("node", id.to_string())]);
        let alive = || self.nodes.iter().filter(|(_, n)| n.lost.is_none());
        out.gauge(
            "nodes",
            "Nodes by state: alive, or lost in the last 10 minutes.",
            ["alive", "lost"].map(|state| {
                let count = self
                    .nodes
                    .values()
                    .filter(|n| n.lost.is_none() == (state == "alive"))
                    .count();
                (labels([("state", state.to_string())]), count as f64)
            }),
        );
        out.gauge(
            "node_slots",
            "Slots of each alive node.",
            alive().map(|(id, n)| (node(id), f64::from(n.slots.total()))),
        );
        out.gauge(
            "node_heartbeat_age_seconds",
            "Time since each alive node's last heartbeat.",
            alive().map(|(id, n)| (node(id), n.last_heartbeat.elapsed().as_secs_f64())),
        );
    }

    fn job_metrics(&self, out: &mut Exposition) {
        let states = [
            JobState::Created,
            JobState::Scheduling,
            JobState::Running,
            JobState::Recovering,
            JobState::Finished,
            JobState::Failed,
            JobState::Cancelled,
        ];
        out.gauge(
            "jobs",
            "Jobs by state.",
            states.map(|state| {
                let count = self
                    .jobs
                    .values()
                    .filter(|j| j.record.state == state)
                    .count();
                (labels([("state", format!("{state:?}"))]), count as f64)
            }),
        );
        let live: Vec<(JobId, Labels)> = self
            .jobs
            .iter()
            .filter(|(_, e)| !e.record.state.is_terminal())
            .map(|(job, e)| {
                (
                    *job,
                    labels([("job", job.to_string()), ("name", e.record.name.clone())]),
                )
            })
            .collect();
        let entry = |job: &JobId| &self.jobs[job];
        out.counter(
            "job_restarts",
            "Recoveries of a job.",
            live.iter()
                .map(|(j, l)| (l.clone(), u64::from(entry(j).restarts))),
        );
        out.gauge(
            "job_last_recovery_seconds",
            "A job's last recovery that got it publishing again, by phase: detect (the failed \
             part's last sign of life to the coordinator acting), restore_point, placement, \
             deploy (tasks built, state restored), first_output (its first checkpoint), total.",
            live.iter().flat_map(|(j, l)| {
                let last = entry(j).recoveries.back();
                last.into_iter().flat_map(move |t| {
                    [
                        ("detect", t.detect_ms),
                        ("restore_point", t.restore_point_ms),
                        ("placement", t.placement_ms),
                        ("deploy", t.deploy_ms),
                        ("first_output", t.first_output_ms),
                        ("total", t.total_ms),
                    ]
                    .map(|(phase, ms)| {
                        let mut l = l.clone();
                        l.push(("phase".to_string(), phase.to_string()));
                        (l, ms as f64 / 1e3)
                    })
                })
            }),
        );
        out.counter(
            "job_expired_checkpoints",
            "Checkpoints of a job dropped because they outlasted their timeout.",
            live.iter()
                .map(|(j, l)| (l.clone(), u64::from(entry(j).expired_checkpoints))),
        );
        let checkpoints: Vec<_> = live
            .iter()
            .map(|(j, l)| (l, self.checkpoints.list(*j).unwrap_or_default()))
            .collect();
        out.gauge(
            "job_checkpoints",
            "Complete checkpoints and savepoints a job keeps.",
            checkpoints
                .iter()
                .map(|(l, c)| ((*l).clone(), c.len() as f64)),
        );
        let last = || {
            checkpoints
                .iter()
                .filter_map(|(l, c)| Some(((*l).clone(), c.last()?)))
        };
        out.gauge(
            "job_last_checkpoint_id",
            "The id of a job's last complete checkpoint.",
            last().map(|(l, c)| (l, c.checkpoint.0 as f64)),
        );
        out.gauge(
            "job_last_checkpoint_duration_seconds",
            "A job's last complete checkpoint, from trigger to the last acknowledgement.",
            last().map(|(l, c)| (l, c.duration_ms as f64 / 1e3)),
        );
        out.gauge(
            "job_last_checkpoint_store_seconds",
            "Writing a job's last checkpoint's manifest in the coordinator: flushes and the \
             read-back of the blobs it wrote.",
            live.iter()
                .map(|(j, l)| (l.clone(), entry(j).last_manifest_store.as_secs_f64())),
        );
        out.gauge(
            "job_last_checkpoint_bytes",
            "State bytes a job's last complete checkpoint references.",
            last().map(|(l, c)| (l, c.bytes as f64)),
        );
        out.gauge(
            "job_last_checkpoint_new_bytes",
            "State bytes a job's last complete checkpoint wrote (changed key groups only).",
            last().map(|(l, c)| (l, c.new_bytes as f64)),
        );
    }

    fn model_metrics(&self, out: &mut Exposition) {
        let mut versions = Vec::new();
        let live = self
            .jobs
            .iter()
            .filter(|(_, e)| !e.record.state.is_terminal());
        for (job, _) in live {
            let Ok(status) = self.model_status(*job) else {
                continue;
            };
            for stage in status.stages {
                for v in stage.versions {
                    let l = labels([
                        ("job", job.to_string()),
                        ("stage", stage.stage.clone()),
                        ("version", v.version.to_string()),
                        ("latest", v.latest.to_string()),
                    ]);
                    versions.push((l, v));
                }
            }
        }
        out.counter(
            "model_scored_records",
            "Records a model version scored, over every partition.",
            versions.iter().map(|(l, v)| (l.clone(), v.scored)),
        );
        out.gauge(
            "model_traffic_share",
            "A model version's share of its stage's records among the versions served now.",
            versions.iter().map(|(l, v)| (l.clone(), v.share)),
        );
        let optional: [VersionFamily; 4] = [
            (
                "model_mean_loss",
                "A model version's mean loss over labelled records (log loss, squared error, \
                 or k-means' squared distance to the assigned centroid).",
                |v| v.loss,
            ),
            (
                "model_mean_absolute_error",
                "A regression's (or matrix factorisation's) version's mean absolute error over \
                 labelled records.",
                |v| v.mae,
            ),
            (
                "model_accuracy",
                "A classifier version's share of labelled records predicted right.",
                |v| v.accuracy,
            ),
            (
                "model_scoring_seconds",
                "A model version's mean scoring time per record.",
                |v| v.latency_us.map(|us| us / 1e6),
            ),
        ];
        for (name, help, value) in optional {
            out.gauge(
                name,
                help,
                versions
                    .iter()
                    .filter_map(|(l, v)| Some((l.clone(), value(v)?))),
            );
        }
    }
}

//! The job most learner tests run: one learner over a file source, into a file sink.

use std::path::{Path, PathBuf};

/// A job of one learner over the CSV files of folder `in`: the file source `source` of
/// `schema` read by 2 partitions at `rate` rows/s in all, the stage `stage` (`settings`: its
/// kind and settings) at parallelism 2, a file sink `out` into the folder `out`, checkpoints
/// every `interval`.
pub(crate) struct LearnerJob<'a> {
    pub(crate) name: &'a str,
    pub(crate) interval: &'a str,
    pub(crate) source: &'a str,
    pub(crate) schema: &'a str,
    pub(crate) rate: u32,
    pub(crate) stage: &'a str,
    pub(crate) settings: &'a str,
}

impl LearnerJob<'_> {
    /// The job spec.
    pub(crate) fn spec(&self) -> String {
        let LearnerJob {
            name,
            interval,
            source,
            schema,
            rate,
            stage,
            settings,
        } = self;
        format!(
            r#"
[job]
name = "{name}"
parallelism = 2
checkpoint_interval = "{interval}"

[[source]]
name = "{source}"
kind = "file"
path = "in"
format = "csv"
schema = {schema}
parallelism = 2
rate = {rate}

[[stage]]
name = "{stage}"
input = "{source}"
{settings}

[[sink]]
name = "out"
kind = "file"
input = "{stage}"
path = "out/"
"#
        )
    }

    /// Writes the spec to `dir/job.toml`; returns that path.
    pub(crate) fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("job.toml");
        std::fs::write(&path, self.spec()).unwrap();
        path
    }
}

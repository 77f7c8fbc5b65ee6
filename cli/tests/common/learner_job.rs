//! The job most learner tests run: one learner over a file source, into a file sink.

use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
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

/// The `kmeans` stage `km` of the shard tests, over points (`id`, `x1`, `x2`) in the file
/// source `points`: k = 3, decay 0.5, seed 3, and its `global_batch_size`. The job and the
/// library model it starts from are built from the same settings.
pub(crate) struct PointsKMeans {
    /// `global_batch_size`.
    pub(crate) batch: usize,
}

impl PointsKMeans {
    const K: usize = 3;
    const DECAY: f64 = 0.5;
    const SEED: u64 = 3;

    /// The job (see [`LearnerJob`]).
    pub(crate) fn spec(&self, name: &str, interval: &str, rate: u32) -> String {
        let settings = format!(
            "kind = \"kmeans\"\nfeatures = [\"x1\", \"x2\"]\nk = {}\nglobal_batch_size = {}\n\
             decay_factor = {:?}\nseed = {}",
            Self::K,
            self.batch,
            Self::DECAY,
            Self::SEED
        );
        LearnerJob {
            name,
            interval,
            source: "points",
            schema: r#"{ id = "i64", x1 = "f64", x2 = "f64" }"#,
            rate,
            stage: "km",
            settings: &settings,
        }
        .spec()
    }

    /// The model the stage starts from, as the library builds it for two features.
    pub(crate) fn start_model(&self) -> OnlineKMeans {
        let params = OnlineKMeansParams {
            global_batch_size: self.batch,
            decay_factor: Self::DECAY,
            ..OnlineKMeansParams::default()
        };
        OnlineKMeans::random(params, Self::K, 2, 0.0, Self::SEED).expect("model")
    }
}

/// The `matrix_factorization` job of the shard tests: stage `mf` over ratings (`id`, `user`,
/// `item`, `rating`) in the file source `ratings`, on 2 parameter shards (see [`LearnerJob`]).
pub(crate) fn ratings_mf_spec(name: &str, interval: &str, rate: u32) -> String {
    LearnerJob {
        name,
        interval,
        source: "ratings",
        schema: r#"{ id = "i64", user = "i64", item = "i64", rating = "f64" }"#,
        rate,
        stage: "mf",
        settings: "kind = \"matrix_factorization\"\nuser = \"user\"\nitem = \"item\"\n\
                   rating = \"rating\"\nparameter_shards = 2",
    }
    .spec()
}

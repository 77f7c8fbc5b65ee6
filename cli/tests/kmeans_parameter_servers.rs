//! `kmeans` on parameter servers (design §6): in a job with checkpoints the stage's
//! partitions train one set of centroids. Each test runs `quiver local` on seeded synthetic
//! points and holds the output to an independent expectation:
//!
//! - a single worker scores every row as the library's sequential `OnlineKMeans` run does;
//! - at parallelism 2 a centroid moved only by one partition's points serves the other
//!   partition after a barrier (a model per partition would not know it);
//! - at parallelism 2 the clustering is as tight as the library's sequential run on the same
//!   points.

mod common;

use common::SplitMix;
use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::Features;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The job's settings of the stage (`k`, `global_batch_size`, `decay_factor`, `seed`).
#[derive(Clone, Copy)]
struct Settings {
    k: usize,
    batch: usize,
    decay: f64,
    seed: u64,
}

impl Settings {
    /// The library's model the stage starts from.
    fn model(&self, dim: usize) -> OnlineKMeans {
        let params = OnlineKMeansParams {
            global_batch_size: self.batch,
            decay_factor: self.decay,
            ..OnlineKMeansParams::default()
        };
        OnlineKMeans::random(params, self.k, dim, 0.0, self.seed).expect("model")
    }
}

/// Writes `points` (ids from `first`) as CSV file `name` with columns `id, x1..xd`.
fn write_points(dir: &Path, name: &str, first: usize, points: &[Vec<f64>]) {
    let dim = points[0].len();
    let mut csv = String::from("id");
    for i in 1..=dim {
        let _ = write!(csv, ",x{i}");
    }
    csv.push('\n');
    for (i, p) in points.iter().enumerate() {
        let _ = write!(csv, "{}", first + i);
        for v in p {
            let _ = write!(csv, ",{v:?}");
        }
        csv.push('\n');
    }
    std::fs::write(dir.join(name), csv).expect("write csv");
}

/// Runs a kmeans job over the CSV files of `dir/in` at `parallelism` (one source partition
/// per file) at 2,000 rows/s with checkpoints every 50 ms (so versions publish while it
/// learns, even on a busy machine); returns the output rows by id.
fn run(dir: &Path, dim: usize, parallelism: u32, s: Settings) -> BTreeMap<i64, Value> {
    let names: Vec<String> = (1..=dim).map(|i| format!("x{i}")).collect();
    let schema: Vec<String> = names.iter().map(|n| format!("{n} = \"f64\"")).collect();
    let features: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let spec = format!(
        r#"
[job]
name = "clusters"
parallelism = {parallelism}
checkpoint_interval = "50ms"

[[source]]
name = "points"
kind = "file"
path = "in"
format = "csv"
schema = {{ id = "i64", {} }}
parallelism = {parallelism}
rate = 2000

[[stage]]
name = "km"
kind = "kmeans"
input = "points"
features = [{}]
k = {}
global_batch_size = {}
decay_factor = {:?}
seed = {}

[[sink]]
name = "out"
kind = "file"
input = "km"
path = "out/"
"#,
        schema.join(", "),
        features.join(", "),
        s.k,
        s.batch,
        s.decay,
        s.seed
    );
    common::shards::run_local_rows_by_id(dir, &spec)
}

/// A folder with an `in` folder for the input files.
fn input_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("in")).expect("mkdir");
    dir
}

/// `n` points around `centres` (uniform noise of ±`spread` per coordinate), the centre
/// of each drawn at random.
fn blobs(rng: &mut SplitMix, centres: &[Vec<f64>], spread: f64, n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|_| {
            let c = &centres[(rng.next_f64() * centres.len() as f64) as usize];
            c.iter()
                .map(|v| v + spread * (2.0 * rng.next_f64() - 1.0))
                .collect()
        })
        .collect()
}

fn cluster(row: &Value) -> usize {
    row["cluster"].as_u64().expect("cluster") as usize
}

/// The sum of squared distances of `points` to the mean of the points given the same
/// cluster: the k-means objective of the clustering the predictions make.
fn inertia(points: &[&[f64]], clusters: &[usize]) -> f64 {
    let mut groups: BTreeMap<usize, Vec<&[f64]>> = BTreeMap::new();
    for (p, &c) in points.iter().zip(clusters) {
        groups.entry(c).or_default().push(p);
    }
    groups
        .values()
        .map(|group| {
            let dim = group[0].len();
            let mean: Vec<f64> = (0..dim)
                .map(|j| group.iter().map(|p| p[j]).sum::<f64>() / group.len() as f64)
                .collect();
            group
                .iter()
                .map(|p| {
                    p.iter()
                        .zip(&mean)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>()
                })
                .sum::<f64>()
        })
        .sum()
}

/// The library's sequential run over `points`: each point's cluster, predicted before it
/// is learnt.
fn sequential(settings: Settings, points: &[&[f64]]) -> Vec<usize> {
    let mut model = settings.model(points[0].len());
    points
        .iter()
        .map(|p| {
            let c = model.predict_one(Features::Dense(p)).expect("predict");
            model.learn_one(Features::Dense(p)).expect("learn");
            c
        })
        .collect()
}

const THREE_BLOBS: [[f64; 2]; 3] = [[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]];

#[test]
fn a_single_kmeans_worker_equals_the_library_sequential_run() {
    let settings = Settings {
        k: 3,
        batch: 8,
        decay: 0.5,
        seed: 3,
    };
    let centres: Vec<Vec<f64>> = THREE_BLOBS.iter().map(|c| c.to_vec()).collect();
    let points = blobs(&mut SplitMix(11), &centres, 0.1, 2000);
    let dir = input_dir();
    write_points(&dir.path().join("in"), "a.csv", 0, &points);
    let rows = run(dir.path(), 2, 1, settings);
    assert_eq!(rows.len(), points.len(), "one output row per input row");

    let refs: Vec<&[f64]> = points.iter().map(Vec::as_slice).collect();
    let expected = sequential(settings, &refs);
    for (id, (row, expected)) in rows.values().zip(&expected).enumerate() {
        assert_eq!(cluster(row), *expected, "row {id}: {row}");
        assert_eq!(row["prediction"].as_f64(), Some(*expected as f64), "{row}");
    }
    common::assert_versions_advance(rows.values());
}

/// Partition 0 reads points around 0 and 3, partition 1 only points around 0 and then
/// probes at 1. Both start from the same two random centroids in [0, 1): the lower one
/// moves to 0 on both partitions, the upper one to 3 on partition 0 only. With one model
/// the probes sit nearer 0 than 3 and join the cluster of 0; a model of partition 1's own
/// would still hold the upper centroid where it started, nearer 1 than 0 is, and give them
/// the other cluster.
#[test]
fn a_centroid_moved_by_one_kmeans_partition_serves_the_other() {
    const TRAIN: usize = 3000;
    const PROBES: usize = 20;
    let settings = Settings {
        k: 2,
        batch: 8,
        decay: 0.0,
        seed: 5,
    };
    let start = settings.model(1);
    let upper = start.centroids().iter().map(|c| c[0]).fold(0.0, f64::max);
    assert!(
        upper > 0.1,
        "seed {}: the starting centroids {:?} do not tell the two outcomes apart",
        settings.seed,
        start.centroids()
    );
    let mut rng = SplitMix(21);
    let a = blobs(&mut rng, &[vec![0.0], vec![3.0]], 0.02, TRAIN);
    let mut b = blobs(&mut rng, &[vec![0.0]], 0.02, TRAIN);
    b.extend((0..PROBES).map(|_| vec![1.0]));
    let dir = input_dir();
    write_points(&dir.path().join("in"), "a.csv", 0, &a);
    write_points(&dir.path().join("in"), "b.csv", 100_000, &b);
    let rows = run(dir.path(), 1, 2, settings);
    assert_eq!(
        rows.len(),
        a.len() + b.len(),
        "one output row per input row"
    );

    // The clusters the end of each file settled on.
    let last_of = |first: i64, x: f64| {
        let id = (first..first + TRAIN as i64)
            .rev()
            .find(|&id| {
                let p = if first == 0 { &a } else { &b };
                (p[(id - first) as usize][0] - x).abs() < 0.5
            })
            .expect("a point near x");
        cluster(&rows[&id])
    };
    let zero = last_of(100_000, 0.0);
    assert_eq!(last_of(0, 0.0), zero, "both partitions' points at 0");
    assert_ne!(last_of(0, 3.0), zero, "partition 0's points at 3");
    let probes: Vec<usize> = (0..PROBES as i64)
        .map(|i| cluster(&rows[&(100_000 + TRAIN as i64 + i)]))
        .collect();
    assert!(
        probes.iter().all(|&c| c == zero),
        "the probes at 1 on partition 1 got clusters {probes:?}, the cluster of 0 is {zero}: \
         partition 1 does not know that partition 0 moved the other centroid to 3"
    );
    let version = rows[&(100_000 + TRAIN as i64)]["model_version"]
        .as_u64()
        .expect("model_version");
    assert!(version > 0, "the probes were scored by version 0");
}

/// Three blobs, each partition reading half of the points: the clustering the job's
/// predictions make over the second half of each file is as tight as the library's
/// sequential run's over the same points (the k-means objective within 10%), and near the
/// blobs' own spread.
#[test]
fn kmeans_at_parallelism_two_clusters_as_tightly_as_the_sequential_run() {
    const N: usize = 3000;
    let settings = Settings {
        k: 3,
        batch: 16,
        decay: 0.5,
        seed: 3,
    };
    let centres: Vec<Vec<f64>> = THREE_BLOBS.iter().map(|c| c.to_vec()).collect();
    let mut rng = SplitMix(31);
    let a = blobs(&mut rng, &centres, 0.1, N);
    let b = blobs(&mut rng, &centres, 0.1, N);
    let dir = input_dir();
    write_points(&dir.path().join("in"), "a.csv", 0, &a);
    write_points(&dir.path().join("in"), "b.csv", 100_000, &b);
    let rows = run(dir.path(), 2, 2, settings);
    assert_eq!(rows.len(), 2 * N, "one output row per input row");

    // The second halves of both files, as the job clustered them.
    let late: Vec<(&[f64], usize)> = [(0, &a), (100_000, &b)]
        .into_iter()
        .flat_map(|(first, points)| {
            (N / 2..N).map(move |i| (points[i].as_slice(), first + i as i64))
        })
        .map(|(p, id)| (p, cluster(&rows[&id])))
        .collect();
    let (points, clusters): (Vec<&[f64]>, Vec<usize>) = late.into_iter().unzip();
    let parallel = inertia(&points, &clusters);

    // The library on every point, the files one after the other.
    let all: Vec<&[f64]> = a.iter().chain(&b).map(Vec::as_slice).collect();
    let expected = sequential(settings, &all);
    let late_expected: Vec<usize> = (N / 2..N)
        .chain(N + N / 2..2 * N)
        .map(|i| expected[i])
        .collect();
    let reference = inertia(&points, &late_expected);
    // Uniform noise of ±0.1 per coordinate: variance 0.01 / 3 each, two coordinates.
    let spread = points.len() as f64 * 2.0 * 0.01 / 3.0;
    eprintln!("inertia: parallel {parallel:.3}, sequential {reference:.3}, blobs' own {spread:.3}");
    assert!(
        reference < 1.2 * spread,
        "the sequential run did not find the blobs ({reference} against {spread}): the seed \
         does not make a test"
    );
    assert!(
        parallel < 1.1 * reference,
        "parameter servers cluster worse than the sequential run: inertia {parallel} against \
         {reference}"
    );
}

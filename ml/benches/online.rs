//! Online learning throughput on generated data, one core.
//!
//! Run: `cargo bench -p quiver-ml --bench online`. Prints the median samples/s of
//! `RUNS` runs and the final progressive (predict, then learn) log loss / RMSE /
//! squared distance of:
//! - FTRL logistic regression on hashed sparse features (2^18 dims, 12 fields, batch 1),
//!   on pre-hashed vectors and including the hashing of the raw string fields;
//! - streaming linear regression (SGD) on dense 16-dimensional vectors;
//! - online k-means (k = 5, mini-batches of 32) on 20-dimensional Gaussian blobs;
//! - biased matrix factorisation (River's `BiasedMF` defaults) on ratings.
//!
//! With `QUIVER_BENCH_DATA=DIR` it first writes the four data sets as CSV into `DIR`
//! (see `online/data.rs`) so `bench/ml_peers.py` runs River and Vowpal Wabbit on the
//! same samples.

#[path = "online/data.rs"]
mod data;

use data::{Dense, Rng, BLOBS, BLOB_DIM, FIELDS, LINEAR_DIM};
use quiver_ml::clustering::{KMeans, KMeansParams, OnlineKMeans, OnlineKMeansParams};
use quiver_ml::feature::{FeatureHasher, FeatureHasherParams, HashValue};
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd,
};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{Features, OnlineLearner, SparseVector};
use std::hint::black_box;
use std::time::Instant;

/// Samples per data set.
const SAMPLES: usize = 1_000_000;
/// Timed runs per learner; the median is reported.
const RUNS: usize = 5;
const HASH_DIM: u32 = 1 << 18;
/// Points of the k-means++ warm start of online k-means.
const KMEANS_WARMUP: usize = 1_000;

fn log_loss(p: f64, y: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
}

fn valid<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("bench parameters and generated data are valid: {e}"),
    }
}

fn ftrl_model() -> OnlineLogisticRegression {
    let params = FtrlParams {
        alpha: 0.1,
        beta: 1.0,
        reg: 0.001,
        elastic_net: 0.5,
        global_batch_size: 1,
        fit_intercept: false,
        ..FtrlParams::default()
    };
    valid(OnlineLogisticRegression::new(
        params,
        HASH_DIM as usize,
        None,
    ))
}

/// Runs `f` `RUNS` times; returns the median seconds and the last run's metric.
fn timed(mut f: impl FnMut() -> f64) -> (f64, f64) {
    let mut secs = Vec::with_capacity(RUNS);
    let mut metric = f64::NAN;
    for _ in 0..RUNS {
        let start = Instant::now();
        metric = f();
        secs.push(start.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    (secs[RUNS / 2], metric)
}

fn report(name: &str, (secs, value): (f64, f64), metric: &str) {
    println!(
        "{name:<46} {:>12.0} samples/s   (median of {RUNS}, {SAMPLES} samples in {secs:.3} s)   {metric} {value:.5}",
        SAMPLES as f64 / secs
    );
}

fn main() {
    let mut rng = Rng::new(42);
    let ctr = data::ctr(&mut rng, SAMPLES);
    let linear = data::linear(&mut rng, SAMPLES);
    let blobs = data::blobs(&mut rng, SAMPLES);
    let ratings = data::ratings(&mut rng, SAMPLES);
    if let Some(dir) = std::env::var_os("QUIVER_BENCH_DATA") {
        let dir = std::path::PathBuf::from(dir);
        valid(data::write_csv(&dir, &ctr, &linear, &blobs, &ratings));
        println!("wrote the data sets to {}", dir.display());
    }
    bench_ftrl(&ctr);
    bench_linear(&linear);
    bench_kmeans(&blobs);
    bench_mf(&ratings);
}

fn bench_ftrl(ctr: &data::Ctr) {
    let names: Vec<String> = (0..FIELDS).map(|f| format!("f{f}")).collect();
    let hasher = valid(FeatureHasher::new(FeatureHasherParams {
        num_features: HASH_DIM,
        ..Default::default()
    }));
    let mut buf = SparseVector::zeros(HASH_DIM);
    let mut pairs: Vec<(&str, HashValue<'_>)> = Vec::with_capacity(FIELDS);
    // Hash once up front for the learner-only figure.
    let hashed: Vec<SparseVector> = ctr
        .rows
        .iter()
        .map(|row| {
            hash_row(&hasher, &names, row, &mut pairs, &mut buf);
            buf.clone()
        })
        .collect();

    report(
        "ftrl logistic, pre-hashed sparse (2^18, nnz 12)",
        timed(|| {
            let mut model = ftrl_model();
            let mut loss = 0.0;
            for (x, &y) in hashed.iter().zip(&ctr.labels) {
                let p = valid(model.predict_then_learn(Features::from(x), y));
                loss += log_loss(p.probability.unwrap_or(0.5), y);
            }
            black_box(model.coefficients());
            loss / SAMPLES as f64
        }),
        "log loss",
    );
    report(
        "ftrl logistic, hashing 12 string fields",
        timed(|| {
            let mut model = ftrl_model();
            let mut loss = 0.0;
            for (row, &y) in ctr.rows.iter().zip(&ctr.labels) {
                hash_row(&hasher, &names, row, &mut pairs, &mut buf);
                let p = valid(model.predict_then_learn(Features::from(&buf), y));
                loss += log_loss(p.probability.unwrap_or(0.5), y);
            }
            loss / SAMPLES as f64
        }),
        "log loss",
    );
}

/// Hashes the `FIELDS` string fields of `row`, named `names`, into `buf`.
fn hash_row<'a>(
    hasher: &FeatureHasher,
    names: &'a [String],
    row: &'a [String; FIELDS],
    pairs: &mut Vec<(&'a str, HashValue<'a>)>,
    buf: &mut SparseVector,
) {
    pairs.clear();
    pairs.extend(
        names
            .iter()
            .zip(row)
            .map(|(n, v)| (n.as_str(), HashValue::Str(v))),
    );
    valid(hasher.hash_into(pairs, buf));
}

fn bench_linear(data: &Dense<LINEAR_DIM>) {
    let new = || {
        valid(StreamingLinearRegressionSgd::new(
            StreamingLinearRegressionParams::default(),
            LINEAR_DIM,
        ))
    };
    let mut lin = new();
    report(
        "streaming linear regression SGD (dense 16)",
        timed(|| {
            lin = new();
            let mut sq = 0.0;
            for (x, &y) in data.xs.iter().zip(&data.ys) {
                let f = Features::Dense(x);
                sq += (valid(lin.predict_one(f)).value - y).powi(2);
                valid(lin.learn_one(f, y));
            }
            (sq / SAMPLES as f64).sqrt()
        }),
        "RMSE",
    );
    // RMSE of the last 10% only, after convergence.
    let tail = SAMPLES / 10;
    let tail_sq: f64 = data.xs[SAMPLES - tail..]
        .iter()
        .zip(&data.ys[SAMPLES - tail..])
        .map(|(x, y)| (valid(lin.predict_one(Features::Dense(x))).value - y).powi(2))
        .sum();
    println!(
        "{:<46} final-model RMSE on the last 10%: {:.5} (noise floor 0.0577)",
        "",
        (tail_sq / tail as f64).sqrt()
    );
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// k-means++ on the first `KMEANS_WARMUP` points, then online k-means over all of them;
/// the metric is the mean squared distance of each point to the centroid predicted for
/// it before it was learnt.
fn bench_kmeans(data: &Dense<BLOB_DIM>) {
    let params = OnlineKMeansParams {
        global_batch_size: 32,
        decay_factor: 0.9,
        ..Default::default()
    };
    report(
        "online k-means (k 5, dense 20, batch 32)",
        timed(|| {
            let warmup: Vec<Vec<f64>> = data.xs[..KMEANS_WARMUP]
                .iter()
                .map(|x| x.to_vec())
                .collect();
            let init = valid(
                KMeans {
                    params: KMeansParams {
                        k: BLOBS,
                        ..Default::default()
                    },
                }
                .fit_points(&warmup),
            );
            let mut model = valid(OnlineKMeans::from_model(params.clone(), &init));
            let mut dist = 0.0;
            for x in &data.xs {
                let c = valid(model.predict_one(Features::Dense(x)));
                dist += squared_distance(&model.centroids()[c], x);
                valid(model.learn_one(Features::Dense(x)));
            }
            dist / SAMPLES as f64
        }),
        "mean sq. distance",
    );
}

fn bench_mf(ratings: &[(u64, u64, f64)]) {
    report(
        "biased MF (River BiasedMF defaults, 10 factors)",
        timed(|| {
            let mut model = valid(MatrixFactorization::new(MfParams::biased_mf()));
            let mut sq = 0.0;
            for &(u, i, r) in ratings {
                sq += (model.predict_one(u, i) - r).powi(2);
                valid(model.learn_one(u, i, r));
            }
            (sq / SAMPLES as f64).sqrt()
        }),
        "RMSE",
    );
}

//! Swaps of a `kmeans` stage on parameter servers (issue 15, done-when 1 and 3): a
//! coordinator and two nodes run k-means at parallelism 2 with checkpoints every 300 ms over
//! two rate-limited files of points (a source partition each, forward to a stage
//! partition). While training goes on: `model ab --a V1 --b V2 --split 70` (two older
//! registered versions), `model deploy V1`, `model rollback`. Then, against the input and
//! the checkpoint store:
//! - every input row is published exactly once;
//! - per partition, in input order, the versions go through the phases once each and in
//!   order: the working copy's, the A/B (V2 exactly for the records whose record hash falls
//!   in the first 70% of buckets), V1 for every record, the A/B again (the rollback);
//! - every row after the first swap is assigned, bit for bit, the cluster a library
//!   `OnlineKMeans` holding the centroids `quiver model export` reads for its version gives;
//! - the A/B's share of V2 over the rows is 70% ± 2%, and `quiver model status --json`
//!   shows both versions with that share and their inertia per record (mean squared
//!   distance to the assigned centroid) near the one the rows give.

mod common;

use common::learner_job::PointsKMeans;
use common::shards::{export, int};
use common::swaps::{split_deploy_rollback, split_deploy_rollback_phases, walk_phases, Swapped};
use common::SplitMix;
use quiver_ml::clustering::{nearest_centroid, OnlineKMeans};
use quiver_ml::{Features, SharedParameters};
use quiver_protocol::keygroup::{key_hash_code, murmur_hash};
use quiver_protocol::Value as Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rows per file (one file per source partition).
const ROWS: usize = 30_000;
/// Ids of the second file start here.
const SECOND: usize = 1_000_000;
/// The stage (`global_batch_size` 16).
const KMEANS: PointsKMeans = PointsKMeans { batch: 16 };

/// The job: `km` over the two files.
fn spec() -> String {
    KMEANS.spec("km-swaps", "300ms", 2000)
}

/// A file's points (around three centres, ±0.1) and its CSV text, ids from `first`.
fn points(first: usize, seed: u64) -> (Vec<[f64; 2]>, String) {
    const CENTRES: [[f64; 2]; 3] = [[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]];
    let mut rng = SplitMix(seed);
    let mut csv = String::from("id,x1,x2\n");
    let points: Vec<[f64; 2]> = (0..ROWS)
        .map(|_| {
            let c = CENTRES[(rng.next_f64() * 3.0) as usize];
            c.map(|v| v + 0.1 * (2.0 * rng.next_f64() - 1.0))
        })
        .collect();
    for (i, p) in points.iter().enumerate() {
        writeln!(csv, "{},{:?},{:?}", first + i, p[0], p[1]).expect("write to a string");
    }
    (points, csv)
}

/// The record's bucket in [0, 10000): the stage splits by the hash of the record's input
/// columns, in order.
fn bucket(id: usize, p: [f64; 2]) -> u32 {
    let values = [Cell::I64(id as i64), Cell::F64(p[0]), Cell::F64(p[1])];
    murmur_hash(key_hash_code(values.iter())) as u32 % 10_000
}

/// A library model holding the exported vector `p` (trailing zeros left out).
fn model_of(p: &[f64]) -> OnlineKMeans {
    let mut model = KMEANS.start_model();
    let mut values = p.to_vec();
    values.resize(model.parameter_len(), 0.0);
    model
        .read_parameters(&values)
        .expect("the export is a model");
    model
}

#[test]
fn kmeans_versions_deploy_split_and_roll_back_each_partition_once_in_order() {
    let files = [points(0, 11), points(SECOND, 12)];
    let mut swapped = split_deploy_rollback([&files[0].1, &files[1].1], &spec(), "km");
    let by_id = swapped.rows_by_id((0..ROWS).chain(SECOND..SECOND + ROWS));
    let Swapped {
        cluster,
        v1,
        v2,
        figures,
        ..
    } = swapped;
    let models: BTreeMap<u64, OnlineKMeans> = [v1, v2]
        .into_iter()
        .map(|v| (v, model_of(&export(&cluster, "km", v).0)))
        .collect();

    let (phases, split) = split_deploy_rollback_phases(v1, v2);
    // Per version: rows of the A/B phases, and their summed squared distances.
    let mut ab: BTreeMap<u64, (usize, f64)> = BTreeMap::new();
    for (f, (points, _)) in files.iter().enumerate() {
        let first = f * SECOND;
        let records: Vec<(u32, u64)> = (points.iter().enumerate())
            .map(|(i, &p)| {
                (
                    bucket(first + i, p),
                    int(&by_id[&(first + i)], "model_version"),
                )
            })
            .collect();
        let phase_of = walk_phases(&format!("file {f}"), &records, &phases);
        for (i, p) in points.iter().enumerate() {
            if phase_of[i] == 0 {
                continue;
            }
            let row = &by_id[&(first + i)];
            let version = int(row, "model_version");
            let model = &models[&version];
            let expected = model.predict_one(Features::Dense(p)).expect("a cluster");
            assert_eq!(int(row, "cluster"), expected as u64, "{row}");
            let (_, distance) = nearest_centroid(model.centroids(), Features::Dense(p)).unwrap();
            assert_eq!(row["prediction"].as_f64(), Some(expected as f64), "{row}");
            if phases[phase_of[i]] == split {
                let sums = ab.entry(version).or_default();
                *sums = (sums.0 + 1, sums.1 + distance);
            }
        }
    }
    let (n1, n2) = (ab[&v1].0, ab[&v2].0);
    let share = n2 as f64 / (n1 + n2) as f64;
    assert!(n1 + n2 >= 6000, "only {} records in the A/B", n1 + n2);
    assert!((share - 0.70).abs() <= 0.02, "V2's share {share}");

    // The status's figures of the first A/B: V2's share and each version's inertia per
    // record, near the rows' (the status saw a prefix of them).
    for (figures, v) in figures.iter().zip([v1, v2]) {
        let inertia = ab[&v].1 / ab[&v].0 as f64;
        let loss = figures["loss"].as_f64().expect("a loss");
        assert!(
            (loss / inertia - 1.0).abs() < 0.25,
            "version {v}: status {loss}, rows {inertia}"
        );
        assert_eq!(figures["labelled"], figures["scored"], "{figures}");
    }
    let status_share = figures[1]["share"].as_f64().expect("a share");
    assert!((status_share - 0.70).abs() <= 0.02, "{figures:?}");
}

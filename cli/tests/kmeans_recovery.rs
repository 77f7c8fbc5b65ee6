//! Issue 15, done-when 2, for `kmeans`: kill -9 of a node holding shards of a k-means
//! stage's parameter servers (`km/params`). The stage runs at parallelism 2 with
//! checkpoints across a coordinator and two node processes; each of its partitions reads
//! one file (a source partition per file, a forward edge), in three phases: (a) points
//! around three centres, (b) a long run of rows with null features (nothing learns: they
//! get null outputs), (c) points again. After a checkpoint inside phase (b) completed on
//! both partitions, the node of shard 1 is killed with SIGKILL.
//!
//! The expectations are independent of the job's output: the centroids and weights P of
//! the restored checkpoint come from the checkpoint store (`quiver model export`). After
//! the recovery each partition creates its model at its first point of phase (c) from the
//! parameter servers' version, which must be P (nothing was pushed in phase (b)); until it
//! adopts a later version, a library `OnlineKMeans` holding P and fed the same points must
//! give every point the job's cluster. Every row is published exactly once and training goes
//! on: later versions, centroids that moved on.

mod common;

use common::learner_job::PointsKMeans;
use common::shards::{
    assert_each_id_once, assert_trained_on, committed_after, export, int, kill_node_of_shard_1,
    two_file_job, wait_for_both_files_probed, wait_for_recovered_finish, Killed,
};
use common::SplitMix;

use quiver_ml::{Features, SharedParameters};
use serde_json::Value;
use std::fmt::Write as _;

/// Points of phase (a) per file.
const TRAIN: usize = 1500;
/// Rows of phase (b) per file, null features.
const PROBES: usize = 6000;
/// Points of phase (c) per file.
const TAIL: usize = 600;
/// Ids of the second file start here.
const SECOND: usize = 100_000;
/// One file's rows: each row's point (`None` in phase (b)) and its CSV text.
fn input(seed: u64, first: usize) -> (Vec<Option<[f64; 2]>>, String) {
    let centres = [[0.2, 0.2], [0.8, 0.3], [0.5, 0.8]];
    let mut rng = SplitMix(seed);
    let mut csv = String::from("id,x1,x2\n");
    let mut rows = Vec::new();
    for i in 0..TRAIN + PROBES + TAIL {
        let point = (!(TRAIN..TRAIN + PROBES).contains(&i)).then(|| {
            let c = centres[(rng.next_f64() * 3.0) as usize];
            [0, 1].map(|j| c[j] + 0.1 * (2.0 * rng.next_f64() - 1.0))
        });
        match point {
            Some([x1, x2]) => writeln!(csv, "{},{x1:?},{x2:?}", first + i),
            None => writeln!(csv, "{},,", first + i),
        }
        .expect("write to a string");
        rows.push(point);
    }
    (rows, csv)
}

/// The stage (`global_batch_size` 20).
const KMEANS: PointsKMeans = PointsKMeans { batch: 20 };

/// The job: `km` over the two files.
fn spec() -> String {
    KMEANS.spec("km-recovery", "1s", 1000)
}

/// Whether row `id` (of either file) is of phase (b).
fn probe(id: usize) -> bool {
    (TRAIN..TRAIN + PROBES).contains(&(id % SECOND))
}

#[test]
fn killed_kmeans_parameter_server_restores_its_checkpointed_centroids_then_trains_on() {
    let files = [input(41, 0), input(42, SECOND)];
    let (cluster, dir) = two_file_job([&files[0].1, &files[1].1], &spec());
    wait_for_both_files_probed(&cluster, &dir, SECOND, probe, TRAIN + PROBES / 2);
    let Killed {
        node,
        generation,
        restored,
    } = kill_node_of_shard_1(&cluster, "km");
    let (p, exported) = export(&cluster, "km", restored);
    assert_eq!(exported["kind"], "kmeans", "{exported}");
    assert_eq!(exported["lineage"]["generation"], generation, "{exported}");
    let mut start = Vec::new();
    KMEANS.start_model().write_parameters(&mut start);
    assert!(p.len() <= start.len(), "{p:?}");
    let mut p_whole = p.clone();
    p_whole.resize(start.len(), 0.0);
    assert_ne!(p_whole, start, "phase (a) trained nothing: {exported}");

    wait_for_recovered_finish(&cluster);
    let all = quiver_chaos_tests::read_committed_rows(&dir.join("out"));
    let ids = (0..TRAIN + PROBES + TAIL).chain(SECOND..SECOND + TRAIN + PROBES + TAIL);
    assert_each_id_once(&all, ids);

    // Per file, the points of phase (c) the recovered deployment published, in order, up to
    // the partition's first adoption of a later version.
    let mut after = committed_after(&dir.join("out"), generation);
    after.sort_unstable_by_key(|r| int(r, "id"));
    let mut checked = 0;
    for (file, (points, _)) in files.iter().enumerate() {
        let first = file * SECOND;
        let tail: Vec<&Value> = after
            .iter()
            .filter(|r| (first + TRAIN + PROBES..first + SECOND).contains(&(int(r, "id") as usize)))
            .collect();
        assert_eq!(
            tail.len(),
            TAIL,
            "file {file}: phase (c) was not all read after the kill"
        );
        let version = int(tail[0], "model_version");
        assert!(
            version >= restored,
            "file {file}: version {version} before {restored}"
        );
        let mut model = KMEANS.start_model();
        model.read_parameters(&p_whole).expect("P is a valid model");
        for row in tail
            .iter()
            .take_while(|r| int(r, "model_version") == version)
        {
            let id = int(row, "id") as usize;
            let x = points[id - first].expect("a point of phase (c)");
            let expected = model.predict_one(Features::Dense(&x)).expect("predict");
            model.learn_one(Features::Dense(&x)).expect("learn");
            assert_eq!(
                int(row, "cluster") as usize,
                expected,
                "row {id} (version {version}): the job's cluster is not the one a model \
                 restored from P gives\nP = {p:?}"
            );
            checked += 1;
        }
    }
    eprintln!(
        "killed {node} (shard 1); restored {restored} of generation {generation}; P = {p:?}; \
         {checked} points after the recovery checked against P"
    );
    // Each partition scores at least the point it creates its model at with P.
    assert!(checked >= 2, "{checked} points checked");

    // Training goes on: a later version with other centroids.
    assert_trained_on(&cluster, "km", restored, &p);
}

//! Issue 15, done-when 2, for `matrix_factorization`: kill -9 of a node holding shards of
//! the stage's parameter servers (`mf/params`: the ratings' count and sum and every item's
//! bias and factors). The stage runs at parallelism 2 with `parameter_shards = 2` and
//! checkpoints across a coordinator and two node processes; two files (a source partition
//! each, the stage's input hashed by user) hold three phases each: (a) ratings of known
//! users, (b) a long run of probes — a new user (no state) and an item, no rating, so
//! nothing learns — and (c) ratings again. After a checkpoint inside phase (b) completed on
//! both partitions, the node of shard 1 is killed with SIGKILL.
//!
//! The expectation is independent of the job's output: the parameters P of the restored
//! checkpoint come from the checkpoint store (`quiver model export`). After the recovery a
//! partition scores with the shards' version, which must be P (nothing was pushed in phase
//! (b)): until it adopts a later version, every probe's prediction is, bit for bit, what a
//! library model holding P's mean and items predicts for a new user. Every row is published
//! exactly once and training goes on (a later version with other parameters).

mod common;

use common::learner_job::ratings_mf_spec;
use common::reco::mf_model_of;
use common::shards::{
    assert_each_id_once, assert_trained_on, committed_after, export, int, kill_node_of_shard_1,
    two_file_job, wait_for_both_files_probed, wait_for_recovered_finish, Killed,
};
use quiver_ml::recommendation::MfLayout;
use serde_json::Value;
use std::fmt::Write as _;

/// Rows of phase (a) per file.
const TRAIN: usize = 1500;
/// Rows of phase (b) per file: probes.
const PROBES: usize = 6000;
/// Rows of phase (c) per file.
const TAIL: usize = 600;
/// Ids of the second file start here.
const SECOND: usize = 100_000;
/// Items 0..ITEMS.
const ITEMS: usize = 30;
/// Probe users are this plus the row id (never rated).
const NEW_USERS: usize = 1_000_000;

/// One file's rows (user, item, rating) and CSV text; its known users are `users`.
fn input(first: usize, users: std::ops::Range<usize>) -> (Vec<(u64, u64, Option<f64>)>, String) {
    let mut csv = String::from("id,user,item,rating\n");
    let mut rows = Vec::new();
    let known = users.len();
    for i in 0..TRAIN + PROBES + TAIL {
        let id = first + i;
        let item = (i * 7 + first / SECOND) % ITEMS;
        let row = if probe(id) {
            ((NEW_USERS + id) as u64, item as u64, None)
        } else {
            let user = users.start + i * 13 % known;
            let rating = 1.0 + ((user + item) % 5) as f64;
            (user as u64, item as u64, Some(rating))
        };
        let rating = row.2.map(|r| format!("{r:?}")).unwrap_or_default();
        writeln!(csv, "{id},{},{},{rating}", row.0, row.1).expect("write to a string");
        rows.push(row);
    }
    (rows, csv)
}

/// The job: `mf` over the two files.
fn spec() -> String {
    ratings_mf_spec("mf-recovery", "1s", 1000)
}

/// Whether row `id` (of either file) is of phase (b).
fn probe(id: usize) -> bool {
    (TRAIN..TRAIN + PROBES).contains(&(id % SECOND))
}

#[test]
fn killed_mf_parameter_server_restores_its_checkpointed_items_then_trains_on() {
    let files = [input(0, 0..100), input(SECOND, 100..200)];
    let (cluster, dir) = two_file_job([&files[0].1, &files[1].1], &spec());
    wait_for_both_files_probed(&cluster, &dir, SECOND, probe, TRAIN + PROBES / 2);
    let Killed {
        node,
        generation,
        restored,
    } = kill_node_of_shard_1(&cluster, "mf");
    let (p, exported) = export(&cluster, "mf", restored);
    assert_eq!(exported["kind"], "matrix_factorization", "{exported}");
    assert_eq!(exported["lineage"]["generation"], generation, "{exported}");
    // Every rating of phase (a) was counted before the probes' checkpoint.
    assert_eq!(
        p[MfLayout::COUNT as usize],
        (2 * TRAIN) as f64,
        "{exported}"
    );

    wait_for_recovered_finish(&cluster);
    let all = quiver_chaos_tests::read_committed_rows(&dir.join("out"));
    let ids = (0..TRAIN + PROBES + TAIL).chain(SECOND..SECOND + TRAIN + PROBES + TAIL);
    assert_each_id_once(&all, ids);

    // The probes the recovered deployment scored with the restored version.
    let model = mf_model_of(&p, ITEMS as u64);
    let after = committed_after(&dir.join("out"), generation);
    let restored_probes: Vec<&Value> = after
        .iter()
        .filter(|r| probe(int(r, "id") as usize) && int(r, "model_version") == restored)
        .collect();
    for row in &restored_probes {
        let id = int(row, "id") as usize;
        let (user, item, _) = files[id / SECOND].0[id % SECOND];
        let expected = model.predict_one(user, item);
        let found = row["prediction"].as_f64().expect("prediction");
        assert_eq!(
            found.to_bits(),
            expected.to_bits(),
            "row {id} (version {restored}): {found}, a model holding P predicts {expected}"
        );
    }
    eprintln!(
        "killed {node} (shard 1); restored {restored} of generation {generation}; {} probes \
         after the recovery checked against P",
        restored_probes.len()
    );
    assert!(
        !restored_probes.is_empty(),
        "no probe scored with the restored version"
    );

    // Training goes on: a later version with other parameters.
    assert_trained_on(&cluster, "mf", restored, &p);
}

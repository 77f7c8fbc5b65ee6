//! Swaps of a `matrix_factorization` stage on parameter servers (issue 15, done-when 1 and
//! 3): a coordinator and two nodes run biased MF at parallelism 2 with `parameter_shards =
//! 2` and checkpoints every 300 ms over two rate-limited files (a source partition each; the
//! stage's input is hashed by user). Half the rows are ratings of known users (training
//! goes on), half are probes: a user never seen, an item, no rating. While training goes
//! on: `model ab --a V1 --b V2 --split 70` (two older registered versions), `model deploy
//! V1`, `model rollback`. Then, against the input and the checkpoint store:
//! - every input row is published exactly once;
//! - per stage partition and file, in input order, the versions go through the phases once
//!   each and in order: the working copy's, the A/B (V2 exactly for the users whose hash
//!   falls in the first 70% of buckets), V1 for every row, the A/B again (the rollback);
//! - every probe after the first swap is predicted, bit for bit, as a library model holding
//!   the mean and items `quiver model export` reads for its version predicts for a new user;
//! - V2's share of the A/B's probes (one user each) is 70% ± 2%, and `quiver model status
//!   --json` shows both versions with that share and the RMSE / MAE of their rated rows near
//!   the ones the rows give.

mod common;

use common::learner_job::ratings_mf_spec;
use common::reco::mf_model_of;
use common::shards::{assert_each_id_once, export, int, two_file_job};
use common::swaps::{split_deploy_rollback, split_deploy_rollback_phases, walk_phases, Swapped};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::Persist;
use quiver_protocol::keygroup::{key_group, key_hash_code, murmur_hash, partition_of};
use quiver_protocol::Value as Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Rows per file (one file per source partition).
const ROWS: usize = 30_000;
/// Ids of the second file start here.
const SECOND: usize = 1_000_000;
/// Known users per file.
const USERS: usize = 5000;
/// Items 0..ITEMS.
const ITEMS: usize = 40;
/// Probe users are this plus the row id (never rated).
const NEW_USERS: usize = 10_000_000;
/// The job's `max_parallelism`: the user's key group picks its partition.
const MAX_PARALLELISM: u32 = 128;

/// The job: `mf` over the two files.
fn spec() -> String {
    ratings_mf_spec("mf-swaps", "300ms", 2000)
}

/// One input row.
#[derive(Clone, Copy)]
struct Row {
    id: usize,
    user: u64,
    item: u64,
    rating: Option<f64>,
}

/// File `f`'s rows (ids from `f · SECOND`) and CSV text: odd rows are probes.
fn input(f: usize) -> (Vec<Row>, String) {
    let mut csv = String::from("id,user,item,rating\n");
    let rows: Vec<Row> = (0..ROWS)
        .map(|i| {
            let id = f * SECOND + i;
            let item = ((i * 7 + f) % ITEMS) as u64;
            match i % 2 {
                1 => Row {
                    id,
                    user: (NEW_USERS + id) as u64,
                    item,
                    rating: None,
                },
                _ => {
                    let user = (f * USERS + i * 13 % USERS) as u64;
                    let rating = Some(1.0 + ((user + item) % 5) as f64);
                    Row {
                        id,
                        user,
                        item,
                        rating,
                    }
                }
            }
        })
        .collect();
    for r in &rows {
        let rating = r.rating.map(|x| format!("{x:?}")).unwrap_or_default();
        writeln!(csv, "{},{},{},{rating}", r.id, r.user, r.item).expect("write to a string");
    }
    (rows, csv)
}

/// The user's hash code, as the stage and the hash edge read the user column.
fn user_code(r: &Row) -> i32 {
    key_hash_code([Cell::I64(r.user as i64)].iter())
}

/// The row's bucket in [0, 10000): the stage splits by the hash of the user.
fn bucket(r: &Row) -> u32 {
    murmur_hash(user_code(r)) as u32 % 10_000
}

/// The stage partition that owns the row's user.
fn partition(r: &Row) -> u32 {
    partition_of(key_group(user_code(r), MAX_PARALLELISM), MAX_PARALLELISM, 2).0
}

/// Rows, squared and absolute errors of rated rows.
#[derive(Default)]
struct Errors {
    rated: f64,
    squared: f64,
    absolute: f64,
}

#[test]
fn mf_versions_deploy_split_and_roll_back_each_partition_once_in_order() {
    let files = [input(0), input(1)];
    let mut swapped = split_deploy_rollback([&files[0].1, &files[1].1], &spec(), "mf");
    let by_id = swapped.rows_by_id((0..ROWS).chain(SECOND..SECOND + ROWS));
    let Swapped {
        cluster,
        v1,
        v2,
        figures,
        ..
    } = swapped;
    let models: BTreeMap<u64, MatrixFactorization> = [v1, v2]
        .into_iter()
        .map(|v| (v, mf_model_of(&export(&cluster, "mf", v).0, ITEMS as u64)))
        .collect();

    let (phases, split) = split_deploy_rollback_phases(v1, v2);
    let (mut probes, mut errors) = (BTreeMap::<u64, usize>::new(), BTreeMap::new());
    let mut checked = 0;
    for (f, (rows, _)) in files.iter().enumerate() {
        for p in 0..2 {
            let rows: Vec<&Row> = rows.iter().filter(|r| partition(r) == p).collect();
            let records: Vec<(u32, u64)> = (rows.iter())
                .map(|r| (bucket(r), int(&by_id[&r.id], "model_version")))
                .collect();
            let phase_of = walk_phases(&format!("file {f}, partition {p}"), &records, &phases);
            for (r, phase) in rows.iter().zip(phase_of) {
                if phase == 0 {
                    continue;
                }
                let row = &by_id[&r.id];
                let version = int(row, "model_version");
                let found = row["prediction"].as_f64().expect("a prediction");
                let ab = phases[phase] == split;
                match r.rating {
                    None => {
                        let expected = models[&version].predict_one(r.user, r.item);
                        assert_eq!(found.to_bits(), expected.to_bits(), "{row}: {expected}");
                        checked += 1;
                        *probes.entry(version).or_default() += usize::from(ab);
                    }
                    Some(rating) if ab => {
                        let e: &mut Errors = errors.entry(version).or_default();
                        e.rated += 1.0;
                        e.squared += (found - rating).powi(2);
                        e.absolute += (found - rating).abs();
                    }
                    Some(_) => {}
                }
            }
        }
    }
    let (n1, n2) = (probes[&v1], probes[&v2]);
    let share = n2 as f64 / (n1 + n2) as f64;
    eprintln!("{checked} probes checked; the A/B's probes: {n1} on {v1}, {n2} on {v2}");
    assert!(n1 + n2 >= 3000, "only {} probes in the A/B", n1 + n2);
    assert!((share - 0.70).abs() <= 0.02, "V2's share {share}");

    // The status's figures of the first A/B: V2's share, and each version's RMSE and MAE
    // over its rated rows, near the rows' (the status saw a prefix of them).
    for (figures, v) in figures.iter().zip([v1, v2]) {
        let e = &errors[&v];
        let (mse, mae) = (e.squared / e.rated, e.absolute / e.rated);
        let loss = figures["loss"].as_f64().expect("a loss");
        let status_mae = figures["mae"].as_f64().expect("an MAE");
        assert!(loss.sqrt() >= status_mae, "RMSE below MAE: {figures}");
        assert!(
            (loss.sqrt() / mse.sqrt() - 1.0).abs() < 0.3,
            "version {v}: status RMSE {}, rows {}",
            loss.sqrt(),
            mse.sqrt()
        );
        assert!(
            (status_mae / mae - 1.0).abs() < 0.3,
            "version {v}: status MAE {status_mae}, rows {mae}"
        );
    }
    let status_share = figures[1]["share"].as_f64().expect("a share");
    assert!((status_share - 0.70).abs() <= 0.02, "{figures:?}");
}

#[test]
fn an_imported_saved_mf_model_serves_its_mean_and_items_from_the_deploy_on() {
    let files = [input(0), input(1)];
    let (mut cluster, dir) = two_file_job([&files[0].1, &files[1].1], &spec());
    // A model the library trained elsewhere, on users of its own.
    let mut saved = MatrixFactorization::new(MfParams::biased_mf_stream()).expect("model");
    for k in 0..3000u64 {
        let (user, item) = (50_000_000 + k % 97, k % ITEMS as u64);
        saved
            .learn_one(user, item, 1.0 + ((k * 7) % 5) as f64)
            .expect("learn");
    }
    let mut bytes = Vec::new();
    saved.save(&mut bytes).expect("save");
    let file = dir.join("model.json");
    std::fs::write(&file, bytes).expect("write the model");
    cluster.wait_for_versions("job-1", 1);
    let said = cluster.ok(&["model", "import", "job-1", "mf", &file.to_string_lossy()]);
    let imported: u64 = said
        .split("as chk-")
        .nth(1)
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no version in {said}"));
    let said = cluster.ok(&["model", "deploy", "job-1", "mf", &imported.to_string()]);
    assert!(said.contains("serves"), "{said}");
    cluster.wait_for_finish();
    let out = quiver_chaos_tests::read_committed_rows(&dir.join("out"));
    assert_each_id_once(&out, (0..ROWS).chain(SECOND..SECOND + ROWS));
    let by_id: BTreeMap<usize, &serde_json::Value> =
        out.iter().map(|r| (int(r, "id") as usize, r)).collect();

    // What serving the saved model means: its mean (as its ratings' count and sum) and its
    // items, beside users the partition holds (none, for a probe's new user).
    let mut expected = MatrixFactorization::new(MfParams::biased_mf_stream()).expect("model");
    expected
        .set_rating_stats(saved.rating_stats())
        .expect("stats");
    for item in saved.items() {
        let values = saved.item_parameters(item).expect("an item");
        expected
            .set_item_parameters(item, &values)
            .expect("item parameters");
    }
    // Per partition and file: the working copy's versions (never the imported id, which no
    // checkpoint gets), then the imported version for every row.
    let mut checked = 0;
    for (f, (rows, _)) in files.iter().enumerate() {
        for p in 0..2 {
            let versions: Vec<(&Row, u64)> = (rows.iter())
                .filter(|r| partition(r) == p)
                .map(|r| (r, int(by_id[&r.id], "model_version")))
                .collect();
            let switch = versions.iter().position(|&(_, v)| v == imported);
            let switch = switch.unwrap_or_else(|| panic!("file {f}, partition {p} never switched"));
            assert!(
                versions[switch..].iter().all(|&(_, v)| v == imported),
                "file {f}, partition {p}: a row after the switch is not scored by {imported}"
            );
            assert!(
                versions[..switch].windows(2).all(|w| w[0].1 <= w[1].1),
                "file {f}, partition {p}: the working copy's versions went back"
            );
            for &(r, _) in versions[switch..]
                .iter()
                .filter(|(r, _)| r.rating.is_none())
            {
                let found = by_id[&r.id]["prediction"].as_f64().expect("a prediction");
                let want = expected.predict_one(r.user, r.item);
                assert_eq!(found.to_bits(), want.to_bits(), "row {}: {want}", r.id);
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} probes after the deploy");
}

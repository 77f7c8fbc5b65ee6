//! Issue 15, done-when 2: kill -9 of a node holding parameter-server shards. A
//! `linear_regression` stage at parallelism 2 with checkpoints trains one model on its
//! shards (`reg/params`) across a coordinator and two node processes. Its input comes in
//! three phases: (a) labelled rows, (b) a long run of probes without a label (predict only:
//! nothing learns), (c) labelled rows again. While the probes are read, after a checkpoint
//! inside phase (b) completed, the node holding shards is killed with SIGKILL.
//!
//! The expectations are independent of the job's output: the parameters P of the restored
//! version come from the checkpoint store (`quiver model export`), and a model built here
//! with `quiver_ml` from P must score every probe scored after the recovery bit for bit as
//! the job did. Every input row must be published exactly once, and training must go on in
//! phase (c): later versions, parameters that differ from P.
//!
//! The source has one partition, so its barriers split the file at one position: every
//! version a probe can be scored with holds the updates of phase (a) and none of phase (c),
//! which is what lets every probe after the recovery be held to P, whatever its version.

mod common;

use common::cluster::Cluster;
use common::shards::{
    assert_each_id_once, committed_after, export, int, kill_node_of_shard_1, newest_version,
    wait_for_committed, wait_for_recovered_finish, Killed,
};
use quiver_ml::linear::{StreamingLinearRegressionParams, StreamingLinearRegressionSgd};
use quiver_ml::{Features, OnlineLearner, SharedParameters};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Rows of phase (a), labelled.
const TRAIN: usize = 2500;
/// Rows of phase (b), probes without a label: about 10 s at [`RATE`].
const PROBES: usize = 10_000;
/// Rows of phase (c), labelled.
const TAIL: usize = 2500;
/// Rows per second the source reads.
const RATE: u64 = 1000;
const LEARNING_RATE: f64 = 0.02;

/// A seeded generator (SplitMix64).
struct Rng(u64);

impl Rng {
    /// A value in [-1, 1) that is a multiple of 1/1024, so its CSV text is exact.
    fn feature(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % 2048) as f64 / 1024.0 - 1.0
    }
}

/// The rule the labelled rows follow.
fn rule(x: &[f64]) -> f64 {
    x.iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - 3.5) * v)
        .sum::<f64>()
        + 0.5
}

/// Which phase row `id` belongs to.
fn is_probe(id: usize) -> bool {
    (TRAIN..TRAIN + PROBES).contains(&id)
}

/// Every row's `dim` features by id, and the CSV text of the input.
fn input(dim: usize) -> (Vec<Vec<f64>>, String) {
    let mut rng = Rng(15);
    let mut rows = Vec::new();
    let mut header = String::from("id");
    for i in 1..=dim {
        let _ = write!(header, ",x{i}");
    }
    let mut csv = header + ",y\n";
    for id in 0..TRAIN + PROBES + TAIL {
        let x: Vec<f64> = (0..dim).map(|_| rng.feature()).collect();
        let _ = write!(csv, "{id}");
        for v in &x {
            let _ = write!(csv, ",{v:?}");
        }
        if is_probe(id) {
            csv.push_str(",\n");
        } else {
            let _ = writeln!(csv, ",{:?}", rule(&x));
        }
        rows.push(x);
    }
    (rows, csv)
}

fn spec(dim: usize) -> String {
    let names: Vec<String> = (1..=dim).map(|i| format!("x{i}")).collect();
    let schema: Vec<String> = names.iter().map(|n| format!("{n} = \"f64\"")).collect();
    let features: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        r#"
[job]
name = "ps-recovery"
parallelism = 2
max_parallelism = 128
checkpoint_interval = "1s"

[[source]]
name = "rows"
kind = "file"
path = "rows.csv"
format = "csv"
schema = {{ id = "i64", {}, y = "f64" }}
parallelism = 1
rate = {RATE}

[[stage]]
name = "reg"
kind = "linear_regression"
input = "rows"
features = [{}]
label = "y"
learning_rate = {LEARNING_RATE}
l2 = 0.0
fit_intercept = true
center_label = true

[[sink]]
name = "out"
kind = "file"
input = "reg"
path = "out/"
"#,
        schema.join(", "),
        features.join(", ")
    )
}

/// The model the job's stage builds for `dim` features, holding `parameters` (parameters
/// never written are 0).
fn model_of(dim: usize, parameters: &[f64]) -> StreamingLinearRegressionSgd {
    // As the spec sets them.
    let params = StreamingLinearRegressionParams {
        learning_rate: LEARNING_RATE,
        l2: 0.0,
        fit_intercept: true,
        center_label: true,
        ..StreamingLinearRegressionParams::default()
    };
    let mut model = StreamingLinearRegressionSgd::new(params, dim).expect("model");
    let mut values = parameters.to_vec();
    assert!(values.len() <= model.parameter_len(), "{values:?}");
    values.resize(model.parameter_len(), 0.0);
    model.read_parameters(&values).expect("P is a valid model");
    model
}

/// The probes of `rows` (id, model_version, prediction) that `model` scores differently.
fn mispredicted(
    model: &StreamingLinearRegressionSgd,
    features: &[Vec<f64>],
    probes: &[(usize, u64, f64)],
) -> Vec<String> {
    probes
        .iter()
        .filter_map(|&(id, version, predicted)| {
            let expected = model
                .predict_one(Features::Dense(&features[id]))
                .expect("predict")
                .value;
            (expected.to_bits() != predicted.to_bits())
                .then(|| format!("row {id} (version {version}): job {predicted:?}, P {expected:?}"))
        })
        .collect()
}

/// Eight features: 11 parameters, some on each shard (max_parallelism 128).
#[test]
fn killed_parameter_server_restores_its_checkpointed_parameters_bit_for_bit_then_trains_on() {
    killed_shard_node(8);
}

/// One feature: its 4 parameters all hash to shard 1's key groups, so shard 0 holds none.
#[test]
fn killed_parameter_server_restores_a_model_whose_parameters_all_sit_on_one_shard() {
    killed_shard_node(1);
}

/// The scenario with `dim` features.
fn killed_shard_node(dim: usize) {
    let (features, csv) = input(dim);
    let cluster = Cluster::on_loopback(2);
    let dir = cluster.dir.path().to_path_buf();
    std::fs::write(dir.join("rows.csv"), csv).expect("write input");
    let spec_path: PathBuf = dir.join("job.toml");
    std::fs::write(&spec_path, spec(dim)).expect("write spec");
    cluster.submit_spec(&spec_path);

    // A checkpoint inside phase (b) completed once the committed output holds a probe (the
    // sink publishes at checkpoints, and the source has one partition).
    let rows = wait_for_committed(&cluster, &dir.join("out"), "a probe", |rows| {
        rows.iter().any(|r| is_probe(int(r, "id") as usize))
    });
    let last = rows.iter().map(|r| int(r, "id")).max().unwrap_or(0) as usize;
    assert!(
        last < TRAIN + PROBES / 2,
        "the probes were half read before a checkpoint inside them completed (row {last} \
         published): the machine is too slow for this test's rate"
    );
    // Kill the node of shard 1 (which holds every parameter in the one-feature case).
    let Killed {
        node: victim_name,
        generation: first_generation,
        restored,
    } = kill_node_of_shard_1(&cluster, "reg");
    let (p, exported) = export(&cluster, "reg", restored);
    assert_eq!(
        exported["lineage"]["generation"], first_generation,
        "{exported}"
    );
    assert!(!p.is_empty(), "phase (a) trained nothing: {exported}");
    assert!(p.iter().all(|v| v.is_finite()), "{p:?}");

    // The job recovers and finishes, every input row published once.
    wait_for_recovered_finish(&cluster);
    let rows = quiver_chaos_tests::read_committed_rows(&dir.join("out"));
    assert_each_id_once(&rows, 0..TRAIN + PROBES + TAIL);

    // The probes scored after the recovery: those the recovered deployment published (the
    // file sink names a committed part `part-P-RUN-gG-cC.jsonl` after its generation G). A
    // restored model is version C until it adopts a later one; it never reports an older.
    let mut after: Vec<(usize, u64, f64)> = committed_after(&dir.join("out"), first_generation)
        .iter()
        .filter(|r| is_probe(int(r, "id") as usize))
        .map(|r| {
            let prediction = r["prediction"].as_f64().expect("a probe has a prediction");
            (int(r, "id") as usize, int(r, "model_version"), prediction)
        })
        .collect();
    after.sort_unstable_by_key(|r| r.0);
    assert!(
        !after.is_empty(),
        "no probe was scored after the recovery: the kill landed after phase (b)"
    );
    let versions: BTreeSet<u64> = after.iter().map(|r| r.1).collect();
    assert!(
        versions.contains(&restored) && versions.iter().all(|&v| v >= restored),
        "the probes scored after the recovery by the restored model must carry its version \
         {restored} (later ones after it adopts a newer version); they carry {versions:?}"
    );
    let restored_versions = after.iter().filter(|r| r.1 == restored).count();

    eprintln!(
        "killed {victim_name} (shard 1); restored {restored} of generation \
         {first_generation}; P = {p:?}; {} probes scored after the recovery, {restored_versions} \
         of them by version {restored}",
        after.len()
    );

    // Bit for bit as a model holding P scores them.
    let model = model_of(dim, &p);
    let wrong = mispredicted(&model, &features, &after);
    assert!(
        wrong.is_empty(),
        "{} of {} probes after the recovery are not scored as the restored parameters P \
         (version {restored}) score them, e.g. {:?}\nP = {p:?}",
        wrong.len(),
        after.len(),
        &wrong[..wrong.len().min(5)]
    );
    // The check has teeth: a model one step away from P scores them differently.
    let mut nudged = p.clone();
    nudged[0] = f64::from_bits(nudged[0].to_bits() + 1);
    assert!(
        !mispredicted(&model_of(dim, &nudged), &features, &after).is_empty(),
        "a model one ulp away from P scores every probe as P does: the check cannot fail"
    );

    // Training continues in phase (c): later versions, parameters that moved on.
    let tail_versions: Vec<u64> = rows
        .iter()
        .filter(|r| int(r, "id") as usize >= TRAIN + PROBES)
        .map(|r| int(r, "model_version"))
        .collect();
    let last_version = tail_versions.iter().copied().max().unwrap_or(0);
    assert!(
        last_version > restored,
        "phase (c) was scored with no version after the restored {restored}"
    );
    let newest = newest_version(&cluster, "reg");
    assert!(newest > restored, "no version after {restored} registered");
    let (final_parameters, _) = export(&cluster, "reg", newest);
    eprintln!("phase (c) scored up to version {last_version}; newest version {newest}: {final_parameters:?}");
    assert_ne!(
        final_parameters, p,
        "the parameters of version {newest} are the restored ones: training stopped"
    );
    let summary = cluster.ok(&["model", "export", "job-1", "reg", &newest.to_string()]);
    assert!(
        summary.contains(&format!("{} parameters", final_parameters.len())),
        "{summary}"
    );
    if dim == 8 {
        export_mistakes_say_what_to_do(&cluster, restored);
    }
}

/// A stage with per-partition models (a job without checkpoints), for the export that is
/// refused.
const KMEANS: &str = r#"
[job]
name = "clusters"

[[source]]
name = "events"
kind = "generator"
count = 10

[[stage]]
name = "km"
kind = "kmeans"
input = "events"
features = ["amount"]
k = 2

[[sink]]
name = "out"
kind = "discard"
input = "km"
"#;

/// Unknown jobs, stages and versions, a pruned version and a stage without parameter
/// servers are refused with what to do.
fn export_mistakes_say_what_to_do(cluster: &Cluster, pruned: u64) {
    let refused = |args: &[&str], needle: &str| {
        let out = cluster.cli(args);
        let why = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(why.contains(needle), "{args:?}: {why}");
    };
    let pruned = pruned.to_string();
    refused(&["model", "export", "job-9", "reg", "1"], "no job job-9");
    refused(
        &["model", "export", "job-1", "nope", "1"],
        "its learner stages: reg",
    );
    refused(
        &["model", "export", "job-1", "reg", &pruned],
        "no complete checkpoint",
    );
    refused(
        &["model", "export", "job-1", "reg", "9999"],
        "quiver model list job-1",
    );
    refused(&["model", "export", "job-1", "reg", "latest"], "chk-5");
    let spec = cluster.dir.path().join("kmeans.toml");
    std::fs::write(&spec, KMEANS).expect("write spec");
    cluster.submit_spec(&spec);
    refused(
        &["model", "export", "job-2", "km", "1"],
        "keeps one model per partition",
    );
}

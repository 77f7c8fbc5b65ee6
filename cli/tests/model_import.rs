//! `quiver model import` end to end (issue 15): a coordinator and two nodes as real processes
//! run a `linear_regression` at parallelism 2 with checkpoints every 300 ms over a
//! rate-limited input. While it runs:
//! - bad imports (a model of another dimension, of another algorithm, a corrupt file, an
//!   unknown job or stage) are refused with what is wrong, and register nothing;
//! - a model trained and saved here with `quiver_ml` is imported (version I), and its export
//!   gives back the library's parameter vector bit for bit;
//! - the export of a trained version T is imported (version E), whose export equals T's;
//! - `model deploy I`, then `model deploy E`.
//!
//! Then, against the input: every record is scored exactly once; per partition the outputs
//! go from the trained versions to I to E, once each; every record I scored has the
//! prediction the saved model computes with the library, and every record E scored the one a
//! model built from T's exported parameters computes, bit for bit.

mod common;

use common::cluster::Cluster;
use common::learner_job::LearnerJob;
use quiver_chaos_tests::read_committed_rows;
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd,
};
use quiver_ml::{Features, OnlineLearner, Persist, SharedParameters};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Rows per file (one file per source partition).
const ROWS: usize = 12_000;

/// An input row: id, two features, a label.
#[derive(Clone, Copy)]
struct Row {
    id: i64,
    x: [f64; 2],
}

/// A seeded value in [-1, 1) that is a multiple of 1/1024, so its CSV text is exact.
fn feature(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state % 2048) as f64 / 1024.0 - 1.0
}

fn rows(first: i64, mut seed: u64) -> Vec<Row> {
    (0..ROWS as i64)
        .map(|i| Row {
            id: first + i,
            x: [feature(&mut seed), feature(&mut seed)],
        })
        .collect()
}

fn write_job(dir: &Path, files: &[(&str, &[Row])]) -> std::path::PathBuf {
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for (name, rows) in files {
        let mut csv = String::from("id,x1,x2,y\n");
        for r in *rows {
            let y = 2.0 * r.x[0] - r.x[1] + 0.5;
            let _ = writeln!(csv, "{},{:?},{:?},{y:?}", r.id, r.x[0], r.x[1]);
        }
        std::fs::write(input.join(name), csv).unwrap();
    }
    LearnerJob {
        name: "import",
        interval: "300ms",
        source: "rows",
        schema: r#"{ id = "i64", x1 = "f64", x2 = "f64", y = "f64" }"#,
        rate: 2000,
        stage: "reg",
        settings: "kind = \"linear_regression\"\nfeatures = [\"x1\", \"x2\"]\nlabel = \"y\"",
    }
    .write(dir)
}

/// A linear model over `dim` features with the stage's defaults, trained on another rule
/// than the job's, so its predictions are its own.
fn trained_model(dim: usize) -> StreamingLinearRegressionSgd {
    let mut model =
        StreamingLinearRegressionSgd::new(StreamingLinearRegressionParams::default(), dim).unwrap();
    let mut seed = 0x5DEE_CE66_D1CE_4E5B;
    for _ in 0..500 {
        let x: Vec<f64> = (0..dim).map(|_| feature(&mut seed)).collect();
        let y = 1.0 - x[0] + 3.0 * x[1];
        model.learn_one(Features::Dense(&x), y).unwrap();
    }
    model
}

fn save(dir: &Path, name: &str, model: &impl Persist) -> String {
    let path = dir.join(name);
    model.save(std::fs::File::create(&path).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

/// `quiver model list job-1 --json`.
fn listed(cluster: &Cluster) -> Vec<Value> {
    let text = cluster.ok(&["model", "list", "job-1", "--json"]);
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The parameters `quiver model export job-1 reg VERSION --json` prints, and its text.
fn export(cluster: &Cluster, version: u64) -> (Vec<f64>, String) {
    let text = cluster.ok(&[
        "model",
        "export",
        "job-1",
        "reg",
        &version.to_string(),
        "--json",
    ]);
    let json: Value = serde_json::from_str(&text).unwrap();
    let parameters = json["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    (parameters, text)
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The version imported from `file`, as `model list` shows it.
fn imported<'a>(versions: &'a [Value], file: &str) -> &'a Value {
    versions
        .iter()
        .find(|v| v["imported"] == file)
        .unwrap_or_else(|| panic!("no version imported from {file}: {versions:#?}"))
}

/// Runs an import that must fail; returns its error text.
fn refused(cluster: &Cluster, args: &[&str]) -> String {
    let out = cluster.cli(args);
    assert!(!out.status.success(), "quiver {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn imported_models_serve_as_the_library_computes_and_bad_files_change_nothing() {
    let mut cluster = Cluster::on_loopback(2);
    let dir = cluster.dir.path().to_path_buf();
    let a = rows(0, 0x9E37_79B9_7F4A_7C15);
    let b = rows(1_000_000, 0xD1B5_4A32_D192_ED03);
    let spec = write_job(&dir, &[("a.csv", &a), ("b.csv", &b)]);
    cluster.submit_spec(&spec);
    let trained = cluster.wait_for_versions("job-1", 1);
    let t = *trained.last().unwrap();
    cluster.ok(&["model", "alias", "job-1", "reg", "keep", &t.to_string()]);

    // Bad imports say what is wrong and register nothing.
    let model = trained_model(2);
    let good = save(&dir, "model.json", &model);
    let three = save(&dir, "three.json", &trained_model(3));
    let ftrl = OnlineLogisticRegression::new(FtrlParams::default(), 2, None).unwrap();
    let ftrl = save(&dir, "ftrl.json", &ftrl);
    let text = std::fs::read(&good).unwrap();
    let corrupt = dir.join("corrupt.json");
    std::fs::write(&corrupt, &text[..text.len() / 2]).unwrap();
    let corrupt = corrupt.to_string_lossy().into_owned();
    let import = |job: &'static str, stage: &'static str, file: &str| {
        ["model", "import", job, stage, file].map(String::from)
    };
    let cases: [([String; 5], &[&str]); 5] = [
        (
            import("job-1", "reg", &three),
            &["has 3 features", "reads 2"],
        ),
        (
            import("job-1", "reg", &ftrl),
            &[
                "linear_regression (optimizer sgd)",
                "online_logistic_regression",
            ],
        ),
        (
            import("job-1", "reg", &corrupt),
            &["not JSON", "Persist::save"],
        ),
        (import("job-9", "reg", &good), &["no job job-9"]),
        (
            import("job-1", "nope", &good),
            &["no learner stage \"nope\""],
        ),
    ];
    for (args, said) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let why = refused(&cluster, &args);
        for part in *said {
            assert!(why.contains(part), "{args:?}: {why}");
        }
    }
    assert!(
        listed(&cluster).iter().all(|v| v["imported"].is_null()),
        "a refused import registered a version"
    );

    // A saved model becomes a version whose export is the library's vector.
    let said = cluster.ok(&[
        "model",
        "import",
        "job-1",
        "reg",
        &good,
        "--alias",
        "challenger",
    ]);
    assert!(said.contains("imported model.json as chk-"), "{said}");
    let versions = listed(&cluster);
    let i = imported(&versions, "model.json");
    assert_eq!(i["aliases"], serde_json::json!(["challenger"]), "{i}");
    assert!(i["created"].as_u64().unwrap() > 0, "{i}");
    assert_eq!(i["metrics"], serde_json::json!({}), "{i}");
    let i = i["version"].as_u64().unwrap();
    assert!(
        i > t,
        "an import takes the next checkpoint id: {i} after {t}"
    );
    let mut expected = Vec::new();
    model.write_parameters(&mut expected);
    assert_eq!(bits(&export(&cluster, i).0), bits(&expected));

    // An export imported round-trips bit for bit.
    let (trained_parameters, text) = export(&cluster, t);
    let exported = dir.join("export.json");
    std::fs::write(&exported, text).unwrap();
    cluster.ok(&[
        "model",
        "import",
        "job-1",
        "reg",
        &exported.to_string_lossy(),
    ]);
    let e = imported(&listed(&cluster), "export.json")["version"]
        .as_u64()
        .unwrap();
    assert_eq!(bits(&export(&cluster, e).0), bits(&trained_parameters));

    for version in [i, e] {
        let said = cluster.ok(&["model", "deploy", "job-1", "reg", &version.to_string()]);
        assert!(said.contains(&format!("serves chk-{version}")), "{said}");
    }
    cluster.wait_for_finish();

    // What each imported version must predict, computed with the library alone: the saved
    // model as saved, the export as a model of the stage's settings (its default
    // `center_label` included) reading the exported vector.
    let stage = StreamingLinearRegressionParams {
        center_label: true,
        ..Default::default()
    };
    let mut from_export = StreamingLinearRegressionSgd::new(stage, 2).unwrap();
    let mut padded = trained_parameters.clone();
    padded.resize(from_export.parameter_len(), 0.0);
    from_export.read_parameters(&padded).unwrap();
    let out = read_committed_rows(&dir.join("out"));
    let mut by_id: BTreeMap<i64, (u64, f64)> = BTreeMap::new();
    for row in &out {
        let id = row["id"].as_i64().unwrap();
        let scored = (
            row["model_version"].as_u64().unwrap(),
            row["prediction"].as_f64().unwrap(),
        );
        assert!(by_id.insert(id, scored).is_none(), "id {id} scored twice");
    }
    assert_eq!(by_id.len(), 2 * ROWS, "every record scored exactly once");
    for (file, input) in [("a.csv", &a), ("b.csv", &b)] {
        // Phases: 0 the trained versions, 1 the saved model, 2 the export.
        let mut phase = 0;
        let mut scored = [0; 3];
        for r in input.iter() {
            let (version, prediction) = by_id[&r.id];
            let now = match version {
                v if v == i => 1,
                v if v == e => 2,
                _ => 0,
            };
            assert!(
                now >= phase,
                "{file}: record {} scored by chk-{version} after phase {phase}",
                r.id
            );
            phase = now;
            scored[now] += 1;
            let x = Features::Dense(&r.x);
            let expected = match now {
                1 => model.predict_one(x).unwrap().value,
                2 => from_export.predict_one(x).unwrap().value,
                _ => continue,
            };
            assert_eq!(
                prediction.to_bits(),
                expected.to_bits(),
                "{file}: record {} by chk-{version}: {prediction} vs the library's {expected}",
                r.id
            );
        }
        assert!(
            scored.iter().all(|n| *n > 0),
            "{file}: records per phase {scored:?}"
        );
    }
}

//! Sources, stages and sinks wired by hand (no runtime): the design's example spec, parsed by
//! `JobSpec::parse`, run from a CSV file into a folder of part files, against a naive
//! expectation computed here.

use quiver_node::operator::{Output, Sink};
use quiver_node::operators::{build_stage, StageContext};
use quiver_node::sinks::{build_sink, SinkContext};
use quiver_node::sources::build_source;
use quiver_node::watermark::WatermarkGenerator;
use quiver_protocol::spec::JobSpec;
use std::collections::BTreeMap;

const SPEC: &str = r#"
[job]
name = "spend-per-user"
parallelism = 1

[[source]]
name = "events"
kind = "file"
path = "events.csv"
format = "csv"
schema = { user = "string", amount = "f64", ts = "i64" }
event_time = "ts"
max_out_of_orderness = "2s"

[[stage]]
name = "per_user"
kind = "aggregate"
input = "events"
key = ["user"]
window = { kind = "tumbling", size = "1s" }
aggregates = { n = "count()", spend = "sum(amount)", top = "max(amount)" }

[[sink]]
name = "out"
kind = "file"
input = "per_user"
path = "out/"
"#;

/// (user, amount, ts) rows: 10 users, amounts in quarters (exact sums), times up to 1.5 s
/// out of order.
fn events() -> Vec<(String, f64, i64)> {
    let mut x: u64 = 42;
    (0..5000)
        .map(|i| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let user = format!("u{}", (x >> 33) % 10);
            let amount = ((x >> 40) % 400) as f64 * 0.25;
            let ts = 1_700_000_000_000 + i * 7 - ((x >> 20) % 1500) as i64;
            (user, amount, ts)
        })
        .collect()
}

/// Writes what a stage emitted to a sink (sinks still take rows).
fn write(sink: &mut dyn Sink, out: &Output) {
    for emitted in &out.records {
        sink.write_batch(emitted).expect("write");
    }
}

#[test]
fn design_example_from_csv_to_part_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let events = events();
    let mut csv = String::from("ts,user,amount\n");
    for (user, amount, ts) in &events {
        csv.push_str(&format!("{ts},{user},{amount}\n"));
    }
    std::fs::write(dir.path().join("events.csv"), csv).expect("write csv");
    let spec = JobSpec::parse(SPEC, dir.path()).expect("spec");
    let (source, stage, sink) = (&spec.sources[0], &spec.stages[0], &spec.sinks[0]);

    let mut input = build_source(source, 0, 1).expect("source");
    let stage_ctx = StageContext {
        max_parallelism: spec.max_parallelism,
        state_ttl: spec.state_ttl,
        checkpoints: true,
    };
    let mut op = build_stage(stage, &source.schema, &stage_ctx).expect("stage");
    let sink_ctx = SinkContext {
        job: "job-1 \"test\"".into(),
        run: 1,
        continues: None,
        partition: 0,
        parallelism: 1,
        lineage: 1,
        generation: quiver_protocol::Generation(1),
        exactly_once: false,
        restored: None,
        cancelled: Default::default(),
    };
    let mut out_sink = build_sink(sink, &stage.schema, &sink_ctx).expect("sink");
    let lag = source.max_out_of_orderness.as_millis() as i64;
    let mut watermarks = WatermarkGenerator::new(lag);
    let mut late = 0;
    while let Some(batch) = input.poll_batch(128).expect("poll") {
        batch
            .event_time()
            .iter()
            .for_each(|&t| watermarks.observe(t));
        let mut out = Output::default();
        op.process_batch(&batch, &mut out).expect("process");
        if let Some(wm) = watermarks.watermark() {
            op.on_watermark(wm, &mut out).expect("watermark");
        }
        late += out.late.iter().map(|b| b.len()).sum::<usize>();
        write(out_sink.as_mut(), &out);
    }
    let mut out = Output::default();
    op.on_end(&mut out).expect("end");
    write(out_sink.as_mut(), &out);
    out_sink.finish().expect("finish");
    assert_eq!(late, 0, "every record is within the 2 s lag");

    // Naive expectation: group by (user, second).
    let mut expected: BTreeMap<(String, i64), (i64, f64, f64)> = BTreeMap::new();
    for (user, amount, ts) in &events {
        let start = ts - ts.rem_euclid(1000);
        let e = expected
            .entry((user.clone(), start))
            .or_insert((0, 0.0, f64::MIN));
        e.0 += 1;
        e.1 += amount;
        e.2 = e.2.max(*amount);
    }
    let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .expect("out folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(names, vec!["part-0-0.jsonl"], "published files");
    let text = std::fs::read_to_string(dir.path().join("out/part-0-0.jsonl")).expect("read");
    let mut got: BTreeMap<(String, i64), (i64, f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON object per line");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 6);
        let start = v["window_start"].as_i64().expect("window_start");
        assert_eq!(v["window_end"].as_i64(), Some(start + 1000));
        let user = v["user"].as_str().expect("user").to_string();
        let row = (
            v["n"].as_i64().expect("n"),
            v["spend"].as_f64().expect("spend"),
            v["top"].as_f64().expect("top"),
        );
        assert!(
            got.insert((user, start), row).is_none(),
            "one row per user and window"
        );
    }
    assert_eq!(got, expected);
}

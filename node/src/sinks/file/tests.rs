use super::*;
use quiver_protocol::batch::Column;
use quiver_protocol::spec::OutputMode;
use quiver_protocol::ValueType;

fn schema() -> Schema {
    Schema::new([("user", ValueType::I64), ("n", ValueType::I64)])
}

/// Records `range` of `schema`: user `i`, n `2i`.
fn records(range: std::ops::Range<i64>) -> Batch {
    let users: Vec<i64> = range.collect();
    let n = users.iter().map(|i| i * 2).collect();
    Batch::try_new(users.clone(), vec![Column::i64(users), Column::i64(n)]).expect("batch")
}

/// The context of partition `partition` of a job without checkpoints.
fn at_finish(partition: u32) -> SinkContext {
    SinkContext {
        job: "job-1 \"test\"".into(),
        run: 0x51,
        continues: None,
        partition,
        parallelism: partition + 1,
        lineage: 0xab,
        generation: quiver_protocol::Generation(1),
        exactly_once: false,
        restored: None,
        cancelled: Default::default(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        // The folder's owner marker and its lock are not output.
        .filter(|n| !n.starts_with(".quiver-sink"))
        .collect();
    v.sort();
    v
}

#[test]
fn publishes_on_finish_only() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("out/nested");
    let mut sink =
        FileSink::new(&dir, "out", OutputMode::Error, &schema(), &at_finish(3)).expect("sink");
    assert!(dir.is_dir(), "the folder is created");
    sink.write_batch(&records(0..2)).expect("write");
    sink.write_batch(&records(2..3)).expect("write");
    assert_eq!(names(&dir), vec![".part-3-0.jsonl.inprogress"]);
    sink.finish().expect("finish");
    assert_eq!(names(&dir), vec!["part-3-0.jsonl"]);
    let text = std::fs::read_to_string(dir.join("part-3-0.jsonl")).expect("read");
    assert_eq!(
        text,
        "{\"user\":0,\"n\":0}\n{\"user\":1,\"n\":2}\n{\"user\":2,\"n\":4}\n"
    );
    sink.finish().expect("finishing twice is harmless");

    // A second run never overwrites: it takes the next part number.
    let mut again =
        FileSink::new(&dir, "out", OutputMode::Error, &schema(), &at_finish(3)).expect("sink");
    again.write_batch(&records(5..6)).expect("write");
    again.finish().expect("finish");
    assert_eq!(names(&dir), vec!["part-3-0.jsonl", "part-3-1.jsonl"]);
}

#[test]
fn nothing_written_publishes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut sink = FileSink::new(
        root.path(),
        "out",
        OutputMode::Error,
        &schema(),
        &at_finish(0),
    )
    .expect("sink");
    sink.write_batch(&records(0..0)).expect("empty batch");
    sink.finish().expect("finish");
    assert!(names(root.path()).is_empty());
}

#[test]
fn errors_name_the_path() {
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    let dir = file.join("out");
    let e = FileSink::new(&dir, "out", OutputMode::Error, &schema(), &at_finish(0))
        .expect_err("a file is in the way");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot create output folder {}: ", dir.display())),
        "{e}"
    );
    assert!(!e.is_transient(), "a retry cannot create it: {e:?}");
}

use super::*;
use crate::operator::Sink;
use crate::sinks::file::FileSink;
use crate::sinks::test_context as ctx;
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::spec::OutputMode;
use quiver_protocol::{Schema, ValueType};

fn schema() -> Schema {
    Schema::new([("id", ValueType::I64)])
}

/// Records of `schema` with these ids.
fn records(ids: impl IntoIterator<Item = i64>) -> Batch {
    let ids: Vec<i64> = ids.into_iter().collect();
    Batch::try_new(ids.clone(), vec![Column::i64(ids)]).expect("batch")
}

/// The JSON lines the sink writes for `ids`, built by hand.
fn lines(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|i| format!("{{\"id\":{i}}}\n"))
        .collect()
}

fn sink(dir: &Path, ctx: &SinkContext) -> FileSink {
    FileSink::new(dir, "out", OutputMode::Error, &schema(), ctx).expect("sink")
}

/// A sink with mode = "append": it keeps other runs' output in its folder.
fn appending_sink(dir: &Path, ctx: &SinkContext) -> FileSink {
    FileSink::new(dir, "out", OutputMode::Append, &schema(), ctx).expect("sink")
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

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).expect("read")
}

#[test]
fn names_parse_back() {
    let (g, c) = (Generation(7), CheckpointId(42));
    assert_eq!(open_file_name(3, 0xab, g), ".part-3-ab-g7.inprogress");
    assert_eq!(
        staged_file_name(0xab, g, c, 3),
        ".staged-ab-g7-c42-p3.jsonl"
    );
    assert_eq!(published_file_name(3, 0xab, g, c), "part-3-ab-g7-c42.jsonl");
    assert_eq!(
        parse(".part-3-ab-g7.inprogress"),
        Some(Hidden::Open {
            partition: 3,
            lineage: 0xab
        })
    );
    assert_eq!(
        parse(".staged-ab-g7-c42-p3.jsonl"),
        Some(Hidden::Staged {
            lineage: 0xab,
            generation: g,
            checkpoint: c,
            partition: 3
        })
    );
    for other in [
        "part-3-ab-g7-c42.jsonl",
        ".part-3-0.jsonl.inprogress",
        "part-3-0.jsonl",
        ".staged-ab-g7-c42-p3.jsonl.tmp",
        ".staged-gx-c1-p1.jsonl",
        "notes.txt",
    ] {
        assert_eq!(parse(other), None, "{other}");
    }
}

#[test]
fn staged_files_are_published_when_their_checkpoint_completes() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let mut s = sink(dir, &ctx(1, 2, 2, None));
    s.write_batch(&records(0..3)).expect("write");
    assert_eq!(names(dir), vec![".part-1-ab-g2.inprogress"]);
    s.prepare_commit(CheckpointId(1)).expect("prepare 1");
    s.write_batch(&records(3..5)).expect("write");
    s.prepare_commit(CheckpointId(2)).expect("prepare 2");
    s.prepare_commit(CheckpointId(3))
        .expect("nothing written: nothing staged");
    assert_eq!(
        names(dir),
        vec![".staged-ab-g2-c1-p1.jsonl", ".staged-ab-g2-c2-p1.jsonl"]
    );

    s.commit(CheckpointId(1)).expect("commit 1");
    assert_eq!(
        names(dir),
        vec![".staged-ab-g2-c2-p1.jsonl", "part-1-ab-g2-c1.jsonl"]
    );
    s.write_batch(&records(5..6)).expect("write");
    s.commit(CheckpointId(3))
        .expect("commit 3 publishes 2 as well");
    assert_eq!(
        names(dir),
        vec![
            ".part-1-ab-g2.inprogress",
            "part-1-ab-g2-c1.jsonl",
            "part-1-ab-g2-c2.jsonl"
        ]
    );
    assert_eq!(read(dir, "part-1-ab-g2-c1.jsonl"), lines(0..3));
    assert_eq!(read(dir, "part-1-ab-g2-c2.jsonl"), lines(3..5));

    s.commit(CheckpointId(3))
        .expect("committing again is harmless");
    s.prepare_commit(CheckpointId(4)).expect("final barrier");
    s.finish().expect("nothing after the final barrier");
    s.commit(CheckpointId(4)).expect("final commit");
    assert_eq!(read(dir, "part-1-ab-g2-c4.jsonl"), lines(5..6));
    assert!(names(dir).iter().all(|n| !n.starts_with('.')));
}

#[test]
fn commit_accepts_a_file_published_by_someone_else() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let mut s = sink(dir, &ctx(0, 1, 1, None));
    s.write_batch(&records(0..2)).expect("write");
    s.prepare_commit(CheckpointId(1)).expect("prepare");
    // A recovering partition published it first.
    std::fs::rename(
        dir.join(".staged-ab-g1-c1-p0.jsonl"),
        dir.join("part-0-ab-g1-c1.jsonl"),
    )
    .expect("rename");
    s.commit(CheckpointId(1))
        .expect("already published is fine");
    assert_eq!(names(dir), vec!["part-0-ab-g1-c1.jsonl"]);
    assert_eq!(read(dir, "part-0-ab-g1-c1.jsonl"), lines(0..2));
}

#[test]
fn commit_never_replaces_published_output() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    std::fs::write(dir.join("part-0-ab-g1-c1.jsonl"), "earlier\n").expect("write");
    // With mode = "append" the sink may write beside output it did not make.
    let mut s = appending_sink(dir, &ctx(0, 1, 1, None));
    s.write_batch(&records(0..2)).expect("write");
    s.prepare_commit(CheckpointId(1)).expect("prepare");
    let e = s.commit(CheckpointId(1)).expect_err("would overwrite");
    assert!(
        e.to_string().contains(&format!(
            "{} exists already",
            dir.join("part-0-ab-g1-c1.jsonl").display()
        )),
        "{e}"
    );
    assert_eq!(read(dir, "part-0-ab-g1-c1.jsonl"), "earlier\n");
}

#[test]
fn records_after_the_final_barrier_fail_finish() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let mut s = sink(dir, &ctx(0, 1, 1, None));
    s.write_batch(&records(0..1)).expect("write");
    let e = s.finish().expect_err("no barrier covers the record");
    assert!(
        e.to_string().starts_with(&format!(
            "records after the final barrier: {}",
            dir.join(".part-0-ab-g1.inprogress").display()
        )),
        "{e}"
    );
}

#[test]
fn recovery_publishes_the_restored_checkpoint_once_and_drops_the_rest() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    // Generation 1 at parallelism 6: partition 0 stages 1..=3 and is killed mid-interval.
    let mut s = sink(dir, &ctx(0, 6, 1, None));
    for c in 1..=3 {
        s.write_batch(&records(c * 10..c * 10 + 2)).expect("write");
        s.prepare_commit(CheckpointId(c as u64)).expect("prepare");
    }
    s.write_batch(&records(40..41)).expect("write");
    drop(s);
    let mut p5 = sink(dir, &ctx(5, 6, 1, None));
    p5.write_batch(&records(50..51)).expect("write");
    p5.prepare_commit(CheckpointId(2)).expect("prepare");
    p5.write_batch(&records(51..52)).expect("write");
    drop(p5);
    let mut p1 = sink(dir, &ctx(1, 6, 1, None));
    p1.write_batch(&records(60..61)).expect("write");
    p1.prepare_commit(CheckpointId(1)).expect("prepare");
    drop(p1);
    // Leftovers of generation 0 and a foreign file.
    std::fs::write(dir.join(".staged-ab-g0-c1-p0.jsonl"), lines([99])).expect("write");
    std::fs::write(dir.join("notes.txt"), "keep").expect("write");

    // Generation 2 restores checkpoint 2 of generation 1 at parallelism 2.
    let expected = vec![
        ".staged-ab-g1-c1-p1.jsonl", // partition 1 settles its own files
        "notes.txt",
        "part-0-ab-g1-c1.jsonl",
        "part-0-ab-g1-c2.jsonl",
        "part-5-ab-g1-c2.jsonl", // settled by partition 0: 5 >= parallelism
    ];
    sink(dir, &ctx(0, 2, 2, Some((2, 1))));
    assert_eq!(names(dir), expected);
    assert_eq!(read(dir, "part-0-ab-g1-c1.jsonl"), lines(10..12));
    assert_eq!(read(dir, "part-0-ab-g1-c2.jsonl"), lines(20..22));
    assert_eq!(read(dir, "part-5-ab-g1-c2.jsonl"), lines([50]));

    // Recovering again from the same checkpoint publishes nothing twice.
    sink(dir, &ctx(0, 2, 3, Some((2, 1))));
    assert_eq!(names(dir), expected);
    assert_eq!(read(dir, "part-0-ab-g1-c2.jsonl"), lines(20..22));

    sink(dir, &ctx(1, 2, 3, Some((2, 1))));
    assert_eq!(read(dir, "part-1-ab-g1-c1.jsonl"), lines([60]));
}

#[test]
fn recovery_without_a_checkpoint_publishes_nothing() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let mut s = sink(dir, &ctx(0, 1, 1, None));
    s.write_batch(&records(0..3)).expect("write");
    s.prepare_commit(CheckpointId(1)).expect("prepare");
    s.write_batch(&records(3..4)).expect("write");
    drop(s);
    sink(dir, &ctx(0, 1, 2, None));
    assert!(names(dir).is_empty(), "{:?}", names(dir));
}

#[test]
fn a_zombie_of_an_older_generation_never_publishes() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path();
    let mut zombie = sink(dir, &ctx(0, 1, 1, None));
    zombie.write_batch(&records(0..2)).expect("write");
    zombie.prepare_commit(CheckpointId(1)).expect("prepare");
    zombie
        .commit(CheckpointId(1))
        .expect("checkpoint 1 completed");
    // The zombie's node pauses; generation 2 restores checkpoint 1.
    let mut current = sink(dir, &ctx(0, 1, 2, Some((1, 1))));
    // The zombie wakes up and goes on writing and staging.
    zombie.write_batch(&records(100..103)).expect("write");
    zombie.prepare_commit(CheckpointId(2)).expect("prepare");
    current.write_batch(&records(2..4)).expect("write");
    current.prepare_commit(CheckpointId(2)).expect("prepare");
    current.commit(CheckpointId(2)).expect("commit");
    assert_eq!(
        names(dir),
        vec![
            ".staged-ab-g1-c2-p0.jsonl",
            "part-0-ab-g1-c1.jsonl",
            "part-0-ab-g2-c2.jsonl"
        ]
    );
    assert_eq!(read(dir, "part-0-ab-g2-c2.jsonl"), lines(2..4));
    // The next recovery removes the zombie's leftovers.
    sink(dir, &ctx(0, 1, 3, Some((2, 2))));
    assert_eq!(
        names(dir),
        vec!["part-0-ab-g1-c1.jsonl", "part-0-ab-g2-c2.jsonl"]
    );
}

/// A deterministic pseudo-random sequence (xorshift64*).
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// One run of a job with `parallelism` sink partitions, each fed by its own source of ids
/// (`p, p + parallelism, ...` below `total`): barriers at random points, checkpoints that
/// sometimes never complete, commit messages that sometimes get lost, and crashes (every
/// sink dropped mid-interval, a new generation restored from the last complete checkpoint,
/// sources rewound to its positions).
fn run_with_crashes(dir: &Path, seed: u64, parallelism: u32, total: i64) {
    let mut dice = Dice(seed | 1);
    let ids = |q: u32| (i64::from(q)..total).step_by(parallelism as usize);
    let mut generation = 1;
    let mut next_checkpoint = 1;
    // The last complete checkpoint: (id, generation, source positions).
    let mut restored: Option<(u64, u64, Vec<usize>)> = None;
    let build = |generation: u64, restored: &Option<(u64, u64, Vec<usize>)>| {
        (0..parallelism)
            .map(|q| {
                let r = restored.as_ref().map(|(c, g, _)| (*c, *g));
                sink(dir, &ctx(q, parallelism, generation, r))
            })
            .collect::<Vec<_>>()
    };
    let mut sinks = build(generation, &restored);
    let mut positions = vec![0usize; parallelism as usize];
    let lengths: Vec<usize> = (0..parallelism).map(|q| ids(q).count()).collect();
    let mut crashes = 0;
    loop {
        let done = positions.iter().zip(&lengths).all(|(a, b)| a == b);
        match dice.below(10) {
            _ if done => {
                let c = CheckpointId(next_checkpoint);
                for s in &mut sinks {
                    s.prepare_commit(c).expect("final barrier");
                    s.finish().expect("finish");
                }
                for s in &mut sinks {
                    s.commit(c).expect("final commit");
                }
                break;
            }
            0..=5 => {
                let q = dice.below(u64::from(parallelism)) as usize;
                let n = 1 + dice.below(40) as usize;
                let batch: Vec<i64> = ids(q as u32).skip(positions[q]).take(n).collect();
                positions[q] += batch.len();
                sinks[q].write_batch(&records(batch)).expect("write");
            }
            6 | 7 => {
                let c = CheckpointId(next_checkpoint);
                next_checkpoint += 1;
                for s in &mut sinks {
                    s.prepare_commit(c).expect("prepare");
                }
                if dice.below(5) > 0 {
                    restored = Some((c.0, generation, positions.clone()));
                    for s in &mut sinks {
                        if dice.below(10) < 7 {
                            s.commit(c).expect("commit");
                        }
                    }
                }
            }
            _ if crashes < 8 => {
                crashes += 1;
                drop(std::mem::take(&mut sinks));
                generation += 1;
                positions = restored
                    .as_ref()
                    .map_or_else(|| vec![0; parallelism as usize], |(_, _, at)| at.clone());
                sinks = build(generation, &restored);
            }
            _ => {}
        }
    }
}

#[test]
fn crashes_publish_every_record_exactly_once() {
    for seed in 1..=24u64 {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path();
        let parallelism = 1 + (seed % 3) as u32;
        let total = 1500;
        run_with_crashes(dir, seed * 0x9e37_79b9, parallelism, total);
        let mut published = Vec::new();
        for name in names(dir) {
            assert!(!name.starts_with('.'), "seed {seed}: {name} is left behind");
            for line in read(dir, &name).lines() {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
                published.push(v["id"].as_i64().expect("id"));
            }
        }
        published.sort_unstable();
        let expected: Vec<i64> = (0..total).collect();
        assert_eq!(published, expected, "seed {seed}");
    }
}

#[test]
fn recovery_leaves_the_published_files_of_other_runs_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // An earlier run of the same spec (another lineage) left published and hidden files;
    // with mode = "append" its published file stays, its unpublished ones are deleted.
    std::fs::write(dir.join("part-0-cd-g1-c1.jsonl"), lines([1])).expect("write");
    std::fs::write(dir.join(".staged-cd-g1-c2-p0.jsonl"), lines([2])).expect("write");
    std::fs::write(dir.join(".part-0-cd-g1.inprogress"), lines([3])).expect("write");
    let mut s = appending_sink(dir, &ctx(0, 1, 1, None));
    s.write_batch(&records([7])).expect("write");
    s.prepare_commit(CheckpointId(1)).expect("stage");
    s.commit(CheckpointId(1)).expect("commit");
    assert_eq!(
        names(dir),
        vec!["part-0-ab-g1-c1.jsonl", "part-0-cd-g1-c1.jsonl"]
    );
    assert_eq!(read(dir, "part-0-ab-g1-c1.jsonl"), lines([7]));
}

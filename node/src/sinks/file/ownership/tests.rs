use super::*;
use quiver_protocol::{CheckpointId, Generation};

/// The context of a run `run` (lineage 0xab) continuing `continues`, restored from checkpoint
/// `restored` when given.
fn run(run: u64, continues: Option<u64>, restored: Option<u64>) -> SinkContext {
    SinkContext {
        job: format!("job-{run} \"spend\""),
        run,
        continues,
        partition: 0,
        parallelism: 1,
        lineage: 0xab,
        generation: Generation(2),
        exactly_once: true,
        restored: restored.map(|c| (CheckpointId(c), Generation(1))),
        cancelled: Default::default(),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != LOCK)
        .collect();
    names.sort();
    names
}

fn touch(dir: &Path, names: &[&str]) {
    for name in names {
        std::fs::write(dir.join(name), "x\n").unwrap();
    }
}

fn owner_run(dir: &Path) -> u64 {
    read_marker(dir).unwrap().expect("a marker").run
}

#[test]
fn an_empty_folder_or_one_of_other_files_is_claimed() {
    let tmp = tempfile::tempdir().unwrap();
    touch(tmp.path(), &["README.md"]);
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    assert_eq!(owner_run(tmp.path()), 1);
    assert_eq!(files(tmp.path()), vec![MARKER, "README.md"]);
    // The same run again (another partition, a recovery) finds it its own.
    touch(tmp.path(), &["part-0-ab-g1-c1.jsonl"]);
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
}

#[test]
fn another_runs_output_is_refused_by_default_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    touch(
        tmp.path(),
        &["part-0-ab-g1-c1.jsonl", "part-1-ab-g1-c1.jsonl"],
    );
    let e = claim(tmp.path(), "out", OutputMode::Error, &run(2, None, None)).unwrap_err();
    assert!(matches!(e, OperatorError::Config(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("holds the output of job-1 \"spend\" (2 files)")
            && text.contains("mode = \"overwrite\""),
        "{text}"
    );
    assert_eq!(owner_run(tmp.path()), 1);
    assert_eq!(files(tmp.path()).len(), 3);
}

#[test]
fn output_of_an_unmarked_run_is_refused_too() {
    let tmp = tempfile::tempdir().unwrap();
    touch(tmp.path(), &["part-0-0.jsonl"]);
    let e = claim(tmp.path(), "out", OutputMode::Error, &run(2, None, None)).unwrap_err();
    assert!(
        e.to_string()
            .contains("holds the output of a run that did not mark the folder (1 files)"),
        "{e}"
    );
}

#[test]
fn overwrite_deletes_only_the_earlier_output_and_append_keeps_it() {
    let tmp = tempfile::tempdir().unwrap();
    let earlier = [
        "part-0-ab-g1-c1.jsonl",
        ".part-0-ab-g1.inprogress",
        ".staged-ab-g1-c2-p0.jsonl",
    ];
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    touch(tmp.path(), &earlier);
    touch(tmp.path(), &["notes.txt"]);
    claim(tmp.path(), "out", OutputMode::Append, &run(2, None, None)).unwrap();
    assert_eq!(owner_run(tmp.path()), 2);
    assert_eq!(
        files(tmp.path()),
        vec![MARKER, "notes.txt", "part-0-ab-g1-c1.jsonl"],
        "append keeps the published output; what run 1 left unpublished goes"
    );
    claim(
        tmp.path(),
        "out",
        OutputMode::Overwrite,
        &run(3, None, None),
    )
    .unwrap();
    assert_eq!(owner_run(tmp.path()), 3);
    assert_eq!(files(tmp.path()), vec![MARKER, "notes.txt"]);
}

#[test]
fn a_resumed_job_takes_over_the_folder_of_the_run_it_continues() {
    let tmp = tempfile::tempdir().unwrap();
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    // Run 1 published up to checkpoint 4 (the savepoint), staged 5 it never committed.
    touch(
        tmp.path(),
        &[
            "part-0-ab-g1-c3.jsonl",
            "part-0-ab-g1-c4.jsonl",
            ".staged-ab-g1-c5-p0.jsonl",
        ],
    );
    claim(
        tmp.path(),
        "out",
        OutputMode::Error,
        &run(2, Some(1), Some(4)),
    )
    .unwrap();
    assert_eq!(owner_run(tmp.path()), 2);
    // A second resume of the same savepoint finds run 2's folder: another run's output.
    let e = claim(
        tmp.path(),
        "out",
        OutputMode::Error,
        &run(3, Some(1), Some(4)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("holds the output of job-2"), "{e}");
}

#[test]
fn a_resume_refuses_a_folder_whose_output_went_past_its_savepoint() {
    let tmp = tempfile::tempdir().unwrap();
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    touch(
        tmp.path(),
        &["part-0-ab-g1-c4.jsonl", "part-0-ab-g2-c7.jsonl"],
    );
    let e = claim(
        tmp.path(),
        "out",
        OutputMode::Error,
        &run(2, Some(1), Some(4)),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "holds output job-1 \"spend\" published after the savepoint this job resumes from \
             (up to chk-7)"
        ),
        "{e}"
    );
    // Files of another lineage do not count as the continued run's.
    let tmp = tempfile::tempdir().unwrap();
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    touch(tmp.path(), &["part-0-cd-g2-c9.jsonl"]);
    claim(
        tmp.path(),
        "out",
        OutputMode::Error,
        &run(2, Some(1), Some(4)),
    )
    .unwrap();
}

#[test]
fn a_new_owner_deletes_what_an_earlier_run_left_unpublished() {
    let tmp = tempfile::tempdir().unwrap();
    claim(tmp.path(), "out", OutputMode::Error, &run(1, None, None)).unwrap();
    // Run 1 failed before publishing anything.
    touch(
        tmp.path(),
        &[".part-0-0.jsonl.inprogress", ".staged-ab-g1-c2-p0.jsonl"],
    );
    claim(tmp.path(), "out", OutputMode::Error, &run(2, None, None)).unwrap();
    assert_eq!(files(tmp.path()), vec![MARKER]);
    assert!(ensure_owner(tmp.path(), 2).is_ok());
    let e = ensure_owner(tmp.path(), 1).unwrap_err();
    assert!(
        e.to_string().contains(
            "now holds the output of job-2 \"spend\": this run no longer publishes there"
        ),
        "{e}"
    );
}

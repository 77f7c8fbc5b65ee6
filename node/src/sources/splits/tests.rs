//! Splits: how a source's input is cut, which partition reads what, and how saved positions
//! find their splits again.

use super::*;
use crate::sources::file_tests::{spec, write};
use quiver_protocol::spec::{BadRecords, GeneratorSource, Workload};

fn names(splits: &[Split]) -> Vec<String> {
    splits.iter().map(|s| s.id.to_string()).collect()
}

fn files(names: &[&str]) -> Vec<Split> {
    names
        .iter()
        .zip(0..)
        .map(|(name, index)| Split {
            index: SplitIndex(index),
            id: SplitId::File(name.to_string()),
        })
        .collect()
}

#[test]
fn a_file_is_one_split_and_a_folder_one_per_file_of_the_format_in_name_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in [
        "b.csv",
        "a.csv",
        "c.jsonl",
        ".part-1.csv",
        "notes.txt",
        "a.csv.bak",
    ] {
        write(&dir, name, b"user,amount,ts,ok\n");
    }
    std::fs::create_dir(dir.path().join("old.csv")).expect("a folder named like a file");
    let folder = spec(dir.path(), FileFormat::Csv, BadRecords::Fail);
    let all = splits_of(&folder, 2).expect("csv splits");
    assert_eq!(names(&all), ["file \"a.csv\"", "file \"b.csv\""]);
    assert_eq!(all[1].index, SplitIndex(1));
    let jsonl = spec(dir.path(), FileFormat::Jsonl, BadRecords::Fail);
    assert_eq!(
        names(&splits_of(&jsonl, 1).expect("jsonl")),
        ["file \"c.jsonl\""]
    );
    let file = spec(&dir.path().join("b.csv"), FileFormat::Csv, BadRecords::Fail);
    assert_eq!(
        names(&splits_of(&file, 3).expect("one file")),
        ["file \"b.csv\""]
    );
    // The files of a folder open from the folder; a file from its path.
    assert!(open_split(&folder, &all[1]).is_ok());
    assert!(open_split(&file, &splits_of(&file, 1).expect("file")[0]).is_ok());
}

#[test]
fn a_folder_without_files_of_the_format_is_an_error_saying_which_extension() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(&dir, "events.txt", b"user\n");
    let e = splits_of(&spec(dir.path(), FileFormat::Jsonl, BadRecords::Fail), 1)
        .expect_err("no .jsonl file");
    assert_eq!(
        e.to_string(),
        format!(
            "the folder {} holds no *.jsonl files; put the input there, or point the source's \
             path at a file (format = \"jsonl\" reads files ending in .jsonl)",
            dir.path().display()
        )
    );
    assert!(!e.is_transient());
}

#[test]
fn every_split_is_read_by_exactly_one_partition_and_counts_differ_by_one_at_most() {
    let all = files(&["a", "b", "c", "d", "e", "f", "g"]);
    let indices = |p, n| -> Vec<u32> {
        assigned(all.clone(), p, n)
            .iter()
            .map(|s| s.index.0)
            .collect()
    };
    assert_eq!(indices(0, 3), [0, 3, 6]);
    assert_eq!(indices(1, 3), [1, 4]);
    assert_eq!(indices(2, 3), [2, 5]);
    for parallelism in 1..=9 {
        let mut seen: Vec<u32> = (0..parallelism)
            .flat_map(|p| indices(p, parallelism))
            .collect();
        let counts: Vec<usize> = (0..parallelism)
            .map(|p| indices(p, parallelism).len())
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            (0..7).collect::<Vec<_>>(),
            "at parallelism {parallelism}"
        );
        let (min, max) = (counts.iter().min(), counts.iter().max());
        assert!(max.zip(min).is_some_and(|(max, min)| max - min <= 1));
    }
}

#[test]
fn the_generator_has_one_split_per_partition() {
    let generator = SourceSpec {
        kind: SourceKind::Generator(GeneratorSource {
            count: Some(10),
            rate: 0,
            keys: 3,
            seed: 0,
            workload: Workload::W1,
            items: 0,
        }),
        schema: quiver_protocol::spec::generator_schema(Workload::W1),
        ..spec(Path::new("unused"), FileFormat::Csv, BadRecords::Fail)
    };
    let all = splits_of(&generator, 3).expect("splits");
    assert_eq!(names(&assigned(all, 1, 3)), ["generator partition 1 of 3"]);
}

#[test]
fn saved_positions_find_their_splits_by_identity_wherever_they_are_now() {
    let at = |offset| SplitProgress::At(SourcePosition::File { offset, line: 2 });
    let state = |name: &str, progress| SplitState {
        split: SplitId::File(name.to_string()),
        progress,
    };
    // `b` was split 1 when saved and is split 2 now (a file added before it): its position
    // goes with its name. `new` is unknown to the checkpoint: it starts at its beginning.
    let now = files(&["a", "aa", "b", "new"]);
    let saved = vec![
        state("a", at(10)),
        state("b", at(20)),
        state("gone", SplitProgress::Finished),
    ];
    let progress = saved_progress("events", saved, &now).expect("restorable");
    assert_eq!(progress.get(&SplitId::File("b".into())), Some(&at(20)));
    assert_eq!(progress.get(&SplitId::File("new".into())), None);
    let lost = vec![state("a", at(10)), state("gone", at(5))];
    let e = saved_progress("events", lost, &now).expect_err("an unfinished split is gone");
    assert_eq!(
        e.to_string(),
        "source \"events\": the checkpoint holds the position of file \"gone\", which the \
         source does not have any more, so its remaining records would be lost; put it back (a \
         folder's files must stay while a job reads them), or start the job without restoring"
    );
}

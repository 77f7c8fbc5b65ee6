//! The source driver over real files: positions per split across a restore at another
//! parallelism, alignment holding a fast split back, idleness seeing records in flight.

use super::*;
use crate::sources::file_tests::{spec, write};
use quiver_protocol::spec::{BadRecords, FileFormat};
use quiver_protocol::state_schema::StateSchema;
use std::path::Path;

/// A file of `n` records whose users name the file and the record (`a-0`, `a-1`, ...), the
/// event time of record `i` being `i * step` ms.
fn csv(dir: &tempfile::TempDir, name: &str, n: i64, step: i64) {
    let mut text = String::from("user,amount,ts,ok\n");
    for i in 0..n {
        text.push_str(&format!("{name}-{i},1,{},true\n", i * step));
    }
    write(dir, &format!("{name}.csv"), text.as_bytes());
}

/// The folder source; `rate` 1000 per partition makes batches of 10 records.
fn source(folder: &Path, parallelism: u32, max_drift_ms: Option<u64>) -> SourceSpec {
    let mut spec = spec(folder, FileFormat::Csv, BadRecords::Fail);
    if let SourceKind::File(f) = &mut spec.kind {
        f.rate = 1000 * u64::from(parallelism);
    }
    spec.parallelism = parallelism;
    spec.max_drift = max_drift_ms.map(Duration::from_millis);
    spec.idle_timeout = Some(Duration::from_secs(1));
    spec
}

fn open(spec: &SourceSpec, partition: u32, saved: Option<Vec<KeyGroupState>>) -> SourceDriver {
    let saved_as = SavedAs::new(StateSchema {
        kind: "file source".into(),
        key: Vec::new(),
        window: None,
        values: Vec::new(),
    });
    SourceDriver::open(spec, saved_as, partition, spec.parallelism, saved).expect("open")
}

/// One round: every read the driver allows, each taken back in turn. Returns the users of
/// the records emitted and the names of the splits read.
fn round(driver: &mut SourceDriver) -> (Vec<String>, Vec<String>) {
    let now = Instant::now();
    let (mut users, mut read) = (Vec::new(), Vec::new());
    for r in driver.reads(now) {
        read.push(driver.slots[r.slot].split.id.to_string());
        let produced = driver.on_read(r.run(), now).expect("read");
        if !produced.records.is_empty() {
            let column = produced
                .records
                .column(0)
                .as_str()
                .expect("user: a string column");
            users.extend(column.iter().map(str::to_string));
        }
    }
    (users, read)
}

fn rounds(driver: &mut SourceDriver, n: usize) -> Vec<String> {
    (0..n).flat_map(|_| round(driver).0).collect()
}

fn drain(driver: &mut SourceDriver) -> Vec<String> {
    let mut users = Vec::new();
    while !driver.ended() {
        users.extend(round(driver).0);
    }
    users
}

fn all_users(files: &[(&str, i64)]) -> Vec<String> {
    let mut users: Vec<String> = files
        .iter()
        .flat_map(|(name, n)| (0..*n).map(move |i| format!("{name}-{i}")))
        .collect();
    users.sort();
    users
}

/// Reads a folder at parallelism 2 up to a checkpoint (and a little past it, as a failure
/// would lose), then restores the checkpoint at `parallelism`: every record is emitted once
/// over the two runs.
fn restore_at(parallelism: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = [("a", 25), ("b", 3), ("c", 40), ("d", 17), ("e", 31)];
    for (name, n) in files {
        csv(&dir, name, n, 1);
    }
    let before = source(dir.path(), 2, None);
    let mut partitions: Vec<SourceDriver> = (0..2).map(|p| open(&before, p, None)).collect();
    let mut emitted: Vec<String> = partitions.iter_mut().flat_map(|d| rounds(d, 2)).collect();
    assert!(
        emitted.iter().filter(|u| u.starts_with("b-")).count() == 3,
        "b finished before the checkpoint"
    );
    let checkpoint: Vec<KeyGroupState> = partitions
        .iter()
        .flat_map(|d| d.positions().expect("positions"))
        .collect();
    let mut groups: Vec<u32> = checkpoint.iter().map(|p| p.group.0).collect();
    groups.sort();
    assert_eq!(
        groups,
        [0, 1, 2, 3, 4],
        "one piece per split, under its index"
    );
    // Read on past the checkpoint: a failure loses these.
    rounds(&mut partitions[0], 1);
    // `b` finished before the checkpoint: it stays finished (its records are not read again).
    let after = source(dir.path(), parallelism, None);
    for p in 0..parallelism {
        emitted.extend(drain(&mut open(&after, p, Some(checkpoint.clone()))));
    }
    emitted.sort();
    assert_eq!(emitted, all_users(&files));
}

#[test]
fn a_restore_at_a_higher_source_parallelism_reads_every_record_once() {
    restore_at(3);
}

#[test]
fn a_restore_at_a_lower_source_parallelism_reads_every_record_once() {
    restore_at(1);
}

#[test]
fn a_restore_refuses_a_split_whose_file_is_gone_before_it_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    csv(&dir, "a", 30, 1);
    csv(&dir, "b", 30, 1);
    csv(&dir, "c", 5, 1);
    let spec = source(dir.path(), 1, None);
    let mut driver = open(&spec, 0, None);
    rounds(&mut driver, 2);
    let checkpoint = driver.positions().expect("positions");
    // `c` had finished: its file may go (processed files are often removed).
    std::fs::remove_file(dir.path().join("c.csv")).expect("remove c");
    let mut restored = open(&spec, 0, Some(checkpoint.clone()));
    assert_eq!(drain(&mut restored).len(), 20, "the last 10 of a and of b");
    std::fs::remove_file(dir.path().join("a.csv")).expect("remove a");
    let saved_as = driver.saved_as.clone();
    let e = SourceDriver::open(&spec, saved_as, 0, 1, Some(checkpoint))
        .err()
        .expect("a's remaining records would be lost");
    assert!(
        e.to_string()
            .contains("the checkpoint holds the position of file \"a.csv\""),
        "{e}"
    );
}

#[test]
fn a_split_more_than_max_drift_ahead_waits_while_the_slow_split_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Batches of 10: one batch of `fast` spans 9 s of event time, one of `slow` 0.9 s.
    csv(&dir, "fast", 30, 1000);
    csv(&dir, "slow", 200, 100);
    let fast = "file \"fast.csv\"".to_string();
    let slow = "file \"slow.csv\"".to_string();
    let mut aligned = open(&source(dir.path(), 1, Some(100)), 0, None);
    assert_eq!(round(&mut aligned).1, [fast.clone(), slow.clone()]);
    // `fast` is at 8,999 and `slow` at 899: `fast` waits until `slow` reaches 8,899, after
    // its 9th batch (8,900 ms).
    for n in 2..=9 {
        assert_eq!(round(&mut aligned).1, [slow.as_str()], "round {n}");
    }
    assert_eq!(round(&mut aligned).1, [fast.clone(), slow.clone()]);
    let mut unaligned = open(&source(dir.path(), 1, None), 0, None);
    for _ in 0..3 {
        assert_eq!(round(&mut unaligned).1, [fast.clone(), slow.clone()]);
    }
}

#[test]
fn records_read_but_not_yet_taken_keep_their_split_from_going_idle() {
    let dir = tempfile::tempdir().expect("tempdir");
    csv(&dir, "a", 5, 1000);
    csv(&dir, "b", 5, 1000);
    let mut driver = open(&source(dir.path(), 1, None), 0, None);
    let t0 = Instant::now();
    let mut reads = driver.reads(t0);
    let read_b = reads.pop().expect("b");
    let done_a = reads.pop().expect("a").run();
    // `b` is still reading; `a` has its records waiting: only `b` goes idle.
    let later = t0 + Duration::from_secs(10);
    assert_eq!(driver.tick(later), vec![]);
    let produced = driver.on_read(done_a, later).expect("a's batch");
    assert_eq!(
        produced.signals,
        vec![TimeSignal::Watermark(3_999)],
        "b is idle, a alone sets the watermark"
    );
    assert_eq!(
        driver.tick(later + Duration::from_secs(1)),
        vec![TimeSignal::Idle]
    );
    drop(read_b);
}

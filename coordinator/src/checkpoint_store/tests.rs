//! Checkpoint store behaviour on a real sled database in a temporary directory: round trips,
//! completeness, incremental sharing, corruption fallback, retention, restarts.

use super::keys::BlobId;
use super::*;
use crate::store::Store;
use std::io::Write;
use std::sync::Mutex;
use xxhash_rust::xxh3::xxh3_64;

const JOB: JobId = JobId(1);

/// The checkpoint store of a fresh coordinator database in `dir`.
pub(super) fn open(dir: &tempfile::TempDir) -> (Store, CheckpointStore) {
    let store = Store::open(dir.path()).unwrap();
    let checkpoints = CheckpointStore::open(store.db()).unwrap();
    (store, checkpoints)
}

fn manifest(job: JobId, checkpoint: u64, kind: SnapshotKind) -> Manifest {
    Manifest {
        job,
        checkpoint: CheckpointId(checkpoint),
        generation: Generation(2),
        kind,
        completed_at_ms: 1_000 + checkpoint,
        duration_ms: 10 * checkpoint,
        operators: vec![("agg".into(), 4), ("join".into(), 2)],
        max_parallelism: 8,
    }
}

/// `len` (at least 5) bytes, different for every (tag, group): the tag, the group, a pattern.
fn blob(tag: u8, group: u32, len: usize) -> Vec<u8> {
    let mut bytes = vec![tag];
    bytes.extend_from_slice(&group.to_le_bytes());
    bytes.extend((bytes.len()..len).map(|i| (i as u8).wrapping_mul(31)));
    bytes
}

/// Puts `agg` groups 0..8, with group g's bytes from `bytes_of(g)`, and completes.
fn checkpoint_with(
    store: &CheckpointStore,
    checkpoint: u64,
    kind: SnapshotKind,
    bytes_of: impl Fn(u32) -> Vec<u8>,
) {
    for g in 0..8 {
        store
            .put_state(
                JOB,
                CheckpointId(checkpoint),
                "agg",
                KeyGroup(g),
                &bytes_of(g),
            )
            .unwrap();
    }
    store
        .complete(JOB, &manifest(JOB, checkpoint, kind))
        .unwrap();
}

fn ids(store: &CheckpointStore) -> Vec<u64> {
    store
        .list(JOB)
        .unwrap()
        .iter()
        .map(|i| i.checkpoint.0)
        .collect()
}

fn raw_blobs(store: &CheckpointStore) -> &sled::Tree {
    &store.blobs
}

#[test]
fn put_complete_read_back_equals_what_was_put() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let chk = CheckpointId(1);
    for g in 0..4 {
        store
            .put_state(JOB, chk, "agg", KeyGroup(g), &blob(1, g, 100))
            .unwrap();
        store
            .put_state(JOB, chk, "join", KeyGroup(g * 2), &blob(2, g, 50))
            .unwrap();
    }
    // The last put of a key group wins.
    store
        .put_state(JOB, chk, "agg", KeyGroup(3), b"final")
        .unwrap();
    let m = manifest(JOB, 1, SnapshotKind::Checkpoint);
    store.complete(JOB, &m).unwrap();

    let agg = store.read_state(JOB, chk, "agg", 0..8).unwrap();
    let expected: Vec<(KeyGroup, Vec<u8>)> = vec![
        (KeyGroup(0), blob(1, 0, 100)),
        (KeyGroup(1), blob(1, 1, 100)),
        (KeyGroup(2), blob(1, 2, 100)),
        (KeyGroup(3), b"final".to_vec()),
    ];
    assert_eq!(agg, expected);
    let join = store.read_state(JOB, chk, "join", 2..5).unwrap();
    assert_eq!(
        join,
        vec![(KeyGroup(2), blob(2, 1, 50)), (KeyGroup(4), blob(2, 2, 50))]
    );
    assert!(store.read_state(JOB, chk, "ag", 0..8).unwrap().is_empty());
    assert!(store.read_state(JOB, chk, "agg", 4..4).unwrap().is_empty());
    assert_eq!(store.latest_valid(JOB).unwrap(), Some(m.clone()));
    assert_eq!(store.manifest(JOB, chk).unwrap(), Some(m));
    assert_eq!(store.latest_valid(JobId(2)).unwrap(), None);
}

#[test]
fn incomplete_checkpoints_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 10));
    store
        .put_state(JOB, CheckpointId(2), "agg", KeyGroup(0), b"x")
        .unwrap();
    assert_eq!(
        store.latest_valid(JOB).unwrap().unwrap().checkpoint,
        CheckpointId(1)
    );
    assert_eq!(store.manifest(JOB, CheckpointId(2)).unwrap(), None);
    assert_eq!(ids(&store), vec![1]);
}

#[test]
fn completed_checkpoints_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 10));
    let err = store
        .put_state(JOB, CheckpointId(1), "agg", KeyGroup(0), b"late")
        .unwrap_err();
    assert!(
        matches!(err, CheckpointStoreError::AlreadyComplete { .. }),
        "{err}"
    );
    // The same manifest again is fine; another one is refused; so is another job's.
    store
        .complete(JOB, &manifest(JOB, 1, SnapshotKind::Checkpoint))
        .unwrap();
    let other = manifest(JOB, 1, SnapshotKind::Savepoint);
    assert!(store.complete(JOB, &other).is_err());
    let foreign = manifest(JobId(9), 2, SnapshotKind::Checkpoint);
    let err = store.complete(JOB, &foreign).unwrap_err();
    assert!(err.to_string().contains("job-9"), "{err}");
    assert!(store.abort(JOB, CheckpointId(1)).is_err());
    assert_eq!(
        store.read_state(JOB, CheckpointId(1), "agg", 0..1).unwrap()[0].1,
        blob(1, 0, 10)
    );
}

#[test]
fn unchanged_key_groups_add_no_bytes_and_shared_blobs_outlive_their_creator() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let v1 = |g| blob(1, g, 1000);
    // Groups 6 and 7 change in checkpoint 2.
    let v2 = |g| {
        if g < 6 {
            blob(1, g, 1000)
        } else {
            blob(2, g, 1000)
        }
    };
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, v1);
    assert_eq!(store.stored_bytes(JOB).unwrap(), 8000);
    checkpoint_with(&store, 2, SnapshotKind::Checkpoint, v2);
    assert_eq!(store.stored_bytes(JOB).unwrap(), 8000 + 2000);

    let sizes: Vec<(u64, u64)> = store
        .list(JOB)
        .unwrap()
        .iter()
        .map(|i| (i.bytes, i.new_bytes))
        .collect();
    assert_eq!(sizes, vec![(8000, 8000), (8000, 2000)]);

    // Pruning checkpoint 1 frees only its two replaced groups; checkpoint 2 still reads the
    // six blobs checkpoint 1 wrote.
    store.retain(JOB, 1, &[]).unwrap();
    assert_eq!(ids(&store), vec![2]);
    assert_eq!(store.stored_bytes(JOB).unwrap(), 8000);
    let read = store.read_state(JOB, CheckpointId(2), "agg", 0..8).unwrap();
    assert_eq!(
        read,
        (0..8).map(|g| (KeyGroup(g), v2(g))).collect::<Vec<_>>()
    );
    assert!(store
        .read_state(JOB, CheckpointId(1), "agg", 0..8)
        .unwrap()
        .is_empty());

    // Once every group changed and checkpoint 2 is pruned, its blobs are freed too.
    checkpoint_with(&store, 3, SnapshotKind::Checkpoint, |g| blob(3, g, 500));
    store.retain(JOB, 1, &[]).unwrap();
    assert_eq!(store.stored_bytes(JOB).unwrap(), 4000);
}

#[test]
fn equal_key_groups_share_one_blob_and_jobs_do_not_share() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |_| vec![7; 300]);
    assert_eq!(store.stored_bytes(JOB).unwrap(), 300);
    assert_eq!(store.list(JOB).unwrap()[0].bytes, 300);
    let other = JobId(2);
    store
        .put_state(other, CheckpointId(1), "agg", KeyGroup(0), &[7; 300])
        .unwrap();
    assert_eq!(store.stored_bytes(other).unwrap(), 300);
    store.abort(other, CheckpointId(1)).unwrap();
    assert_eq!(store.stored_bytes(other).unwrap(), 0);
    assert_eq!(store.stored_bytes(JOB).unwrap(), 300);
    assert_eq!(
        store.read_state(JOB, CheckpointId(1), "agg", 7..8).unwrap()[0].1,
        vec![7; 300]
    );
}

#[test]
fn abort_frees_only_what_the_aborted_checkpoint_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 100));
    // Checkpoint 2 shares groups 0..4 and writes 4 new ones, then is aborted.
    for g in 0..8 {
        let bytes = if g < 4 {
            blob(1, g, 100)
        } else {
            blob(2, g, 100)
        };
        store
            .put_state(JOB, CheckpointId(2), "agg", KeyGroup(g), &bytes)
            .unwrap();
    }
    assert_eq!(store.stored_bytes(JOB).unwrap(), 1200);
    store.abort(JOB, CheckpointId(2)).unwrap();
    assert_eq!(store.stored_bytes(JOB).unwrap(), 800);
    assert!(store
        .read_state(JOB, CheckpointId(2), "agg", 0..8)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .read_state(JOB, CheckpointId(1), "agg", 0..8)
            .unwrap()
            .len(),
        8
    );
}

/// Applies `damage` to the stored bytes of the blob holding `bytes`.
fn damage_blob(store: &CheckpointStore, bytes: &[u8], damage: impl FnOnce(&mut Vec<u8>)) {
    let id = BlobId {
        hash: xxh3_64(bytes),
        len: bytes.len() as u64,
        slot: 0,
    };
    let tree = raw_blobs(store);
    let mut stored = tree.get(id.data_key(JOB)).unwrap().unwrap().to_vec();
    assert_eq!(stored, bytes, "the blob is stored under its content hash");
    damage(&mut stored);
    tree.insert(id.data_key(JOB), stored).unwrap();
}

/// Writes checkpoints 1 and 2 (group 3 differs), damages checkpoint 2's group 3 and returns
/// what `latest_valid` logged and the error reading that group.
fn fallback_after(damage: impl FnOnce(&mut Vec<u8>)) -> (String, CheckpointStoreError) {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 64));
    let v2 = |g| {
        if g == 3 {
            blob(2, g, 64)
        } else {
            blob(1, g, 64)
        }
    };
    checkpoint_with(&store, 2, SnapshotKind::Checkpoint, v2);
    damage_blob(&store, &v2(3), damage);

    let (latest, log) = capture_logs(|| store.latest_valid(JOB).unwrap());
    assert_eq!(
        latest.unwrap().checkpoint,
        CheckpointId(1),
        "falls back to checkpoint 1"
    );
    assert!(store.manifest(JOB, CheckpointId(2)).is_err());
    assert_eq!(
        store.read_state(JOB, CheckpointId(1), "agg", 3..4).unwrap()[0].1,
        blob(1, 3, 64)
    );
    // Other groups of the damaged checkpoint still read; group 3 does not.
    assert_eq!(
        store
            .read_state(JOB, CheckpointId(2), "agg", 0..3)
            .unwrap()
            .len(),
        3
    );
    let err = store
        .read_state(JOB, CheckpointId(2), "agg", 0..8)
        .unwrap_err();
    assert!(err.is_corruption());
    (log, err)
}

#[test]
fn a_flipped_byte_fails_the_checksum_and_recovery_falls_back() {
    let (log, err) = fallback_after(|bytes| bytes[10] ^= 0x40);
    let id = BlobId {
        hash: xxh3_64(&blob(2, 3, 64)),
        len: 64,
        slot: 0,
    };
    let msg = err.to_string();
    for part in [
        "job-1",
        "chk-2",
        "'agg'",
        "kg3",
        "checksum",
        &id.to_string(),
    ] {
        assert!(msg.contains(part), "{part:?} missing from {msg}");
    }
    for part in [
        "ERROR",
        "chk-2",
        "kg3",
        "checksum",
        "falling back",
        &id.to_string(),
    ] {
        assert!(
            log.contains(part),
            "{part:?} missing from the log line {log}"
        );
    }
}

#[test]
fn a_blob_stored_corrupt_fails_its_checkpoint_instead_of_committing() {
    let dir = tempfile::tempdir().unwrap();
    let (_meta, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 64));
    for g in 0..8 {
        let bytes = if g == 5 {
            blob(2, g, 64)
        } else {
            blob(1, g, 64)
        };
        store
            .put_state(JOB, CheckpointId(2), "agg", KeyGroup(g), &bytes)
            .unwrap();
    }
    // The new blob goes bad between the upload and the manifest (a disk fault).
    damage_blob(&store, &blob(2, 5, 64), |bytes| bytes[7] ^= 0x10);
    let err = store
        .complete(JOB, &manifest(JOB, 2, SnapshotKind::Checkpoint))
        .unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert_eq!(ids(&store), [1], "checkpoint 2 did not complete");
}

#[test]
fn a_truncated_blob_is_detected_and_recovery_falls_back() {
    let (log, err) = fallback_after(|bytes| bytes.truncate(40));
    assert!(
        err.to_string().contains("truncated: 40 of 64 bytes"),
        "{err}"
    );
    assert!(log.contains("truncated"), "{log}");
}

#[test]
fn a_missing_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 64));
    let id = BlobId {
        hash: xxh3_64(&blob(1, 5, 64)),
        len: 64,
        slot: 0,
    };
    raw_blobs(&store).remove(id.data_key(JOB)).unwrap();
    assert_eq!(store.latest_valid(JOB).unwrap(), None);
    let err = store
        .read_state(JOB, CheckpointId(1), "agg", 5..6)
        .unwrap_err();
    assert!(err.to_string().contains("is missing"), "{err}");
}

#[test]
fn a_corrupt_copy_under_the_same_hash_is_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let good = blob(4, 0, 32);
    let id = BlobId {
        hash: xxh3_64(&good),
        len: 32,
        slot: 0,
    };
    // Other bytes already sit where `good` would go (a corrupt copy, or a hash collision).
    raw_blobs(&store)
        .insert(id.data_key(JOB), vec![0u8; 32])
        .unwrap();
    store
        .put_state(JOB, CheckpointId(1), "agg", KeyGroup(0), &good)
        .unwrap();
    store
        .complete(JOB, &manifest(JOB, 1, SnapshotKind::Checkpoint))
        .unwrap();
    assert_eq!(
        store.read_state(JOB, CheckpointId(1), "agg", 0..1).unwrap(),
        vec![(KeyGroup(0), good)]
    );
    assert!(store.latest_valid(JOB).unwrap().is_some());
}

#[test]
fn retention_keeps_the_newest_n_savepoints_and_pinned_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    for chk in 1..=6 {
        if chk == 4 {
            // Started, never completed nor aborted (its coordinator moved on).
            store
                .put_state(JOB, CheckpointId(4), "agg", KeyGroup(0), b"stale")
                .unwrap();
            continue;
        }
        let kind = if chk == 2 {
            SnapshotKind::Savepoint
        } else {
            SnapshotKind::Checkpoint
        };
        checkpoint_with(&store, chk, kind, |g| blob(chk as u8, g, 10));
    }
    // In flight, newer than every complete one.
    store
        .put_state(JOB, CheckpointId(7), "agg", KeyGroup(0), b"in flight")
        .unwrap();

    store.retain(JOB, 2, &[CheckpointId(3)]).unwrap();
    assert_eq!(ids(&store), vec![2, 3, 5, 6]);
    for chk in [2u64, 3, 5, 6] {
        let read = store
            .read_state(JOB, CheckpointId(chk), "agg", 0..8)
            .unwrap();
        assert_eq!(
            read,
            (0..8)
                .map(|g| (KeyGroup(g), blob(chk as u8, g, 10)))
                .collect::<Vec<_>>()
        );
    }
    assert!(store
        .read_state(JOB, CheckpointId(1), "agg", 0..8)
        .unwrap()
        .is_empty());
    assert!(store
        .read_state(JOB, CheckpointId(4), "agg", 0..8)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.read_state(JOB, CheckpointId(7), "agg", 0..1).unwrap()[0].1,
        b"in flight"
    );
    // Four complete snapshots of 8 × 10 bytes plus the in-flight 9 bytes.
    assert_eq!(store.stored_bytes(JOB).unwrap(), 4 * 80 + 9);

    // Unpinned, 3 goes; the savepoint stays even with keep = 0... of checkpoints.
    store.retain(JOB, 0, &[]).unwrap();
    assert_eq!(ids(&store), vec![2]);
    assert_eq!(
        store.latest_valid(JOB).unwrap().unwrap().kind,
        SnapshotKind::Savepoint
    );
}

#[test]
fn list_is_oldest_first_with_kinds_times_and_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 10));
    checkpoint_with(&store, 2, SnapshotKind::Savepoint, |g| blob(1, g, 10));
    // Ids sort numerically, not as decimal strings.
    checkpoint_with(&store, 10, SnapshotKind::Checkpoint, |g| {
        blob(1, g, if g == 0 { 25 } else { 10 })
    });
    let list = store.list(JOB).unwrap();
    let expected = [
        (1, SnapshotKind::Checkpoint, 80, 80),
        (2, SnapshotKind::Savepoint, 80, 0),
        (10, SnapshotKind::Checkpoint, 95, 25),
    ];
    assert_eq!(list.len(), expected.len());
    for (info, (chk, kind, bytes, new_bytes)) in list.iter().zip(expected) {
        assert_eq!(info.checkpoint, CheckpointId(chk));
        assert_eq!(info.kind, kind);
        assert_eq!((info.bytes, info.new_bytes), (bytes, new_bytes));
        assert_eq!(info.completed_at_ms, 1_000 + chk);
        assert_eq!(info.duration_ms, 10 * chk);
        assert_eq!(info.generation, Generation(2));
    }
}

#[test]
fn checkpoints_survive_a_coordinator_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, store) = open(&dir);
        checkpoint_with(&store, 1, SnapshotKind::Checkpoint, |g| blob(1, g, 100));
        checkpoint_with(&store, 2, SnapshotKind::Savepoint, |g| blob(2, g, 100));
    }
    let (_db, store) = open(&dir);
    assert_eq!(ids(&store), vec![1, 2]);
    assert_eq!(
        store.latest_valid(JOB).unwrap(),
        Some(manifest(JOB, 2, SnapshotKind::Savepoint))
    );
    let read = store.read_state(JOB, CheckpointId(1), "agg", 0..8).unwrap();
    assert_eq!(
        read,
        (0..8)
            .map(|g| (KeyGroup(g), blob(1, g, 100)))
            .collect::<Vec<_>>()
    );
    assert_eq!(store.stored_bytes(JOB).unwrap(), 1600);
}

/// A writer into a shared buffer, for capturing log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with its log lines captured.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, log)
}

#[test]
fn the_history_outlives_retention_and_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, store) = open(&dir);
    let total = super::HISTORY_KEPT as u64 + 5;
    for checkpoint in 1..=total {
        checkpoint_with(&store, checkpoint, SnapshotKind::Checkpoint, |g| {
            blob(checkpoint as u8, g, 64)
        });
        store.retain(JOB, 3, &[]).unwrap();
    }
    assert_eq!(ids(&store), vec![total - 2, total - 1, total]);
    let history: Vec<u64> = store
        .history(JOB)
        .unwrap()
        .iter()
        .map(|i| i.checkpoint.0)
        .collect();
    let expected: Vec<u64> = (6..=total).collect();
    assert_eq!(history, expected);
    let last = store.history(JOB).unwrap().pop().unwrap();
    assert_eq!(last, store.list(JOB).unwrap().pop().unwrap());
}

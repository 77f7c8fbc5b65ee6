use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A file on a disk of `capacity` bytes: a write takes what fits and fails once nothing does.
struct SmallDisk {
    data: Vec<u8>,
    capacity: Arc<AtomicUsize>,
    /// Fail every write with this instead.
    broken: Option<ErrorKind>,
}

impl SmallDisk {
    fn new(capacity: usize) -> SmallDisk {
        SmallDisk {
            data: Vec::new(),
            capacity: Arc::new(AtomicUsize::new(capacity)),
            broken: None,
        }
    }
}

impl Write for SmallDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(kind) = self.broken {
            return Err(kind.into());
        }
        let room = self
            .capacity
            .load(Ordering::SeqCst)
            .saturating_sub(self.data.len());
        if room == 0 {
            return Err(ErrorKind::StorageFull.into());
        }
        let n = room.min(buf.len());
        self.data.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Appendable for SmallDisk {
    fn truncate_to(&mut self, len: u64) -> std::io::Result<()> {
        self.data.truncate(len as usize);
        Ok(())
    }
}

fn append(
    disk: &mut SmallDisk,
    len: &mut u64,
    bytes: &[u8],
    cancel: &Cancellation,
) -> std::io::Result<()> {
    append_waiting_for_room(disk, len, bytes, Path::new("part"), cancel)
}

#[test]
fn a_write_into_a_full_disk_waits_and_lands_whole_once_there_is_room() {
    let mut disk = SmallDisk::new(10);
    let mut len = 0;
    append(&mut disk, &mut len, b"head", &Cancellation::default()).expect("fits");
    let capacity = disk.capacity.clone();
    let freed = std::thread::spawn(move || {
        std::thread::sleep(RETRY_EVERY * 3);
        capacity.store(100, Ordering::SeqCst);
    });
    let started = Instant::now();
    let body: Vec<u8> = (0..20).collect();
    append(&mut disk, &mut len, &body, &Cancellation::default()).expect("written once freed");
    freed.join().expect("freer");
    assert!(
        started.elapsed() >= RETRY_EVERY * 3,
        "it waited for the room"
    );
    // The 6 bytes the first attempt wrote in part were cut, not written twice.
    let mut expected = b"head".to_vec();
    expected.extend(&body);
    assert_eq!(disk.data, expected);
    assert_eq!(len, 24);
}

#[test]
fn a_write_waiting_for_room_gives_up_when_cancelled_and_leaves_the_file_as_it_was() {
    let mut disk = SmallDisk::new(6);
    let mut len = 0;
    append(&mut disk, &mut len, b"head", &Cancellation::default()).expect("fits");
    let cancel = Cancellation::default();
    let canceller = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(RETRY_EVERY * 2);
            cancel.cancel();
        })
    };
    let e = append(&mut disk, &mut len, b"does not fit", &cancel).expect_err("cancelled");
    canceller.join().expect("canceller");
    assert_eq!(e.kind(), ErrorKind::StorageFull);
    assert!(e.to_string().contains("cancelled"), "{e}");
    assert_eq!(disk.data, b"head");
    assert_eq!(len, 4);
}

#[test]
fn other_write_errors_fail_at_once() {
    let mut disk = SmallDisk::new(100);
    disk.broken = Some(ErrorKind::PermissionDenied);
    let mut len = 0;
    let e = append(&mut disk, &mut len, b"x", &Cancellation::default()).expect_err("broken");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(len, 0);
}

#[test]
fn full_disks_and_quotas_count_as_full() {
    assert!(is_full(&ErrorKind::StorageFull.into()));
    assert!(is_full(&std::io::Error::from_raw_os_error(28))); // ENOSPC
    assert!(is_full(&std::io::Error::from_raw_os_error(122))); // EDQUOT
    assert!(!is_full(&ErrorKind::PermissionDenied.into()));
}

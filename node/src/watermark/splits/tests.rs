use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn settings(idle_timeout: Option<Duration>, max_drift_ms: Option<i64>) -> TimeSettings {
    TimeSettings {
        lag_ms: 0,
        idle_timeout,
        max_drift_ms,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn the_partition_watermark_is_the_minimum_over_its_splits() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(2, settings(None, None), false, t0);
    assert_eq!(time.records(0, [10_000, 9_000], t0), vec![]);
    assert_eq!(time.watermark(), i64::MIN, "split 1 has no record yet");
    assert_eq!(
        time.records(1, [1_000], t0),
        vec![TimeSignal::Watermark(999)]
    );
    // Split 1's records between its own watermark and split 0's are on time: the partition
    // watermark stays at split 1's.
    assert_eq!(
        time.records(1, [2_000], t0),
        vec![TimeSignal::Watermark(1_999)]
    );
    assert_eq!(time.records(0, [20_000], t0), vec![]);
    assert_eq!(time.watermark(), 1_999);
}

#[test]
fn finished_splits_count_as_infinity_and_the_last_says_nothing() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(3, settings(None, None), false, t0);
    time.records(0, [5_000], t0);
    time.records(1, [3_000], t0);
    time.records(2, [4_000], t0);
    assert_eq!(time.watermark(), 2_999);
    assert_eq!(time.finished(1), vec![TimeSignal::Watermark(3_999)]);
    assert_eq!(time.finished(2), vec![TimeSignal::Watermark(4_999)]);
    assert!(!time.all_finished());
    assert_eq!(
        time.finished(0),
        vec![],
        "the partition's end is the runtime's"
    );
    assert!(time.all_finished());
    assert!(SplitTimes::new(0, settings(None, None), false, t0).all_finished());
}

#[test]
fn a_quiet_split_stops_holding_the_watermark_back_and_rejoins_when_records_come() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(2, settings(Some(SECOND), None), false, t0);
    time.records(0, [5_000], t0);
    time.records(1, [100], t0);
    assert_eq!(time.watermark(), 99);
    assert_eq!(
        time.tick(t0 + ms(999), |_| false),
        vec![],
        "not quiet long enough"
    );
    time.records(0, [6_000], t0 + ms(900));
    assert_eq!(time.watermark(), 99, "split 1 holds it back");
    // Split 1 has been quiet for the timeout: left out.
    assert_eq!(
        time.tick(t0 + SECOND, |_| false),
        vec![TimeSignal::Watermark(5_999)]
    );
    // Split 0 goes quiet too: the whole partition is idle, said once.
    assert_eq!(time.tick(t0 + ms(1_900), |_| false), vec![TimeSignal::Idle]);
    assert_eq!(time.tick(t0 + ms(5_000), |_| false), vec![]);
    // Split 1's records come back: the partition speaks again with its watermark, which split
    // 1, behind it, does not pull back.
    assert_eq!(
        time.records(1, [200], t0 + ms(5_000)),
        vec![TimeSignal::Watermark(5_999)]
    );
    assert_eq!(
        time.records(0, [7_000], t0 + ms(5_001)),
        vec![TimeSignal::Watermark(6_999)]
    );
    // Split 1 catches up and counts again.
    assert_eq!(time.records(1, [8_000], t0 + ms(5_002)), vec![]);
    assert_eq!(
        time.records(0, [9_000], t0 + ms(5_003)),
        vec![TimeSignal::Watermark(7_999)]
    );
}

#[test]
fn a_split_with_records_waiting_to_be_taken_is_not_idle() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(2, settings(Some(SECOND), None), false, t0);
    time.records(0, [5_000], t0);
    time.records(1, [100], t0);
    assert_eq!(time.tick(t0 + ms(1_500), |split| split == 1), vec![]);
    assert_eq!(time.watermark(), 99, "split 1 still counts");
}

#[test]
fn idle_timeouts_start_when_reading_starts() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(Some(SECOND), None), false, t0);
    time.start(t0 + 10 * SECOND);
    assert_eq!(time.tick(t0 + ms(10_999), |_| false), vec![]);
    assert_eq!(
        time.tick(t0 + 11 * SECOND, |_| false),
        vec![TimeSignal::Idle]
    );
}

#[test]
fn without_idle_timeout_no_split_goes_idle() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(None, None), false, t0);
    assert_eq!(time.tick(t0 + Duration::from_secs(3600), |_| false), vec![]);
}

#[test]
fn a_split_more_than_max_drift_ahead_of_the_slowest_waits_until_it_catches_up() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(2, settings(None, Some(1_000)), false, t0);
    time.records(0, [10_000], t0);
    assert_eq!(
        time.may_read(t0),
        vec![false, true],
        "split 1, without a record yet, is the slowest"
    );
    time.records(1, [1_000], t0);
    assert_eq!(time.may_read(t0), vec![false, true]);
    time.records(1, [8_999], t0);
    assert_eq!(
        time.may_read(t0),
        vec![false, true],
        "9,999 > 8,998 + 1,000"
    );
    time.records(1, [9_000], t0);
    assert_eq!(time.may_read(t0), vec![true, true], "9,999 ≤ 8,999 + 1,000");
    assert_eq!(time.alignment_watermark(), 8_999);
    let mut unaligned = SplitTimes::new(2, settings(None, None), false, t0);
    unaligned.records(0, [10_000], t0);
    assert_eq!(unaligned.may_read(t0), vec![true, true]);
}

#[test]
fn idle_and_finished_splits_hold_no_split_back() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(3, settings(Some(SECOND), Some(1_000)), false, t0);
    time.records(0, [10_000], t0 + SECOND);
    time.records(1, [1_000], t0 + SECOND);
    time.finished(2);
    assert_eq!(time.may_read(t0 + SECOND), vec![false, true, false]);
    assert_eq!(
        time.tick(t0 + ms(2_000), |_| false),
        vec![TimeSignal::Watermark(9_999)]
    );
    assert_eq!(
        time.may_read(t0 + ms(2_000)),
        vec![true, true, false],
        "idle split 1 still reads, and holds nothing back"
    );
    assert_eq!(time.alignment_watermark(), 9_999);
}

#[test]
fn a_split_waiting_ahead_does_not_go_idle_and_its_timeout_starts_when_it_may_read() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(2, settings(Some(SECOND), Some(1_000)), false, t0);
    time.records(0, [10_000], t0);
    time.records(1, [1_000], t0);
    assert_eq!(time.may_read(t0), vec![false, true]);
    time.records(1, [9_500], t0 + ms(5_000));
    assert_eq!(
        time.tick(t0 + ms(5_000), |_| false),
        vec![],
        "split 0 waits, not idle"
    );
    assert_eq!(time.may_read(t0 + ms(5_000)), vec![true, true]);
    assert_eq!(time.tick(t0 + ms(5_999), |_| false), vec![]);
    time.records(1, [12_000], t0 + ms(5_999));
    assert_eq!(time.watermark(), 9_999, "split 0 holds it");
    assert_eq!(
        time.tick(t0 + ms(6_000), |_| false),
        vec![TimeSignal::Watermark(11_999)],
        "split 0's timeout started when it could read again"
    );
}

#[test]
fn the_slowest_of_the_other_partitions_holds_a_split_back() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(None, Some(1_000)), true, t0);
    assert_eq!(
        time.may_read(t0),
        vec![true],
        "no record yet: the slowest itself"
    );
    time.records(0, [10_000], t0);
    assert_eq!(
        time.may_read(t0),
        vec![false],
        "until reported, the others are at −∞"
    );
    time.set_slowest_elsewhere(8_000);
    assert_eq!(time.may_read(t0), vec![false]);
    time.set_slowest_elsewhere(8_999);
    assert_eq!(time.may_read(t0), vec![true]);
    assert_eq!(
        time.alignment_watermark(),
        9_999,
        "its own slowest split only"
    );
    let mut alone = SplitTimes::new(1, settings(None, Some(1_000)), false, t0);
    alone.records(0, [10_000], t0);
    alone.set_slowest_elsewhere(0);
    assert_eq!(
        alone.may_read(t0),
        vec![true],
        "no other partitions to wait for"
    );
}

#[test]
fn with_every_partition_on_its_node_a_split_waits_only_for_those_beside() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(None, Some(1_000)), true, t0)
        .in_step(1_000)
        .all_partitions_here();
    time.records(0, [10_000], t0);
    time.set_slowest_beside(8_999);
    assert_eq!(
        time.may_read(t0),
        vec![true],
        "no relayed report awaited: the partitions beside are all the others"
    );
    time.set_slowest_elsewhere(0);
    assert_eq!(time.may_read(t0), vec![true], "a relayed report is ignored");
    time.set_slowest_beside(8_000);
    assert_eq!(time.may_read(t0), vec![false], "9,999 > 8,000 + 1,000");
}

#[test]
fn in_step_a_split_more_than_the_drift_ahead_of_the_partitions_beside_waits() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(None, None), true, t0).in_step(1_000);
    assert_eq!(time.slowest_beside(), Some(i64::MIN));
    assert_eq!(time.may_read(t0), vec![true], "no record yet: at −∞ itself");
    time.records(0, [5_000], t0);
    assert_eq!(
        time.may_read(t0),
        vec![false],
        "the others have not read yet"
    );
    assert!(time.any_ahead());
    time.set_slowest_beside(3_998);
    assert_eq!(time.may_read(t0), vec![false], "4,999 > 3,998 + 1,000");
    time.set_slowest_beside(3_999);
    assert_eq!(time.may_read(t0), vec![true], "4,999 ≤ 3,999 + 1,000");
    assert!(!time.any_ahead());
    time.set_slowest_beside(i64::MAX);
    time.records(0, [1_000_000], t0);
    assert_eq!(time.may_read(t0), vec![true], "the others finished");
}

#[test]
fn without_in_step_the_partitions_beside_are_ignored() {
    let t0 = Instant::now();
    let mut time = SplitTimes::new(1, settings(None, None), true, t0);
    time.set_slowest_beside(0);
    time.records(0, [1_000_000], t0);
    assert_eq!(time.slowest_beside(), None);
    assert_eq!(time.may_read(t0), vec![true]);
}

use super::*;

#[test]
fn generator_is_max_minus_lag_minus_one() {
    let mut g = WatermarkGenerator::new(1000);
    assert_eq!(g.watermark(), None);
    g.observe(5000);
    assert_eq!(g.watermark(), Some(3999));
    g.observe(4000); // out of order: the maximum stays
    assert_eq!(g.watermark(), Some(3999));
    g.observe(7000);
    assert_eq!(g.watermark(), Some(5999));
    let mut zero = WatermarkGenerator::new(0);
    zero.observe(10);
    assert_eq!(zero.watermark(), Some(9));
}

#[test]
fn combined_is_the_minimum_and_only_advances() {
    let mut t = WatermarkTracker::new(2);
    assert_eq!(t.update(0, 10), None);
    assert_eq!(t.update(1, 5), Some(5));
    assert_eq!(t.update(1, 20), Some(10));
    assert_eq!(t.update(0, 8), None, "an input's watermark never goes back");
    assert_eq!(t.update(0, 15), Some(15));
    assert_eq!(t.current(), 15);
}

#[test]
fn idle_inputs_do_not_stall_and_all_idle_does_not_advance() {
    let mut t = WatermarkTracker::new(3);
    t.update(0, 100);
    t.update(1, 50);
    assert_eq!(t.set_idle(2), Some(50));
    assert_eq!(t.set_idle(1), Some(100));
    assert_eq!(t.set_idle(0), None, "all idle: nothing advances");
    assert_eq!(t.current(), 100);
    // Input 1 comes back behind the combined watermark: left out until it catches up.
    assert_eq!(t.update(1, 60), None);
    assert_eq!(
        t.update(0, 200),
        Some(200),
        "input 1, behind, holds nothing back"
    );
    assert_eq!(t.update(1, 150), None, "still behind");
    assert_eq!(t.update(1, 250), None, "caught up: counts from now on");
    assert_eq!(t.update(0, 400), Some(250), "input 1 is the minimum now");
    assert_eq!(t.update(2, 120), None, "input 2 back, behind");
    assert_eq!(t.update(1, 500), Some(400));
}

#[test]
fn ended_inputs_are_infinity() {
    let mut t = WatermarkTracker::new(2);
    t.update(0, 10);
    t.update(1, 20);
    assert_eq!(t.current(), 10);
    assert_eq!(t.end(0), Some(20));
    assert!(!t.all_ended());
    assert_eq!(t.update(0, 1000), None, "an ended input stays ended");
    assert_eq!(t.end(1), Some(i64::MAX));
    assert!(t.all_ended());
}

#[test]
fn idle_and_ended_without_active_does_not_advance() {
    let mut t = WatermarkTracker::new(2);
    t.update(0, 10);
    t.update(1, 20);
    assert_eq!(t.set_idle(1), None, "input 0 is still at 10");
    assert_eq!(t.end(0), None, "input 1 is idle, not ended: no +infinity");
    assert_eq!(t.update(1, 30), Some(30));
    assert_eq!(t.update(7, 40), None, "unknown input ignored");
}

#[test]
fn generator_at_the_event_time_bounds_and_the_ends_of_i64_saturates() {
    // The valid event times are ±8.64e15 ms; the longest lag is 100,000 days.
    let (lo, hi, longest) = (
        -8_640_000_000_000_000_i64,
        8_640_000_000_000_000_i64,
        8_640_000_000_000_i64,
    );
    let watermark = |lag: i64, times: &[i64]| {
        let mut g = WatermarkGenerator::new(lag);
        times.iter().for_each(|&t| g.observe(t));
        g.watermark()
    };
    assert_eq!(watermark(0, &[lo]), Some(lo - 1));
    assert_eq!(watermark(longest, &[lo]), Some(-8_648_640_000_000_001));
    assert_eq!(watermark(longest, &[hi, lo]), Some(8_631_359_999_999_999));
    // Outside the valid range (sources never emit these) it saturates, never wraps.
    assert_eq!(watermark(0, &[i64::MIN]), Some(i64::MIN));
    assert_eq!(watermark(longest, &[i64::MIN + 5]), Some(i64::MIN));
    assert_eq!(watermark(0, &[i64::MAX]), Some(i64::MAX - 1));
    assert_eq!(watermark(i64::MAX, &[i64::MIN, i64::MAX]), Some(-1));
    assert_eq!(watermark(i64::MAX, &[0]), Some(i64::MIN));
    assert_eq!(watermark(-5, &[10]), Some(9), "a negative lag counts as 0");
}

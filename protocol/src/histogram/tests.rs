use super::*;

fn of(values: &[u64]) -> Histogram {
    let mut h = Histogram::default();
    for &v in values {
        h.observe_us(v);
    }
    h
}

#[test]
fn a_value_falls_in_the_first_bucket_whose_bound_is_not_below_it() {
    assert_eq!(bucket_of(0), 0);
    assert_eq!(bucket_of(50), 0);
    assert_eq!(bucket_of(51), 1);
    assert_eq!(bucket_of(70), 1);
    assert_eq!(bucket_of(10_000), 14);
    assert_eq!(bucket_of(10_001), 15);
    assert_eq!(bucket_of(10_000_000), 32);
    assert_eq!(bucket_of(10_000_001), BUCKETS - 1);
    assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    assert!(BOUNDS_US
        .windows(2)
        .all(|w| w[0] < w[1] && w[1] * 3 <= w[0] * 5));
}

#[test]
fn observations_are_counted_summed_and_their_maximum_kept() {
    let h = of(&[40, 60, 100, 100, 5_000, 20_000_000]);
    let mut expected = vec![0u64; BUCKETS];
    expected[0] = 1;
    expected[1] = 1;
    expected[2] = 2;
    expected[12] = 1;
    expected[BUCKETS - 1] = 1;
    assert_eq!(h.counts, expected);
    assert_eq!(h.count(), 6);
    assert_eq!(h.sum_us, 40 + 60 + 200 + 5_000 + 20_000_000);
    assert_eq!(h.max_us, 20_000_000);
}

#[test]
fn merging_equals_observing_everything_in_one() {
    let (a, b) = (&[10, 700, 700, 3_000][..], &[1, 2_500_000, 12_000][..]);
    let mut merged = of(a);
    merged.merge(&of(b));
    merged.merge(&Histogram::default());
    let all: Vec<u64> = a.iter().chain(b).copied().collect();
    assert_eq!(merged, of(&all));
    let mut empty = Histogram::default();
    empty.merge(&of(b));
    assert_eq!(empty, of(b));
}

#[test]
fn a_report_with_too_many_buckets_merges_its_excess_into_the_overflow() {
    let forged = Histogram {
        counts: vec![1; BUCKETS + 3],
        sum_us: 5,
        max_us: 9,
    };
    let mut h = Histogram::default();
    h.merge(&forged);
    assert_eq!(h.counts.len(), BUCKETS);
    assert_eq!(h.counts[BUCKETS - 1], 4);
    assert_eq!(h.count(), (BUCKETS + 3) as u64);
}

#[test]
fn quantiles_interpolate_within_the_bucket_holding_the_rank() {
    // Four at most 50 µs, four in (1000, 1500], two in (5000, 7000].
    let h = of(&[10, 20, 30, 40, 1_200, 1_200, 1_200, 1_200, 6_000, 6_500]);
    // p50: rank 5, the first of four in (1000, 1500]: 1000 + 500 × 1/4.
    assert_eq!(h.quantile_us(0.5), Some(1_125.0));
    // p90: rank 9, the first of two in (5000, 7000]: 5000 + 2000 × 1/2.
    assert_eq!(h.quantile_us(0.9), Some(6_000.0));
    // p99: rank 9.9 would be 5000 + 2000 × 0.95 = 6900, above the largest seen.
    assert_eq!(h.quantile_us(0.99), Some(6_500.0));
    // p20: rank 2 of four in [0, 50]: 50 × 2/4.
    assert_eq!(h.quantile_us(0.2), Some(25.0));
    assert_eq!(Histogram::default().quantile_us(0.5), None);
    // Ranks in the overflow bucket are the largest observation.
    assert_eq!(of(&[20_000_000]).quantile_us(0.5), Some(20_000_000.0));
}

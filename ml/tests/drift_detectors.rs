//! Drift detectors against River's flagged indices (`reference/gen_drift.py`), PSI
//! against hand-computed values, false-alarm bounds on stationary streams, and the
//! rejection of NaN and infinite values.

use proptest::prelude::*;
use quiver_ml::drift::{
    histogram, population_stability_index, quantile_edges, Adwin, AdwinConfig, DriftDetector,
    DriftError, Kswin, KswinConfig, PageHinkley, PageHinkleyConfig,
};
use quiver_ml::finite::Position;
use quiver_ml::NonFinite;
use serde_json::Value;

const EXPECTED: &str = include_str!("reference/drift_expected.json");

fn flagged(detector: &mut dyn DriftDetector, values: &[f64]) -> Vec<u64> {
    let mut out = Vec::new();
    for (i, &x) in values.iter().enumerate() {
        if detector.update(x).expect("finite") {
            out.push(i as u64);
        }
        assert_eq!(detector.drift_detected(), out.last() == Some(&(i as u64)));
    }
    out
}

fn check_against_river(name: &str, make: impl Fn() -> Box<dyn DriftDetector>) {
    let expected: Value = serde_json::from_str(EXPECTED).expect("committed JSON parses");
    let streams = expected["streams"].as_object().expect("streams object");
    for (stream, data) in streams {
        let values: Vec<f64> = data["values"]
            .as_array()
            .expect("values")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let river: Vec<u64> = data[name]
            .as_array()
            .expect("indices")
            .iter()
            .filter_map(Value::as_u64)
            .collect();
        assert!(!river.is_empty(), "River flags the change on {stream}");
        let ours = flagged(make().as_mut(), &values);
        assert_eq!(ours, river, "{name} on {stream}");
    }
}

#[test]
fn adwin_flags_the_same_indices_as_river() {
    check_against_river("adwin", || {
        Box::new(Adwin::new(AdwinConfig::default()).expect("defaults are valid"))
    });
}

#[test]
fn page_hinkley_flags_the_same_indices_as_river() {
    check_against_river("page_hinkley", || {
        Box::new(PageHinkley::new(PageHinkleyConfig::default()).expect("defaults are valid"))
    });
}

#[test]
fn kswin_flags_the_same_indices_as_river() {
    check_against_river("kswin", || {
        Box::new(Kswin::new(KswinConfig::default()).expect("defaults are valid"))
    });
}

#[test]
fn bad_parameters_are_named() {
    let e = Adwin::new(AdwinConfig {
        delta: 1.5,
        ..AdwinConfig::default()
    });
    assert!(matches!(e, Err(DriftError::BadParam { name: "delta", .. })));
    let e = Kswin::new(KswinConfig {
        window_size: 50,
        stat_size: 30,
        ..KswinConfig::default()
    });
    assert!(matches!(
        e,
        Err(DriftError::BadParam {
            name: "window_size",
            ..
        })
    ));
    let e = PageHinkley::new(PageHinkleyConfig {
        threshold: 0.0,
        ..PageHinkleyConfig::default()
    });
    assert!(matches!(
        e,
        Err(DriftError::BadParam {
            name: "threshold",
            ..
        })
    ));
}

#[test]
fn psi_by_hand() {
    // shares r = [0.5, 0.5], c = [0.8, 0.2]
    let expected = (0.8 - 0.5) * (0.8f64 / 0.5).ln() + (0.2 - 0.5) * (0.2f64 / 0.5).ln();
    let got = population_stability_index(&[50.0, 50.0], &[8.0, 2.0]).expect("valid");
    assert!((got - expected).abs() < 1e-12);
    assert_eq!(
        population_stability_index(&[1.0, 3.0], &[2.0, 6.0]),
        Ok(0.0)
    );
    // an empty current bin counts as a 1e-4 share
    let got = population_stability_index(&[1.0, 1.0], &[0.0, 5.0]).expect("valid");
    let expected = (1e-4 - 0.5) * (1e-4f64 / 0.5).ln() + (1.0 - 0.5) * (1.0f64 / 0.5).ln();
    assert!((got - expected).abs() < 1e-12);
    assert!(population_stability_index(&[1.0], &[1.0, 2.0]).is_err());
    assert!(population_stability_index(&[0.0, 0.0], &[1.0, 2.0]).is_err());
    assert!(population_stability_index(&[-1.0, 2.0], &[1.0, 2.0]).is_err());
}

#[test]
fn quantile_edges_split_the_reference_evenly() {
    let reference: Vec<f64> = (0..=100).map(f64::from).collect();
    let edges = quantile_edges(&reference, 4).expect("valid");
    assert_eq!(edges, vec![25.0, 50.0, 75.0]);
    let counts = histogram(&reference, &edges).expect("finite");
    assert_eq!(counts, vec![26.0, 25.0, 25.0, 25.0]);
    assert!(quantile_edges(&[], 4).is_err());
}

/// A small deterministic generator for stationary test streams.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (self.next_f64().max(1e-300), self.next_f64());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// ADWIN's bound: a false cut has probability below delta per test, so a
    /// stationary stream of 3,000 values (about 90 tests) almost never alarms.
    #[test]
    fn adwin_is_quiet_on_a_stationary_stream(seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let mut adwin = Adwin::new(AdwinConfig::default()).expect("defaults are valid");
        let alarms = (0..3000).filter(|_| adwin.update(rng.gauss()).unwrap()).count();
        prop_assert!(alarms <= 1, "{alarms} false alarms");
    }

    /// Page-Hinkley with threshold 50 does not alarm on 3,000 unit-variance values
    /// whose mean never moves.
    #[test]
    fn page_hinkley_is_quiet_on_a_stationary_stream(seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let mut ph = PageHinkley::new(PageHinkleyConfig::default()).expect("defaults are valid");
        let alarms = (0..3000).filter(|_| ph.update(0.2 * rng.gauss()).unwrap()).count();
        prop_assert_eq!(alarms, 0);
    }

    /// Each KSWIN test alarms with probability at most alpha on a stationary stream;
    /// over 5,000 tests the alarm rate stays within twice alpha.
    #[test]
    fn kswin_alarm_rate_stays_within_alpha(seed in any::<u64>()) {
        let mut rng = SplitMix(seed);
        let config = KswinConfig { seed: seed % 1000, ..KswinConfig::default() };
        let mut kswin = Kswin::new(config).expect("valid");
        let alarms = (0..5000).filter(|_| kswin.update(rng.gauss()).unwrap()).count();
        // at most 4,901 tests are run (the window fills at the 100th value)
        prop_assert!((alarms as f64) <= 2.0 * config.alpha * 4901.0, "{alarms} alarms");
    }
}

/// The three non-finite values every detector must reject.
const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

fn rejects_at(result: Result<impl std::fmt::Debug, DriftError>, at: Position) -> bool {
    matches!(result, Err(DriftError::NonFinite(NonFinite { at: a, .. })) if a == at)
}

/// Feeds `stream`, then each non-finite value (rejected, the detector unchanged), then the
/// stream again: the detector flags what a twin fed the finite values only flags.
fn rejects_non_finite<D: DriftDetector + Clone + PartialEq + std::fmt::Debug>(
    make: impl Fn() -> D,
) {
    let stream: Vec<f64> = (0..400)
        .map(|i| if i < 200 { 0.0 } else { 5.0 } + f64::from(i % 7) * 0.1)
        .collect();
    let (mut detector, mut twin) = (make(), make());
    for &x in &stream[..250] {
        detector.update(x).unwrap();
        twin.update(x).unwrap();
    }
    for bad in NON_FINITE {
        let before = detector.clone();
        assert!(rejects_at(detector.update(bad), Position::Value));
        assert_eq!(detector, before, "a rejected value changed the detector");
    }
    for &x in &stream[250..] {
        assert_eq!(detector.update(x).unwrap(), twin.update(x).unwrap());
    }
}

#[test]
fn detectors_reject_non_finite_values_and_keep_their_state() {
    rejects_non_finite(|| Adwin::new(AdwinConfig::default()).unwrap());
    rejects_non_finite(|| PageHinkley::new(PageHinkleyConfig::default()).unwrap());
    rejects_non_finite(|| Kswin::new(KswinConfig::default()).unwrap());
}

#[test]
fn psi_helpers_reject_non_finite_values() {
    for bad in NON_FINITE {
        let at = |name, index| Position::Argument {
            name,
            index,
            entry: None,
        };
        assert!(rejects_at(
            quantile_edges(&[1.0, 2.0, bad, 4.0], 2),
            at("reference", 2)
        ));
        assert!(rejects_at(histogram(&[1.0, bad], &[1.5]), at("values", 1)));
        assert!(rejects_at(histogram(&[1.0], &[0.5, bad]), at("edges", 1)));
    }
}

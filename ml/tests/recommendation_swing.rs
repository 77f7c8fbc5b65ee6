//! Swing against Flink ML's `SwingTest` scores.

use quiver_ml::recommendation::{Swing, SwingParams};

/// Flink's SwingTest input rows (user, item).
const PURCHASES: [(u64, u64); 15] = [
    (0, 10),
    (0, 11),
    (0, 12),
    (1, 13),
    (1, 12),
    (2, 10),
    (2, 11),
    (2, 12),
    (3, 13),
    (3, 12),
    (4, 12),
    (4, 10),
    (4, 11),
    (4, 12),
    (4, 13),
];

#[test]
fn swing_scores_match_flink_ml_test_transform() {
    let swing = Swing {
        params: SwingParams {
            min_user_behavior: 2,
            max_user_behavior: 3,
            ..SwingParams::default()
        },
    };
    let got = swing.similarities(&PURCHASES).expect("valid");
    let a = 0.058845768947156235;
    let b = 0.09134833828228624;
    let expected: Vec<(u64, Vec<(u64, f64)>)> = vec![
        (10, vec![(11, a), (12, a)]),
        (11, vec![(10, a), (12, a)]),
        (12, vec![(13, b), (10, a), (11, a)]),
        (13, vec![(12, b)]),
    ];
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (row, (e_item, e_sims)) in got.iter().zip(&expected) {
        assert_eq!(row.item, *e_item);
        assert_eq!(row.similar.len(), e_sims.len(), "{got:?}");
        for ((i, s), (ei, es)) in row.similar.iter().zip(e_sims) {
            assert_eq!(i, ei, "{got:?}");
            assert!((s - es).abs() < 1e-12, "{s} vs {es}");
        }
    }
}

#[test]
fn swing_defaults_and_validation_follow_flink_ml() {
    let p = SwingParams::default();
    assert_eq!((p.k, p.max_user_num_per_item), (100, 1000));
    assert_eq!((p.min_user_behavior, p.max_user_behavior), (10, 1000));
    assert_eq!((p.alpha1, p.alpha2, p.beta), (15, 0, 0.3));
    // Flink: Swing.class.getName().hashCode()
    let name: Vec<u16> = "org.apache.flink.ml.recommendation.swing.Swing"
        .encode_utf16()
        .collect();
    let hash = name
        .iter()
        .fold(0i32, |h, &c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    assert_eq!(p.seed, i64::from(hash));
    let bad = Swing {
        params: SwingParams {
            min_user_behavior: 5,
            max_user_behavior: 3,
            ..SwingParams::default()
        },
    };
    assert!(bad.similarities(&PURCHASES).is_err());
}

#[test]
fn swing_sampling_depends_on_the_seed_as_in_flink_ml_test_sampling_method() {
    let run = |seed: Option<i64>| {
        let mut params = SwingParams {
            min_user_behavior: 1,
            max_user_num_per_item: 2,
            ..SwingParams::default()
        };
        if let Some(s) = seed {
            params.seed = s;
        }
        Swing { params }
            .similarities(&PURCHASES)
            .expect("valid")
            .len()
    };
    assert_ne!(run(Some(3)), run(None));
}

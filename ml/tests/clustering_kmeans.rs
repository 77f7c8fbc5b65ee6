//! KMeans and OnlineKMeans against Flink ML's `KMeansTest` / `OnlineKMeansTest`
//! numbers, the Lloyd invariant (the k-means cost never increases), the rejection of NaN and
//! infinite points, and distances that stay comparable at extreme scales.

use proptest::prelude::*;
use quiver_ml::clustering::{
    lloyd_step, KMeans, KMeansModel, KMeansParams, OnlineKMeans, OnlineKMeansParams,
};
use quiver_ml::finite::Position;
use quiver_ml::{
    Column, Estimator, Features, Frame, MlError, NonFinite, OnlineModel, Persist, Transformer,
    Vector,
};

fn dense(points: &[[f64; 2]]) -> Vec<Vec<f64>> {
    points.iter().map(|p| p.to_vec()).collect()
}

fn sorted_by_x(mut centroids: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    centroids.sort_by(|a, b| a[0].total_cmp(&b[0]));
    centroids
}

fn assert_close(got: &[Vec<f64>], expected: &[[f64; 2]]) {
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (g, e) in got.iter().zip(expected) {
        for (a, b) in g.iter().zip(e) {
            assert!((a - b).abs() < 1e-5, "{got:?} vs {expected:?}");
        }
    }
}

const FLINK_DATA: [[f64; 2]; 6] = [
    [0.0, 0.0],
    [0.0, 0.3],
    [0.3, 0.0],
    [9.0, 0.0],
    [9.0, 0.6],
    [9.6, 0.0],
];

/// Flink's `KMeansTest` data times `scale` fits, for every seed, Flink's centroids times
/// `scale`, 3 points each.
fn assert_flink_centroids_at_scale(scale: f64) {
    let points: Vec<Vec<f64>> = FLINK_DATA
        .iter()
        .map(|p| p.iter().map(|x| x * scale).collect())
        .collect();
    for seed in 0..20 {
        let kmeans = KMeans {
            params: KMeansParams {
                k: 2,
                max_iter: 2,
                seed,
                ..KMeansParams::default()
            },
        };
        let model = kmeans.fit_points(&points).expect("fits");
        let unscaled: Vec<Vec<f64>> = sorted_by_x(model.centroids.clone())
            .iter()
            .map(|c| c.iter().map(|x| x / scale).collect())
            .collect();
        assert_close(&unscaled, &[[0.1, 0.1], [9.2, 0.2]]);
        assert_eq!(
            model.weights,
            vec![3.0, 3.0],
            "scale {scale:e}, seed {seed}"
        );
    }
}

#[test]
fn kmeans_centroids_match_flink_ml_test_get_model_data() {
    assert_flink_centroids_at_scale(1.0);
}

#[test]
fn kmeans_with_fewer_distinct_points_than_k_gives_one_cluster() {
    let kmeans = KMeans::default();
    let model = kmeans
        .fit_points(&dense(&[[0.0, 0.1], [0.0, 0.1], [0.0, 0.1]]))
        .expect("fits");
    assert_close(&model.centroids, &[[0.0, 0.1]]);
}

#[test]
fn kmeans_fits_and_transforms_a_frame_and_survives_save_load() {
    let rows: Vec<Vector> = FLINK_DATA
        .iter()
        .map(|p| Vector::Dense(p.to_vec()))
        .collect();
    let frame = Frame::new()
        .with("features", Column::Vector(rows))
        .expect("frame");
    let model = KMeans::default().fit(&frame).expect("fits");
    let out = model.transform(&frame).expect("transforms");
    let Ok(Column::F64(pred)) = out.column("prediction") else {
        panic!("prediction column of f64, as every learner's");
    };
    assert_eq!(pred[0], pred[1]);
    assert_eq!(pred[0], pred[2]);
    assert_eq!(pred[3], pred[4]);
    assert_eq!(pred[3], pred[5]);
    assert_ne!(pred[0], pred[3]);
    let mut saved = Vec::new();
    model.save(&mut saved).expect("saves");
    let loaded = KMeansModel::load(saved.as_slice()).expect("loads");
    assert_eq!(loaded, model);
    let any = quiver_ml::persist::load_model(saved.as_slice()).expect("registered kind");
    assert_eq!(any.kind(), "kmeans_model");
    assert_eq!(any.transform(&frame).expect("transforms"), out);
}

const TRAIN1: [[f64; 2]; 6] = [
    [10.0, 0.0],
    [10.0, 0.3],
    [10.3, 0.0],
    [-10.0, 0.0],
    [-10.0, 0.6],
    [-10.6, 0.0],
];
const TRAIN2: [[f64; 2]; 6] = [
    [10.0, 100.0],
    [10.0, 100.3],
    [10.3, 100.0],
    [-10.0, -100.0],
    [-10.0, -100.6],
    [-10.6, -100.0],
];

/// Online k-means parameters: updates every `global_batch_size` points, keeping
/// `decay_factor` of the old weights.
fn online_params(global_batch_size: usize, decay_factor: f64) -> OnlineKMeansParams {
    OnlineKMeansParams {
        global_batch_size,
        decay_factor,
        ..OnlineKMeansParams::default()
    }
}

fn learn_all(model: &mut OnlineKMeans, points: &[[f64; 2]]) {
    for p in points {
        model.learn_one(p.as_slice().into()).expect("learns");
    }
}

#[test]
fn online_kmeans_decay_matches_flink_ml_test_decay_factor() {
    let initial = KMeans::default().fit_points(&dense(&TRAIN1)).expect("fits");
    let params = online_params(6, 0.5);
    let mut online = OnlineKMeans::from_model(params, &initial).expect("valid");
    learn_all(&mut online, &TRAIN2);
    assert_eq!(online.version().0, 1);
    let mut pairs: Vec<(Vec<f64>, f64)> = online
        .centroids()
        .iter()
        .cloned()
        .zip(online.weights().iter().copied())
        .collect();
    pairs.sort_by(|a, b| a.0[0].total_cmp(&b.0[0]));
    for (_, w) in &pairs {
        assert!((w - 4.5).abs() < 1e-5, "{pairs:?}");
    }
    let centroids: Vec<Vec<f64>> = pairs.into_iter().map(|(c, _)| c).collect();
    assert_close(&centroids, &[[-10.2, -200.2 / 3.0], [10.1, 200.3 / 3.0]]);
}

#[test]
fn online_kmeans_from_random_init_matches_flink_ml_test_get_model_data() {
    let params = online_params(6, 0.0);
    let mut online = OnlineKMeans::random(params, 2, 2, 0.0, 0).expect("valid");
    learn_all(&mut online, &TRAIN1[..5]);
    assert_eq!(online.version().0, 0, "no update before a full batch");
    learn_all(&mut online, &TRAIN1[5..]);
    assert_eq!(online.weights(), &[3.0, 3.0]);
    assert_close(
        &sorted_by_x(online.centroids().to_vec()),
        &[[-10.2, 0.2], [10.1, 0.1]],
    );
}

#[test]
fn online_kmeans_snapshot_restores_the_full_state() {
    let params = online_params(4, 0.9);
    let mut a = OnlineKMeans::random(params, 2, 2, 1.0, 7).expect("valid");
    learn_all(&mut a, &TRAIN1);
    let snap = a.snapshot().expect("snapshot");
    let mut b = OnlineKMeans::random(OnlineKMeansParams::default(), 3, 2, 0.0, 1).expect("valid");
    b.restore(&snap).expect("restore");
    learn_all(&mut a, &TRAIN2);
    learn_all(&mut b, &TRAIN2);
    assert_eq!(a, b);
    assert!(b.restore(&snap[..snap.len() - 1]).is_err());
    assert!(OnlineKMeans::new(online_params(32, 1.5), vec![vec![0.0]], vec![0.0]).is_err());
}

/// Independent cost: squared distance to the nearest centroid, summed.
fn naive_cost(centroids: &[Vec<f64>], points: &[Vec<f64>]) -> f64 {
    points
        .iter()
        .map(|p| {
            centroids
                .iter()
                .map(|c| c.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
                .fold(f64::INFINITY, f64::min)
        })
        .sum()
}

proptest! {
    #[test]
    fn lloyd_steps_never_increase_the_cost(
        points in prop::collection::vec(prop::collection::vec(-50.0f64..50.0, 3), 1..60),
        k in 1usize..6,
        seed in any::<u64>(),
    ) {
        let start: Vec<Vec<f64>> = (0..k).map(|i| points[(seed as usize + i * 7) % points.len()].clone()).collect();
        let mut centroids = start;
        let mut cost = naive_cost(&centroids, &points);
        for _ in 0..10 {
            let (moved, _, counts) = lloyd_step(&centroids, &points);
            prop_assert_eq!(counts.iter().sum::<f64>(), points.len() as f64);
            let next = naive_cost(&moved, &points);
            prop_assert!(next <= cost + 1e-9 * (1.0 + cost), "{} > {}", next, cost);
            cost = next;
            centroids = moved;
        }
        let model = KMeans { params: KMeansParams { k, seed, ..KMeansParams::default() } }
            .fit_points(&points)
            .expect("fits");
        prop_assert!(model.centroids.len() <= k);
        prop_assert_eq!(model.weights.iter().sum::<f64>(), points.len() as f64);
    }
}

/// The three non-finite values every stage must reject.
const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

fn is_at(e: &MlError, position: Position) -> bool {
    matches!(e, MlError::NonFinite(NonFinite { at, .. }) if *at == position)
}

fn features_cell(row: usize, entry: usize) -> Position {
    Position::Cell {
        column: "features".into(),
        row,
        entry: Some(entry),
    }
}

#[test]
fn kmeans_rejects_non_finite_points_in_fit_predict_and_transform() {
    for bad in NON_FINITE {
        let mut points = dense(&FLINK_DATA);
        points[4][1] = bad;
        let err = KMeans::default().fit_points(&points).unwrap_err();
        assert!(is_at(&err, features_cell(4, 1)), "{err}");
        let rows: Vec<Vector> = points.iter().map(|p| Vector::Dense(p.clone())).collect();
        let frame = Frame::new().with("features", Column::Vector(rows)).unwrap();
        let err = KMeans::default().fit(&frame).unwrap_err();
        assert!(is_at(&err, features_cell(4, 1)), "{err}");
        let model = KMeans::default().fit_points(&dense(&FLINK_DATA)).unwrap();
        let err = model.transform(&frame).unwrap_err();
        assert!(is_at(&err, features_cell(4, 1)), "{err}");
        let err = model.predict_one(Features::Dense(&[bad, 0.0])).unwrap_err();
        assert!(is_at(&err, Position::Feature(0)), "{err}");
    }
}

#[test]
fn online_kmeans_rejects_a_non_finite_point_and_keeps_its_state() {
    // decay 1 keeps the old weights: each centroid of weight 1 takes one point of weight 1
    // and moves half way to it.
    let params = online_params(2, 1.0);
    for bad in NON_FINITE {
        let mut online = OnlineKMeans::new(
            params.clone(),
            vec![vec![0.0, 0.0], vec![10.0, 10.0]],
            vec![1.0, 1.0],
        )
        .unwrap();
        // One point pending: the next one would complete the batch.
        online.learn_one(Features::Dense(&[1.0, 1.0])).unwrap();
        let before = online.clone();
        let err = online.learn_one(Features::Dense(&[bad, 1.0])).unwrap_err();
        assert!(is_at(&err, Position::Feature(0)), "{err}");
        assert_eq!(online, before, "a rejected point changed the state");
        let err = online
            .predict_one(Features::Dense(&[1.0, bad]))
            .unwrap_err();
        assert!(is_at(&err, Position::Feature(1)), "{err}");
        // No centroid went NaN: each point still goes to the centroid it is near.
        online.learn_one(Features::Dense(&[9.0, 9.0])).unwrap();
        assert_eq!(online.centroids(), &[vec![0.5, 0.5], vec![9.5, 9.5]]);
        assert_eq!(online.predict_one(Features::Dense(&[8.0, 9.0])).unwrap(), 1);
        assert_eq!(online.predict_one(Features::Dense(&[1.0, 2.0])).unwrap(), 0);
        let err = OnlineKMeans::new(
            params.clone(),
            vec![vec![0.0, 0.0], vec![1.0, bad]],
            vec![1.0; 2],
        )
        .unwrap_err();
        assert!(
            is_at(
                &err,
                Position::Argument {
                    name: "centroids",
                    index: 1,
                    entry: Some(1)
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn kmeans_distances_neither_overflow_near_1e160_nor_underflow_near_1e_170() {
    // Squared distances of coordinates near 1e160 exceed f64 (1e320): compared as they
    // were, every point was equally (infinitely) far from every centroid.
    for scale in [1e160, 1e300, 1e-170] {
        assert_flink_centroids_at_scale(scale);
        let model = KMeansModel {
            params: KMeansParams::default(),
            centroids: vec![vec![0.0, 0.0], vec![scale, 0.0]],
            weights: vec![1.0, 1.0],
            inertia: 0.0,
        };
        assert_eq!(
            model
                .predict_one(Features::Dense(&[0.9 * scale, 0.0]))
                .unwrap(),
            1,
            "{scale:e}"
        );
        assert_eq!(
            model
                .predict_one(Features::Dense(&[0.1 * scale, 0.0]))
                .unwrap(),
            0,
            "{scale:e}"
        );
        let mut online = OnlineKMeans::from_model(OnlineKMeansParams::default(), &model).unwrap();
        assert_eq!(
            online
                .predict_one(Features::Dense(&[0.8 * scale, 0.1 * scale]))
                .unwrap(),
            1
        );
        online
            .learn_one(Features::Dense(&[0.8 * scale, 0.0]))
            .unwrap();
    }
}

/// The flower-like data set of `reference/gen_learners_sklearn.py` and scikit-learn's lowest
/// k-means inertia on it for k = 3 (best of 100 k-means++ starts).
fn sklearn_classes() -> (Vec<Vec<f64>>, f64) {
    let r: serde_json::Value =
        serde_json::from_str(include_str!("reference/learners_sklearn.json")).unwrap();
    let points = r["classes"]["X"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    (points, r["classes"]["kmeans_k3_inertia"].as_f64().unwrap())
}

#[test]
fn kmeans_defaults_reach_scikit_learns_lowest_inertia_at_any_scale() {
    let (points, sklearn) = sklearn_classes();
    // 1e150: squared distances near 1e300 are still finite, their sums are not, unscaled.
    for scale in [1.0, 1e150] {
        let scaled: Vec<Vec<f64>> = points
            .iter()
            .map(|p| p.iter().map(|x| x * scale).collect())
            .collect();
        let model = KMeans {
            params: KMeansParams {
                k: 3,
                ..KMeansParams::default()
            },
        }
        .fit_points(&scaled)
        .unwrap();
        let inertia = model.inertia / scale / scale;
        assert!(
            (inertia - sklearn).abs() <= 1e-9 * sklearn,
            "scale {scale:e}: inertia {inertia}, scikit-learn's {sklearn}"
        );
    }
}

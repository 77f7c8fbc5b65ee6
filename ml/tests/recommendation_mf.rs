//! Matrix factorisation against River's per-step predictions
//! (`reference/gen_reco.py`), started from River's own initial factors.

use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{OnlineModel, Persist};
use serde_json::Value;

const EXPECTED: &str = include_str!("reference/reco_expected.json");

fn expected() -> Value {
    serde_json::from_str(EXPECTED).expect("committed JSON parses")
}

fn ratings(v: &Value) -> Vec<(u64, u64, f64)> {
    v["ratings"]
        .as_array()
        .expect("ratings")
        .iter()
        .map(|r| {
            (
                r[0].as_u64().expect("user"),
                r[1].as_u64().expect("item"),
                r[2].as_f64().expect("rating"),
            )
        })
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn load_factors(model: &mut MatrixFactorization, run: &Value) {
    for (key, f) in run["user_factors"].as_object().expect("user factors") {
        let user = key.parse().expect("user id");
        model.set_user_factors(user, floats(f)).expect("10 factors");
    }
    for (key, f) in run["item_factors"].as_object().expect("item factors") {
        let item = key.parse().expect("item id");
        model.set_item_factors(item, floats(f)).expect("10 factors");
    }
}

fn check_progressive(name: &str, params: MfParams, with_factors: bool) {
    let v = expected();
    let run = &v[name];
    let mut model = MatrixFactorization::new(params).expect("valid params");
    if with_factors {
        load_factors(&mut model, run);
    }
    let river = floats(&run["predictions"]);
    let data = ratings(&v);
    assert_eq!(river.len(), data.len());
    for (step, (&(user, item, y), expected)) in data.iter().zip(&river).enumerate() {
        let got = model.predict_one(user, item);
        assert!(
            (got - expected).abs() < 1e-6,
            "{name} step {step}: {got} vs River {expected}"
        );
        model.learn_one(user, item, y).expect("learns");
    }
    assert_eq!(model.version().0, data.len() as u64);
}

#[test]
fn baseline_matches_river_per_step() {
    check_progressive("baseline", MfParams::baseline(), false);
}

#[test]
fn biased_mf_matches_river_per_step() {
    check_progressive("biased_mf", MfParams::biased_mf(), true);
}

#[test]
fn funk_mf_matches_river_per_step() {
    check_progressive("funk_mf", MfParams::funk_mf(), true);
}

#[test]
fn snapshot_restore_and_save_load_keep_the_full_state() {
    let v = expected();
    let data = ratings(&v);
    let mut a = MatrixFactorization::new(MfParams::biased_mf()).expect("valid");
    for &(u, i, y) in &data[..40] {
        a.learn_one(u, i, y).expect("learns");
    }
    let snap = a.snapshot().expect("snapshot");
    let mut b = MatrixFactorization::new(MfParams::funk_mf()).expect("valid");
    b.restore(&snap).expect("restores");
    let mut saved = Vec::new();
    a.save(&mut saved).expect("saves");
    let mut c = MatrixFactorization::load(saved.as_slice()).expect("loads");
    for &(u, i, y) in &data[40..] {
        a.learn_one(u, i, y).expect("learns");
        b.learn_one(u, i, y).expect("learns");
    }
    c.learn_many(&data[40..]).expect("learns");
    assert_eq!(a, b);
    assert_eq!(a, c);
    let pairs: Vec<(u64, u64)> = data.iter().map(|&(u, i, _)| (u, i)).collect();
    let one_by_one: Vec<f64> = pairs.iter().map(|&(u, i)| a.predict_one(u, i)).collect();
    assert_eq!(c.predict_many(&pairs), one_by_one);
}

#[test]
fn bad_params_and_ratings_are_errors() {
    let bad = MfParams {
        latent_learning_rate: 0.0,
        ..MfParams::funk_mf()
    };
    assert!(MatrixFactorization::new(bad).is_err());
    let mut m = MatrixFactorization::new(MfParams::baseline()).expect("valid");
    assert!(m.learn_one(1, 2, f64::NAN).is_err());
    assert_eq!(m.version().0, 0);
    let mut f = MatrixFactorization::new(MfParams::funk_mf()).expect("valid");
    assert!(f.set_user_factors(1, vec![0.0; 3]).is_err());
}

#[test]
fn rank_orders_items_by_predicted_rating() {
    let mut m = MatrixFactorization::new(MfParams::baseline()).expect("valid");
    for _ in 0..50 {
        m.learn_one(1, 10, 5.0).expect("learns");
        m.learn_one(1, 11, 1.0).expect("learns");
        m.learn_one(1, 12, 3.0).expect("learns");
    }
    assert_eq!(m.rank(1, &[11, 12, 10]), vec![10, 12, 11]);
}

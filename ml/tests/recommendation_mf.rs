//! Matrix factorisation against River's per-step predictions
//! (`reference/gen_reco.py`), started from River's own initial factors, and its refusal of
//! NaN and infinite ratings and factors and of diverging steps.

use quiver_ml::finite::Position;
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{MlError, NonFinite, OnlineModel, Persist};
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

/// The three non-finite values every learner must reject.
const NON_FINITE: [f64; 3] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];

#[test]
fn mf_rejects_non_finite_ratings_and_factors_and_keeps_its_state() {
    for params in [
        MfParams::baseline(),
        MfParams::biased_mf(),
        MfParams::funk_mf(),
    ] {
        let mut m = MatrixFactorization::new(params).expect("valid");
        m.learn_many(&[(1, 10, 4.0), (2, 10, 2.0), (1, 11, 5.0)])
            .expect("learns");
        for bad in NON_FINITE {
            let before = m.clone();
            let err = m.learn_one(3, 12, bad).unwrap_err();
            let at_label = matches!(
                err,
                MlError::NonFinite(NonFinite {
                    at: Position::Label,
                    ..
                })
            );
            assert!(at_label, "{err}");
            assert_eq!(m, before, "a rejected rating changed the state");
        }
    }
    let mut m = MatrixFactorization::new(MfParams::biased_mf()).expect("valid");
    for bad in NON_FINITE {
        let mut factors = vec![0.1; 10];
        factors[7] = bad;
        let at_7 = Position::Argument {
            name: "factors",
            index: 7,
            entry: None,
        };
        for err in [
            m.set_user_factors(1, factors.clone()).unwrap_err(),
            m.set_item_factors(1, factors).unwrap_err(),
        ] {
            assert!(
                matches!(&err, MlError::NonFinite(NonFinite { at, .. }) if *at == at_7),
                "{err}"
            );
        }
        assert_eq!(m.predict_one(1, 1), 0.0, "nothing was set");
    }
}

#[test]
fn mf_refuses_a_diverging_step_and_keeps_its_state() {
    // Factors drawn with deviation 0 are 0. A bias
    // step is lr * g: the first rating is the mean (g = 0); the second (mean 0, prediction
    // 0, rating -5, g = 10) would move the new user's and item's biases to -1e14.
    let params = MfParams {
        bias_learning_rate: 1e13,
        init_std: 0.0,
        ..MfParams::biased_mf()
    };
    let mut m = MatrixFactorization::new(params.clone()).expect("valid");
    m.learn_one(1, 1, 5.0).expect("learns");
    let before = m.clone();
    let err = m.learn_one(2, 2, -5.0).unwrap_err();
    assert!(
        matches!(
            err,
            MlError::Diverged {
                stage: "MatrixFactorization",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("lower the learning rate"), "{err}");
    // Untouched: no factors drawn for user 2 or item 2, the mean as it was,
    // so the next rating gives what it gives to a model that never saw the refused one.
    assert_eq!(m, before);
    let mut fresh = MatrixFactorization::new(params).expect("valid");
    fresh.learn_one(1, 1, 5.0).expect("learns");
    m.learn_one(1, 1, 5.0).expect("learns");
    fresh.learn_one(1, 1, 5.0).expect("learns");
    assert_eq!(m, fresh);
    // Latent factors diverge too: lr = 10 on one pair multiplies them tenfold a step.
    let funk = MfParams {
        latent_learning_rate: 10.0,
        ..MfParams::funk_mf()
    };
    let mut m = MatrixFactorization::new(funk).expect("valid");
    let refused = (0..200).find_map(|_| {
        let before = m.clone();
        m.learn_one(1, 1, 5.0).err().map(|e| (e, before))
    });
    let (err, before) = refused.expect("a step was refused");
    assert!(matches!(err, MlError::Diverged { .. }), "{err}");
    assert_eq!(m, before);
    assert!(m.predict_one(1, 1).is_finite());
}

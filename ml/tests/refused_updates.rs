//! Divergence is never silent: an online model refuses an update that would take a
//! parameter or statistic out of the finite range (or beyond ±MAX_PARAMETER), leaves its
//! state as it was, and counts the refusal where a streaming stage can read it
//! (`OnlineModel::refused_updates`).

use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::feature::{OnlineStandardScaler, StandardScalerParams};
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, Optimizer, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd, StreamingLogisticRegression, StreamingLogisticRegressionParams,
};
use quiver_ml::recommendation::{MatrixFactorization, MfParams};
use quiver_ml::{Features, MlError, OnlineLearner, OnlineModel, RefusedUpdates};

fn is_refusal(e: &MlError) -> bool {
    matches!(e, MlError::Diverged { .. } | MlError::Overflow { .. })
}

#[test]
fn matrix_factorization_counts_its_refused_steps() {
    // lr 1e13: the second rating's gradient of 10 would move the biases to about -1e14.
    let params = MfParams {
        bias_learning_rate: 1e13,
        init_std: 0.0,
        ..MfParams::biased_mf()
    };
    let mut m = MatrixFactorization::new(params).unwrap();
    m.learn_one(1, 1, 5.0).unwrap();
    let before = m.snapshot().unwrap();
    for n in 1..=3 {
        assert!(is_refusal(&m.learn_one(2, 2, -5.0).unwrap_err()));
        assert_eq!(m.refused_updates(), RefusedUpdates(n));
    }
    assert_eq!(m.snapshot().unwrap(), before);
    // A rejected input is not a refused update.
    assert!(matches!(
        m.learn_one(1, 1, f64::NAN),
        Err(MlError::NonFinite(_))
    ));
    assert_eq!(m.refused_updates(), RefusedUpdates(3));
}

#[test]
fn online_kmeans_counts_a_batch_whose_centroid_would_overflow() {
    let params = OnlineKMeansParams {
        global_batch_size: 2,
        ..OnlineKMeansParams::default()
    };
    let mut km = OnlineKMeans::new(params, vec![vec![0.0]], vec![0.0]).unwrap();
    km.learn_one(Features::Dense(&[1e308])).unwrap();
    // The batch's sum, 2e308, is not finite.
    let e = km.learn_one(Features::Dense(&[1e308])).unwrap_err();
    assert!(is_refusal(&e), "{e}");
    assert_eq!(km.refused_updates(), RefusedUpdates(1));
    assert_eq!(km.centroids(), &[vec![0.0]]);
}

#[test]
fn online_standard_scaler_counts_a_vector_whose_variance_would_overflow() {
    let mut scaler = OnlineStandardScaler::new(StandardScalerParams::default(), None).unwrap();
    scaler.learn_one(Features::Dense(&[1e300])).unwrap();
    let before = scaler.snapshot().unwrap();
    assert!(is_refusal(
        &scaler.learn_one(Features::Dense(&[-1e300])).unwrap_err()
    ));
    assert_eq!(scaler.refused_updates(), RefusedUpdates(1));
    assert_eq!(scaler.snapshot().unwrap(), before);
}

#[test]
fn ftrl_refuses_a_step_whose_squared_gradient_overflows() {
    for batch in [1, 2] {
        let params = FtrlParams {
            global_batch_size: batch,
            ..FtrlParams::default()
        };
        let mut ftrl = OnlineLogisticRegression::new(params, 2, Some(vec![0.5, -0.5])).unwrap();
        // A finite feature of 1e200 on a wrong prediction (margin 5e199, label 0): the
        // gradient's square, summed into n, is +inf, and the step's z and coefficient would
        // be NaN.
        for _ in 0..batch - 1 {
            ftrl.learn_one(Features::Dense(&[1.0, 1.0]), 1.0).unwrap();
        }
        let before = ftrl.coefficients().to_vec();
        let e = ftrl
            .learn_one(Features::Dense(&[1e200, 1.0]), 0.0)
            .unwrap_err();
        assert!(is_refusal(&e), "batch {batch}: {e}");
        assert_eq!(ftrl.coefficients(), before.as_slice(), "batch {batch}");
        assert_eq!(ftrl.refused_updates(), RefusedUpdates(1));
        // The learner goes on from where it was.
        for _ in 0..batch {
            ftrl.learn_one(Features::Dense(&[1.0, 1.0]), 1.0).unwrap();
        }
        assert!(ftrl.coefficients().iter().all(|w| w.is_finite()));
        assert_ne!(ftrl.coefficients(), before.as_slice());
    }
}

/// Every optimiser of the gradient learners, regression and classification.
const OPTIMIZERS: [Optimizer; 3] = [Optimizer::Sgd, Optimizer::AdaGrad, Optimizer::Adam];

fn regression(optimizer: Optimizer, learning_rate: f64) -> StreamingLinearRegressionSgd {
    let params = StreamingLinearRegressionParams {
        optimizer,
        learning_rate,
        ..StreamingLinearRegressionParams::default()
    };
    StreamingLinearRegressionSgd::new(params, 1).unwrap()
}

fn classifier(optimizer: Optimizer, learning_rate: f64) -> StreamingLogisticRegression {
    let params = StreamingLogisticRegressionParams {
        optimizer,
        learning_rate,
        ..StreamingLogisticRegressionParams::default()
    };
    StreamingLogisticRegression::new(params, 1).unwrap()
}

#[test]
fn every_optimizer_refuses_a_step_beyond_the_parameter_bound() {
    // A learning rate of 1e13: the first step of each optimiser moves a weight by about
    // 1e13 (SGD: η |e x|; AdaGrad's and Adam's first steps: η times the gradient's sign).
    for optimizer in OPTIMIZERS {
        let mut r = regression(optimizer, 1e13);
        let mut c = classifier(optimizer, 1e13);
        let (r0, c0) = (r.snapshot().unwrap(), c.snapshot().unwrap());
        for n in 1..=2 {
            let e = r.learn_one(Features::Dense(&[1.0]), 1.0).unwrap_err();
            assert!(matches!(e, MlError::Diverged { .. }), "{optimizer:?}: {e}");
            let e = c.learn_one(Features::Dense(&[1.0]), 1.0).unwrap_err();
            assert!(matches!(e, MlError::Diverged { .. }), "{optimizer:?}: {e}");
            assert_eq!(r.refused_updates(), RefusedUpdates(n), "{optimizer:?}");
            assert_eq!(c.refused_updates(), RefusedUpdates(n), "{optimizer:?}");
        }
        assert_eq!(
            r.snapshot().unwrap(),
            r0,
            "{optimizer:?}: the state is as it was"
        );
        assert_eq!(
            c.snapshot().unwrap(),
            c0,
            "{optimizer:?}: the state is as it was"
        );
        // A step without error is still taken (the version moves, nothing is refused).
        r.learn_one(Features::Dense(&[1.0]), 0.0).unwrap();
        assert_eq!(r.version().0, 1, "{optimizer:?}");
        assert_eq!(r.refused_updates(), RefusedUpdates(2), "{optimizer:?}");
    }
}

#[test]
fn every_optimizer_refuses_a_feature_whose_squared_gradient_overflows() {
    // x = 1e200, y = 1 from zero: e = −1, g = −1e200. SGD's weight would be 1e198; AdaGrad's
    // G and Adam's v would be g², +inf (the weights would not move: η g / √inf = 0).
    for optimizer in OPTIMIZERS {
        for learner in [
            &mut regression(optimizer, 0.01) as &mut dyn OnlineLearner,
            &mut classifier(optimizer, 0.01),
        ] {
            let before = learner.snapshot().unwrap();
            let e = learner
                .learn_one(Features::Dense(&[1e200]), 1.0)
                .unwrap_err();
            let expected = match optimizer {
                Optimizer::Sgd => matches!(e, MlError::Diverged { .. }),
                _ => matches!(e, MlError::Overflow { .. }),
            };
            assert!(expected, "{optimizer:?}: {e}");
            assert_eq!(learner.refused_updates(), RefusedUpdates(1));
            assert_eq!(learner.snapshot().unwrap(), before, "{optimizer:?}");
        }
    }
}

#[test]
fn a_non_finite_prediction_is_refused_by_every_optimizer() {
    // Weight 1e11 (reached by a step of a learner with a large rate) times a feature of 1e300
    // overflows the prediction: its error is infinite whatever the optimiser.
    for optimizer in OPTIMIZERS {
        let mut r = regression(optimizer, 1e11);
        r.learn_one(Features::Dense(&[1.0]), 1.0).unwrap();
        let before = r.snapshot().unwrap();
        let e = r.learn_one(Features::Dense(&[1e300]), 1.0).unwrap_err();
        assert!(e.is_refused_update(), "{optimizer:?}: {e}");
        assert!(
            e.to_string().contains("loss gradient"),
            "{optimizer:?}: {e}"
        );
        assert_eq!(r.snapshot().unwrap(), before);
        assert_eq!(r.refused_updates(), RefusedUpdates(1));
    }
}

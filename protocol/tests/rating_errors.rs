//! The online rating error a job reports (`matrix_factorization`): sums that add over tasks,
//! and the RMSE and MAE computed from them, against the formulas on hand-picked errors.

use quiver_protocol::messages::RatingErrors;

#[test]
fn rmse_and_mae_of_summed_tasks_equal_the_formulas() {
    // (prediction, rating): errors −0.5, +1, 0, −2.
    let rows = [(3.5, 4.0), (2.0, 1.0), (5.0, 5.0), (1.0, 3.0)];
    let (mut first, mut second) = (RatingErrors::default(), RatingErrors::default());
    for &(p, r) in &rows[..2] {
        first.note(p, r);
    }
    for &(p, r) in &rows[2..] {
        second.note(p, r);
    }
    let mut job = RatingErrors::default();
    job.add(&first);
    job.add(&second);
    let summary = job.summary().expect("four ratings");
    assert_eq!(summary.count, 4);
    let rmse = ((0.25 + 1.0 + 0.0 + 4.0) / 4.0_f64).sqrt();
    assert!((summary.rmse - rmse).abs() < 1e-12, "{summary:?}");
    assert!((summary.mae - 3.5 / 4.0).abs() < 1e-12, "{summary:?}");
    assert_eq!(
        RatingErrors::default().summary(),
        None,
        "no rating, no figures"
    );
}

//! Invariants of feature stages, checked on random inputs.

use proptest::prelude::*;
use quiver_ml::feature::{
    FeatureHasher, FeatureHasherParams, HashValue, StandardScaler, StandardScalerParams,
};
use quiver_ml::{Column, Estimator, Features, Frame, SparseVector, Vector};

proptest! {
    /// inverse(transform(x)) == x for a scaler fitted with mean and std.
    #[test]
    fn standard_scaler_inverse_recovers_input(rows in prop::collection::vec(prop::collection::vec(-1e3f64..1e3, 3), 2..30)) {
        let frame = Frame::new().with("input", Column::Vector(rows.iter().map(|r| Vector::Dense(r.clone())).collect())).unwrap();
        let params = StandardScalerParams { with_mean: true, ..Default::default() };
        let model = StandardScaler { params }.fit(&frame).unwrap();
        let (mut y, mut back) = (vec![0.0; 3], vec![0.0; 3]);
        for r in &rows {
            model.transform_one(Features::Dense(r), &mut y).unwrap();
            model.inverse_one(&y, &mut back).unwrap();
            for j in 0..3 {
                if model.std[j] > 0.0 {
                    prop_assert!((back[j] - r[j]).abs() <= 1e-9 * (1.0 + r[j].abs()));
                }
            }
        }
    }

    /// Every hashed index is below num_features; indices are strictly increasing; the
    /// values add up to the numeric values plus one per categorical value.
    #[test]
    fn hasher_indices_stay_in_range(n in 1u32..5000, words in prop::collection::vec("[a-z]{0,6}", 0..8), nums in prop::collection::vec(-10.0f64..10.0, 0..4)) {
        let hasher = FeatureHasher::new(FeatureHasherParams { num_features: n, ..Default::default() }).unwrap();
        let names: Vec<String> = (0..words.len() + nums.len()).map(|i| format!("c{i}")).collect();
        let mut row: Vec<(&str, HashValue<'_>)> = Vec::new();
        for (i, w) in words.iter().enumerate() {
            row.push((&names[i], HashValue::Str(w)));
        }
        for (k, x) in nums.iter().enumerate() {
            row.push((&names[words.len() + k], HashValue::Num(*x)));
        }
        let mut out = SparseVector::zeros(0);
        hasher.hash_into(&row, &mut out);
        prop_assert_eq!(out.dim, n);
        prop_assert!(out.view().is_well_formed());
        let total: f64 = out.values.iter().sum();
        let expected = words.len() as f64 + nums.iter().sum::<f64>();
        prop_assert!((total - expected).abs() < 1e-9);
    }
}

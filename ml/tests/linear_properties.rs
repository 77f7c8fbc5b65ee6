//! Invariants of the linear learners, checked on random streams.

use proptest::prelude::*;
use quiver_ml::linear::{FtrlParams, OnlineLogisticRegression};
use quiver_ml::{Features, OnlineLearner, SparseView};

/// Zero coefficients after one pass of FTRL with L1 strength `reg` over `stream`.
fn zeros_after(stream: &[(Vec<u32>, f64)], dim: usize, reg: f64) -> usize {
    let params = FtrlParams {
        reg,
        elastic_net: 1.0,
        global_batch_size: 1,
        ..Default::default()
    };
    let mut m = OnlineLogisticRegression::new(params, dim, None).unwrap();
    let ones = vec![1.0; 8];
    for (idx, y) in stream {
        let x = SparseView {
            dim: dim as u32,
            indices: idx,
            values: &ones[..idx.len()],
        };
        m.learn_one(Features::Sparse(x), *y).unwrap();
    }
    m.coefficients().iter().filter(|&&w| w == 0.0).count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Strong L1 gives at least as many zero weights as none on the same stream, and an
    /// L1 beyond every |z| zeroes them all (FTRL sets w = 0 exactly when |z| ≤ l1).
    #[test]
    fn ftrl_sparsity_grows_with_l1(rows in prop::collection::vec((prop::collection::btree_set(0u32..64, 1..8), any::<bool>()), 20..200)) {
        let stream: Vec<(Vec<u32>, f64)> = rows
            .into_iter()
            .map(|(s, y)| (s.into_iter().collect(), if y { 1.0 } else { 0.0 }))
            .collect();
        let counts: Vec<usize> = [0.0, 0.5, 2.0, 8.0].iter().map(|&r| zeros_after(&stream, 64, r)).collect();
        prop_assert!(counts[3] >= counts[0], "{counts:?}");
        // At an L1 beyond any |z| every weight is zero.
        prop_assert_eq!(zeros_after(&stream, 64, 1e9), 64);
    }
}

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
    let ones = [1.0; 8];
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

/// Flink ML's FTRL update written out naively: every dimension on every batch.
fn naive_ftrl(stream: &[(Vec<u32>, f64)], dim: usize, batch: usize, p: &FtrlParams) -> Vec<f64> {
    let (l1, l2) = (p.elastic_net * p.reg, (1.0 - p.elastic_net) * p.reg);
    let (mut w, mut z, mut n) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
    for chunk in stream.chunks(batch).filter(|c| c.len() == batch) {
        let (mut g, mut ws) = (vec![0.0; dim], vec![0.0; dim]);
        for (idx, y) in chunk {
            let dot: f64 = idx.iter().map(|&i| w[i as usize]).sum();
            let pr = 1.0 / (1.0 + (-dot).exp());
            for &i in idx {
                g[i as usize] += pr - y;
                ws[i as usize] += 1.0;
            }
        }
        for i in 0..dim {
            let gi = if ws[i] != 0.0 { g[i] / ws[i] } else { g[i] };
            let sigma = ((n[i] + gi * gi).sqrt() - f64::sqrt(n[i])) / p.alpha;
            z[i] += gi - sigma * w[i];
            n[i] += gi * gi;
            w[i] = if f64::abs(z[i]) <= l1 {
                0.0
            } else {
                (z[i].signum() * l1 - z[i]) / ((p.beta + n[i].sqrt()) / p.alpha + l2)
            };
        }
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The sparse, per-example implementation equals the naive all-dimension update for
    /// batch sizes 1 (the fast path) and 3.
    #[test]
    fn ftrl_equals_naive_flink_update(rows in prop::collection::vec((prop::collection::btree_set(0u32..32, 1..6), any::<bool>()), 1..120), reg in 0.0f64..0.5) {
        let stream: Vec<(Vec<u32>, f64)> = rows
            .into_iter()
            .map(|(s, y)| (s.into_iter().collect(), if y { 1.0 } else { 0.0 }))
            .collect();
        for batch in [1usize, 3] {
            let params = FtrlParams { reg, elastic_net: 0.5, global_batch_size: batch, ..Default::default() };
            let mut m = OnlineLogisticRegression::new(params.clone(), 32, None).unwrap();
            let ones = [1.0; 8];
            for (idx, y) in &stream {
                let x = SparseView { dim: 32, indices: idx, values: &ones[..idx.len()] };
                m.predict_then_learn(Features::Sparse(x), *y).unwrap();
            }
            let expected = naive_ftrl(&stream, 32, batch, &params);
            for (a, e) in m.coefficients().iter().zip(&expected) {
                prop_assert!((a - e).abs() <= 1e-12, "batch {batch}: {a} vs {e}");
            }
        }
    }
}

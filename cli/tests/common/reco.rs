//! The matrix factorisation job the ML end-to-end tests run: ratings with string users read
//! from `ratings.csv`, predictions written to `out/`; a library model holding an exported
//! version of a matrix factorisation on parameter servers.

use quiver_ml::recommendation::{MatrixFactorization, MfLayout, MfParams};

/// A `[job]` section `job` followed by the job's source (`ratings.csv`: user, item, rating,
/// ts, read at `rate` rows a second), its matrix factorisation stage `reco` at
/// `parallelism`, and its file sink `out/`.
pub(crate) fn reco_job(job: &str, rate: u32, parallelism: u32) -> String {
    format!(
        r#"{job}
[[source]]
name = "ratings"
kind = "file"
path = "ratings.csv"
format = "csv"
schema = {{ user = "string", item = "i64", rating = "f64", ts = "i64" }}
event_time = "ts"
rate = {rate}

[[stage]]
name = "reco"
kind = "matrix_factorization"
input = "ratings"
parallelism = {parallelism}
user = "user"
item = "item"
rating = "rating"

[[sink]]
name = "out"
kind = "file"
input = "reco"
path = "out/"
"#
    )
}

/// The stage's id of a string user or item: its 64-bit FNV-1a hash.
pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A library model with the stage's defaults holding the mean and items `0..items` of the
/// exported parameters `p` (trailing zeros left out; an item all zeros was never learnt).
pub(crate) fn mf_model_of(p: &[f64], items: u64) -> MatrixFactorization {
    let mut model = MatrixFactorization::new(MfParams::biased_mf_stream()).expect("model");
    let at = |i: i64| p.get(i as usize).copied().unwrap_or(0.0);
    model
        .set_rating_stats([at(MfLayout::COUNT), at(MfLayout::SUM)])
        .expect("P's mean is valid");
    let layout = model.layout();
    for item in 0..items {
        let index = layout.item_index(item).expect("an index") as usize;
        let values: Vec<f64> = (0..layout.stride())
            .map(|k| at((index + k) as i64))
            .collect();
        if values.iter().any(|&v| v != 0.0) {
            model
                .set_item_parameters(item, &values)
                .expect("P's item is valid");
        }
    }
    model
}

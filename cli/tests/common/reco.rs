//! The matrix factorisation job the ML end-to-end tests run: ratings with string users read
//! from `ratings.csv`, predictions written to `out/`.

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

//! The generated data sets of the online bench (seeded, deterministic) and their CSV
//! form. `bench/ml_peers.py` reads the CSV files, so River and Vowpal Wabbit learn the
//! very samples Quiver learns: floats are written in Rust's shortest round-trip form,
//! which Python's `float()` reads back to the same bits.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

/// Categorical fields per click-through row.
pub(crate) const FIELDS: usize = 12;
/// Distinct values per field.
const VOCAB: u64 = 1000;
/// Dense features of the regression rows.
pub(crate) const LINEAR_DIM: usize = 16;
/// Dense features of the clustering rows.
pub(crate) const BLOB_DIM: usize = 20;
/// Gaussian blobs (clusters) of the clustering rows.
pub(crate) const BLOBS: usize = 5;
/// Users and items of the ratings.
const USERS: u64 = 20_000;
const ITEMS: u64 = 5_000;
/// Rank of the hidden rating model.
const RANK: usize = 8;

/// SplitMix64: a small deterministic generator.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// Skewed index in `[0, n)`: the square of a uniform, so low indices are popular.
    fn skewed(&mut self, n: u64) -> u64 {
        ((self.unit() * self.unit()) * n as f64) as u64
    }
}

fn bernoulli(rng: &mut Rng, margin: f64) -> f64 {
    if rng.unit() < 1.0 / (1.0 + (-margin).exp()) {
        1.0
    } else {
        0.0
    }
}

/// Click-through rows: `FIELDS` categorical values (`"v123"`) and a 0/1 label drawn
/// from a hidden logistic model over (field, value) pairs.
pub(crate) struct Ctr {
    pub(crate) rows: Vec<[String; FIELDS]>,
    pub(crate) labels: Vec<f64>,
}

pub(crate) fn ctr(rng: &mut Rng, n: usize) -> Ctr {
    let truth: Vec<f64> = (0..FIELDS as u64 * VOCAB)
        .map(|_| (rng.unit() - 0.5) * 1.2)
        .collect();
    let mut rows = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let mut margin = -0.5;
        let row: [String; FIELDS] = std::array::from_fn(|f| {
            let v = rng.skewed(VOCAB);
            margin += truth[f * VOCAB as usize + v as usize];
            format!("v{v}")
        });
        labels.push(bernoulli(rng, margin));
        rows.push(row);
    }
    Ctr { rows, labels }
}

/// Dense rows and one number per row: the regression target, or the blob id.
pub(crate) struct Dense<const D: usize> {
    pub(crate) xs: Vec<[f64; D]>,
    pub(crate) ys: Vec<f64>,
}

/// `y = w·x + 0.5 + U(-0.1, 0.1)` with `x ~ U(-1, 1)^16`, `w ~ U(-2, 2)^16`
/// (noise floor of the RMSE: 0.0577).
pub(crate) fn linear(rng: &mut Rng, n: usize) -> Dense<LINEAR_DIM> {
    let truth: Vec<f64> = (0..LINEAR_DIM).map(|_| rng.unit() * 4.0 - 2.0).collect();
    let xs: Vec<[f64; LINEAR_DIM]> = (0..n)
        .map(|_| std::array::from_fn(|_| rng.unit() * 2.0 - 1.0))
        .collect();
    let ys = xs
        .iter()
        .map(|x| {
            x.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>() + 0.5 + (rng.unit() - 0.5) * 0.2
        })
        .collect();
    Dense { xs, ys }
}

/// `BLOBS` Gaussian blobs in 20 dimensions (centres `U(-5, 5)`, standard deviation 1,
/// so the best mean squared distance to a centre is about 20); `ys` is the blob id.
pub(crate) fn blobs(rng: &mut Rng, n: usize) -> Dense<BLOB_DIM> {
    let centres: Vec<[f64; BLOB_DIM]> = (0..BLOBS)
        .map(|_| std::array::from_fn(|_| rng.unit() * 10.0 - 5.0))
        .collect();
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let b = (rng.next() % BLOBS as u64) as usize;
        xs.push(std::array::from_fn(|d| centres[b][d] + rng.normal()));
        ys.push(b as f64);
    }
    Dense { xs, ys }
}

/// `(user, item, rating)` with skewed user and item popularity and
/// `rating = 3.5 + b_u + b_i + <p_u, q_i> + N(0, 0.3²)`, biases `N(0, 0.5²)`, factors
/// `N(0, 0.3²)` of rank 8 (noise floor of the RMSE: 0.3).
pub(crate) fn ratings(rng: &mut Rng, n: usize) -> Vec<(u64, u64, f64)> {
    let mut draw = |count: u64, std: f64| -> Vec<Vec<f64>> {
        (0..count)
            .map(|_| (0..=RANK).map(|_| rng.normal() * std).collect())
            .collect()
    };
    // Column 0 is the bias, the rest the latent factors.
    let users = draw(USERS, 0.5);
    let items = draw(ITEMS, 0.5);
    (0..n)
        .map(|_| {
            let (u, i) = (rng.skewed(USERS), rng.skewed(ITEMS));
            let (pu, qi) = (&users[u as usize], &items[i as usize]);
            let latent: f64 = pu[1..].iter().zip(&qi[1..]).map(|(a, b)| a * b).sum();
            let rating = 3.5 + pu[0] + qi[0] + latent * 0.36 + rng.normal() * 0.3;
            (u, i, rating)
        })
        .collect()
}

/// Writes `ctr.csv` (`label,f0..f11`), `linear.csv` (`y,x0..x15`), `blobs.csv`
/// (`blob,x0..x19`) and `ratings.csv` (`user,item,rating`) into `dir`.
pub(crate) fn write_csv(
    dir: &Path,
    ctr: &Ctr,
    linear: &Dense<LINEAR_DIM>,
    blobs: &Dense<BLOB_DIM>,
    ratings: &[(u64, u64, f64)],
) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let names =
        |prefix: &str, n: usize| -> String { (0..n).map(|i| format!(",{prefix}{i}")).collect() };
    write_rows(
        &dir.join("ctr.csv"),
        &format!("label{}", names("f", FIELDS)),
        ctr.rows.iter().zip(&ctr.labels),
        |line, (row, y)| {
            let _ = write!(line, "{y}");
            row.iter().for_each(|v| {
                let _ = write!(line, ",{v}");
            });
        },
    )?;
    write_dense(&dir.join("linear.csv"), "y", linear)?;
    write_dense(&dir.join("blobs.csv"), "blob", blobs)?;
    write_rows(
        &dir.join("ratings.csv"),
        "user,item,rating",
        ratings.iter(),
        |line, (u, i, r)| {
            let _ = write!(line, "{u},{i},{r}");
        },
    )
}

fn write_dense<const D: usize>(path: &Path, target: &str, data: &Dense<D>) -> io::Result<()> {
    let header: String = (0..D).map(|i| format!(",x{i}")).collect();
    write_rows(
        path,
        &format!("{target}{header}"),
        data.xs.iter().zip(&data.ys),
        |line, (x, y)| {
            let _ = write!(line, "{y}");
            x.iter().for_each(|v| {
                let _ = write!(line, ",{v}");
            });
        },
    )
}

fn write_rows<T>(
    path: &Path,
    header: &str,
    rows: impl Iterator<Item = T>,
    mut format_row: impl FnMut(&mut String, T),
) -> io::Result<()> {
    let mut out = io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{header}")?;
    let mut line = String::new();
    for row in rows {
        line.clear();
        format_row(&mut line, row);
        writeln!(out, "{line}")?;
    }
    out.flush()
}

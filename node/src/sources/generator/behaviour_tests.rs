//! The behaviour workload against an independent reading of its documented model: events
//! recomputed from the module docs' formulas, the stream the same at any parallelism, and
//! skew and funnel rates within statistical bounds of the documented values.

use super::*;
use quiver_protocol::batch::to_records;
use quiver_protocol::spec::GeneratorSource as Spec;
use quiver_protocol::{Record, Value};
use std::collections::HashMap;

fn spec(count: Option<u64>, keys: u64, items: u64, seed: u64) -> Spec {
    Spec {
        count,
        rate: 0,
        keys,
        seed,
        workload: Workload::Behaviour,
        items,
    }
}

fn generate(spec: &Spec, partition: u32, parallelism: u32, batch: usize) -> Vec<Record> {
    let schema = generator_schema(Workload::Behaviour);
    let mut g = Generator::new(spec, &schema, partition, parallelism).expect("build");
    let mut all = Vec::new();
    while let Some(b) = g.poll_batch(batch).expect("poll") {
        all.extend(to_records(&b));
    }
    all
}

// ---------------------------------------------------------------------------------------
// The model as the module docs state it, written again from the docs.

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / 9007199254740992.0
}

/// The constants the docs name (slot per use, kind per id).
const FUNNEL: u64 = 0x51ED270B2C7A4F19;
const SESSION_END: u64 = 0x2545F4914F6CDD1D;
const USER: u64 = 0x6A09E667F3BCC909;
const KIND: u64 = 0xBB67AE8584CAA73B;
const CATEGORY: u64 = 0x3C6EF372FE94F82B;
const RANK: u64 = 0xA54FF53A5F1D36F1;
const NOISE1: u64 = 0x510E527FADE682D1;
const NOISE2: u64 = 0x9B05688C2B3E6C1F;
const TASTE_OFFSET: u64 = 0x1F83D9ABFB41BD6B;
const USER_BIAS: u64 = 0x5BE0CD19137E2179;
const ITEM_QUALITY: u64 = 0xCBBB9D5DC1059ED8;
const K_POSITION: u64 = 0xD6E8FEB86659FD93;
const K_USER: u64 = 0xA0761D6478BD642F;
const K_ITEM: u64 = 0xE7037ED1A0B428DB;
const K_TASTE: u64 = 0x8EBC6AF09C88C6E3;

/// An event as the docs define it, with what the tests need to know about it: the user's
/// affinity for the item and whether it started an interaction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Expected {
    user: i64,
    item: i64,
    action: &'static str,
    rating: Option<f64>,
    affinity: f64,
    /// The category of the item was the user's primary one, and the secondary is the same.
    collision: bool,
    starts_interaction: bool,
}

fn zipf(n: u64, s: f64, u: f64) -> u64 {
    let x = (1.0 + u * (((n + 1) as f64).powf(1.0 - s) - 1.0)).powf(1.0 / (1.0 - s));
    ((x.floor() as u64).max(1) - 1).min(n - 1)
}

fn key(seed: u64, kind: u64, id: u64) -> u64 {
    mix(id ^ seed.wrapping_mul(0x9E3779B97F4A7C15) ^ kind)
}

fn draw(base: u64, slot: u64) -> f64 {
    unit(mix(base ^ slot))
}

/// Every event of `seq`'s block up to `seq`, from the docs.
fn reference(seed: u64, keys: u64, items: u64, seq: u64) -> Expected {
    let block_start = seq - seq % 64;
    let mut user = 0i64;
    let mut current: Option<Expected> = None;
    for s in block_start..=seq {
        let base = key(seed, K_POSITION, s);
        let u = draw(base, FUNNEL);
        let follow = current.and_then(|e| {
            let (next, p) = match e.action {
                "view" => ("click", 0.04 + 0.12 * e.affinity),
                "click" => ("cart", 0.25),
                "cart" => ("purchase", 0.45),
                _ => return None,
            };
            (u < p).then_some(Expected {
                action: next,
                starts_interaction: false,
                ..e
            })
        });
        let event = match follow {
            Some(e) => e,
            None => {
                if current.is_none() || draw(base, SESSION_END) < 0.2 {
                    user = zipf(keys, 0.9, draw(base, USER)) as i64;
                }
                let offset = mix(key(seed, K_USER, user as u64) ^ TASTE_OFFSET) % 3_600_000;
                let epoch = (s + offset) / 3_600_000;
                let primary = mix(key(seed, K_TASTE, user as u64) ^ epoch) % 16;
                let secondary = mix(key(seed, K_TASTE, user as u64) ^ epoch.wrapping_sub(1)) % 16;
                let v = draw(base, CATEGORY);
                let category = if v < 0.55 {
                    primary
                } else if v < 0.80 {
                    secondary
                } else {
                    (((v - 0.80) / 0.20 * 16.0) as u64).min(15)
                };
                let size = (items - category).div_ceil(16);
                let item = (category + 16 * zipf(size, 1.1, draw(base, RANK))) as i64;
                let affinity = match category {
                    c if c == primary => 1.0,
                    c if c == secondary => 0.5,
                    _ => 0.0,
                };
                let rating = draw(base, KIND) < 0.15;
                let rating = rating.then(|| {
                    let bias = draw(key(seed, K_USER, user as u64), USER_BIAS) - 0.5;
                    let quality = (draw(key(seed, K_ITEM, item as u64), ITEM_QUALITY) - 0.5) * 1.5;
                    let (u1, u2) = (draw(base, NOISE1), draw(base, NOISE2));
                    let normal =
                        (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                    (2.8 + bias + quality + 1.2 * affinity + 0.7 * normal)
                        .round()
                        .clamp(1.0, 5.0)
                });
                Expected {
                    user,
                    item,
                    action: if rating.is_some() { "rating" } else { "view" },
                    rating,
                    affinity,
                    collision: primary == secondary,
                    starts_interaction: true,
                }
            }
        };
        current = Some(event);
    }
    current.expect("at least one position")
}

/// A generated row as the reference's fields, checking `strength`, `clicked` and `ts`.
fn row_of(r: &Record) -> (i64, i64, String, Option<f64>) {
    let [Value::I64(user), Value::I64(item), Value::Str(action), rating, Value::F64(strength), Value::F64(clicked), Value::I64(ts)] =
        r.row.as_slice()
    else {
        panic!("not a behaviour row: {r:?}")
    };
    let rating = match rating {
        Value::F64(x) => Some(*x),
        Value::Null => None,
        other => panic!("rating {other:?}"),
    };
    let want_strength = match action.as_ref() {
        "view" => 1.0,
        "click" => 2.0,
        "cart" => 3.0,
        "purchase" => 5.0,
        "rating" => rating.expect("a rating has one"),
        other => panic!("action {other}"),
    };
    assert_eq!(*strength, want_strength, "{r:?}");
    let want_clicked = ["click", "cart", "purchase"].contains(&action.as_ref());
    assert_eq!(*clicked, if want_clicked { 1.0 } else { 0.0 }, "{r:?}");
    assert_eq!(*ts, r.event_time);
    (*user, *item, action.to_string(), rating)
}

#[test]
fn events_equal_an_independent_recomputation_from_the_documented_model() {
    let (keys, items, seed) = (1000, 500, 42);
    let rows = generate(&spec(Some(20_000), keys, items, seed), 0, 1, 777);
    assert_eq!(rows.len(), 20_000);
    for (seq, r) in rows.iter().enumerate() {
        let want = reference(seed, keys, items, seq as u64);
        let (user, item, action, rating) = row_of(r);
        assert_eq!(
            (user, item, action.as_str(), rating),
            (want.user, want.item, want.action, want.rating),
            "seq {seq}"
        );
        assert!((0..keys as i64).contains(&user) && (0..items as i64).contains(&item));
    }
    // Far into the stream, one event at a time (a fresh walk from its block's start).
    let model = Behaviour { seed, keys, items };
    for seq in [1u64 << 40, (1 << 40) + 63, 987_654_321_012] {
        let e = model.event(seq);
        let want = reference(seed, keys, items, seq);
        assert_eq!(
            (e.user, e.item, e.action.name(), e.rating, e.ts),
            (want.user, want.item, want.action, want.rating, seq as i64)
        );
    }
}

#[test]
fn the_stream_is_the_same_at_any_parallelism_and_repeats_per_seed() {
    let s = spec(Some(3001), 50, 100, 7);
    let single = generate(&s, 0, 1, 128);
    for parallelism in [2, 3, 5] {
        let mut union: Vec<Record> = (0..parallelism)
            .flat_map(|p| generate(&s, p, parallelism, 64))
            .collect();
        union.sort_by_key(|r| r.event_time);
        assert_eq!(union, single, "parallelism {parallelism}");
    }
    assert_eq!(generate(&s, 0, 1, 1000), single, "same seed, same stream");
    assert_ne!(generate(&spec(Some(3001), 50, 100, 8), 0, 1, 128), single);
}

/// `|observed − expected| ≤ 5 σ` of a binomial share over `n` trials, widened by `inflation`
/// for trials that come in correlated runs (sessions).
fn within(observed: f64, expected: f64, n: f64, inflation: f64, what: &str) {
    let sigma = (expected * (1.0 - expected) * inflation / n).sqrt();
    assert!(
        (observed - expected).abs() <= 5.0 * sigma,
        "{what}: {observed:.5} is more than 5 σ ({sigma:.5}) from {expected:.5}"
    );
}

/// The continuous power law's share of ranks below `m` among `n` (the docs' Zipf draw).
fn zipf_share(m: u64, n: u64, s: f64) -> f64 {
    (((m + 1) as f64).powf(1.0 - s) - 1.0) / (((n + 1) as f64).powf(1.0 - s) - 1.0)
}

#[test]
fn funnel_rates_skew_and_tastes_match_the_documented_model() {
    let (keys, items, seed, n) = (10_000, 1600, 3, 400_000u64);
    let rows: Vec<_> = generate(&spec(Some(n), keys, items, seed), 0, 1, 4096)
        .iter()
        .map(row_of)
        .collect();
    let notes: Vec<Expected> = (0..n).map(|s| reference(seed, keys, items, s)).collect();
    // Funnel: among events whose next position is in the same block, the share followed by
    // the next step on the same item, per step (and per affinity for clicks).
    let mut followed: HashMap<(&str, u64), (f64, f64)> = HashMap::new();
    for s in 0..n as usize - 1 {
        if (s + 1) % 64 == 0 {
            continue;
        }
        let (action, next) = (rows[s].2.as_str(), rows[s + 1].2.as_str());
        let step = match action {
            "view" => "click",
            "click" => "cart",
            "cart" => "purchase",
            _ => continue,
        };
        let class = if action == "view" {
            (notes[s].affinity * 2.0) as u64
        } else {
            0
        };
        let entry = followed.entry((action, class)).or_default();
        entry.1 += 1.0;
        if next == step {
            assert_eq!((rows[s + 1].0, rows[s + 1].1), (rows[s].0, rows[s].1));
            entry.0 += 1.0;
        }
    }
    for ((action, class), p) in [
        (("view", 2), 0.16),
        (("view", 1), 0.10),
        (("view", 0), 0.04),
        (("click", 0), 0.25),
        (("cart", 0), 0.45),
    ] {
        let (yes, all) = followed[&(action, class)];
        within(
            yes / all,
            p,
            all,
            1.0,
            &format!("{action} (affinity {class}/2) followed"),
        );
    }
    // Interactions: ratings are 15%; items in the primary category at 0.55 + 0.2/16 (plus
    // the secondary's 0.25 when it is the same category).
    let starts: Vec<&Expected> = notes.iter().filter(|e| e.starts_interaction).collect();
    let k = starts.len() as f64;
    let ratings = starts.iter().filter(|e| e.action == "rating").count() as f64;
    within(ratings / k, 0.15, k, 1.0, "rating share of interactions");
    let primary = starts.iter().filter(|e| e.affinity == 1.0).count() as f64;
    let expected: f64 = starts
        .iter()
        .map(|e| 0.55 + 0.2 / 16.0 + if e.collision { 0.25 } else { 0.0 })
        .sum::<f64>()
        / k;
    within(primary / k, expected, k, 1.0, "primary-category share");
    // Skew: the share of events by the 10 most active users, and of interactions with each
    // category's most popular item (100 items per category), as the power laws give.
    let top_users = rows.iter().filter(|r| r.0 < 10).count() as f64;
    within(
        top_users / n as f64,
        zipf_share(10, keys, 0.9),
        n as f64,
        // Events come in sessions of ~5 and heavy users' sessions are many: a loose bound.
        25.0,
        "top-10 users' share",
    );
    let top_items = starts.iter().filter(|e| e.item < 16).count() as f64;
    within(
        top_items / k,
        zipf_share(1, 100, 1.1),
        k,
        1.0,
        "most popular item per category",
    );
    // Ratings are 1..5 with a MovieLens-like mean.
    let rated: Vec<f64> = rows.iter().filter_map(|r| r.3).collect();
    assert!(rated.iter().all(|r| [1.0, 2.0, 3.0, 4.0, 5.0].contains(r)));
    let mean = rated.iter().sum::<f64>() / rated.len() as f64;
    assert!((3.2..4.0).contains(&mean), "mean rating {mean}");
}

#[test]
fn too_few_items_and_foreign_columns_are_errors() {
    let schema = generator_schema(Workload::Behaviour);
    let e = Generator::new(&spec(None, 5, 15, 0), &schema, 0, 1).expect_err("items");
    assert_eq!(
        e.to_string(),
        "generator: items must be at least 16 (one per taste category), found 15"
    );
    let e = Generator::new(
        &spec(None, 5, 100, 0),
        &generator_schema(Workload::W1),
        0,
        1,
    )
    .expect_err("w1 schema");
    assert_eq!(
        e.to_string(),
        "generator: the schema needs column \"item\" of type i64 (schema: user, amount, ts)"
    );
}

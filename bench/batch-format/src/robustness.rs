//! Hostile frames: each format's decoder fed corrupted copies of a real W1 frame (bytes
//! overwritten, a 32-bit field set to a large value, the frame cut short). A decoder must
//! return an error (or, where the damage hits only values, a batch), never panic.

use crate::pipeline::Path;
use crate::w1::KeyKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Outcomes of one format's decodes.
#[derive(Debug, Default, Clone)]
pub struct Outcomes {
    /// Decoded to a batch.
    pub ok: u64,
    /// Refused with an error.
    pub err: u64,
    /// Panicked.
    pub panic: u64,
    /// Where the panics came from (file:line and message), distinct, first few.
    pub sites: Vec<String>,
}

static SITES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A deterministic xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` corruptions of `good`.
fn mutants(good: &[u8], n: usize, seed: u64) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut r = Rng(seed | 1);
    (0..n).map(move |_| {
        let mut f = good.to_vec();
        match r.next() % 4 {
            0 => f.truncate(r.next() as usize % good.len()),
            1 => {
                let i = r.next() as usize % f.len().saturating_sub(4).max(1);
                let v = [u32::MAX, 0x7fff_ffff, 1 << 24, 0xffff][r.next() as usize % 4];
                let end = (i + 4).min(f.len());
                f[i..end].copy_from_slice(&v.to_le_bytes()[..end - i]);
            }
            _ => {
                for _ in 0..1 + r.next() % 4 {
                    let i = r.next() as usize % f.len();
                    f[i] = r.next() as u8;
                }
            }
        }
        f
    })
}

fn run(frames: impl Iterator<Item = Vec<u8>>, decode: impl Fn(&[u8]) -> bool) -> Outcomes {
    let mut o = Outcomes::default();
    for f in frames {
        match catch_unwind(AssertUnwindSafe(|| decode(&f))) {
            Ok(true) => o.ok += 1,
            Ok(false) => o.err += 1,
            Err(_) => o.panic += 1,
        }
    }
    if let Ok(mut sites) = SITES.lock() {
        o.sites = std::mem::take(&mut *sites);
    }
    o
}

/// One W1 partition batch of `keys` for the own format.
fn own_frame(keys: KeyKind) -> Vec<u8> {
    let mut p = crate::own::Own::new(keys);
    let b = p.generate(0, crate::w1::BATCH);
    let [b, _] = p.scatter(b);
    let mut out = Vec::new();
    own_batch::wire::encode(&b, &mut out);
    out
}

/// Decodes `n` corruptions of a W1 frame with every format; `(format, outcomes)`.
pub fn check(n: usize) -> Vec<(&'static str, Outcomes)> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        // The first Arrow function above arrow-buffer on the stack: who made the bad call.
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        let caller = trace
            .lines()
            .map(str::trim)
            .filter_map(|l| l.strip_prefix("at "))
            .find(|f| {
                ["/arrow-ipc-", "/arrow-data-", "/arrow-array-"]
                    .iter()
                    .any(|c| f.contains(c))
            })
            .and_then(|f| {
                f.rsplit_once("/src/").map(|(krate, at)| {
                    format!("{}/src/{at}", krate.rsplit('/').next().unwrap_or(""))
                })
            })
            .unwrap_or_default();
        let site = format!(
            "{at}: {} (called from {caller})",
            msg.chars().take(60).collect::<String>()
        );
        if let Ok(mut sites) = SITES.lock() {
            if sites.len() < 8
                && !sites
                    .iter()
                    .any(|s| s.split(": ").next() == site.split(": ").next())
            {
                sites.push(site);
            }
        }
    }));
    let mut results = Vec::new();

    // Rows: bincode through quiver_protocol::codec.
    {
        use quiver_protocol::{codec, Record, StreamElement, Value};
        let batch: Vec<Record> = (0..512u64)
            .map(|s| {
                let (u, a, t) = crate::w1::event(s);
                Record {
                    event_time: t,
                    row: vec![
                        Value::from(format!("u{u}").as_str()),
                        Value::F64(a),
                        Value::I64(t),
                    ],
                }
            })
            .collect();
        let good = codec::encode(&StreamElement::Records(batch)).unwrap_or_default();
        let o = run(mutants(&good, n, 1), |f| {
            codec::decode::<StreamElement>(f).is_ok()
        });
        results.push(("rows (bincode)", o));
    }

    for (name, keys) in [
        ("own, i64 keys", KeyKind::I64),
        ("own, string keys", KeyKind::Str),
    ] {
        let good = own_frame(keys);
        let limits = own_batch::wire::Limits::default();
        let o = run(mutants(&good, n, 2), |f| {
            own_batch::wire::decode(f, &limits, None).is_ok()
        });
        results.push((name, o));
    }

    #[cfg(feature = "arrow")]
    for (name, keys, layout) in [
        (
            "arrow IPC, i64 keys",
            KeyKind::I64,
            crate::arrow_path::StrLayout::Utf8,
        ),
        (
            "arrow IPC, Utf8 keys",
            KeyKind::Str,
            crate::arrow_path::StrLayout::Utf8,
        ),
        (
            "arrow IPC, Utf8View keys",
            KeyKind::Str,
            crate::arrow_path::StrLayout::View,
        ),
    ] {
        let (schema_msg, good) = crate::arrow_path::frames(keys, layout);
        let o = run(mutants(&good, n, 3), |f| {
            crate::arrow_path::decode_frame(&schema_msg, f)
        });
        results.push((name, o));
        let o = run(mutants(&good, n, 3), |f| {
            crate::arrow_path::precheck(f) && crate::arrow_path::decode_frame(&schema_msg, f)
        });
        results.push((
            match name {
                "arrow IPC, i64 keys" => "arrow IPC + precheck, i64 keys",
                "arrow IPC, Utf8 keys" => "arrow IPC + precheck, Utf8 keys",
                _ => "arrow IPC + precheck, Utf8View keys",
            },
            o,
        ));
    }

    std::panic::set_hook(hook);
    results
}

//! `batch-format-bench`: the W1 data path as rows, Arrow or our own columnar format.
//!
//! ```text
//! batch-format-bench run --path rows|arrow|arrow-view|own|own-plain --keys i64|str [--events N]
//! batch-format-bench verify [--events N]      every path, both key kinds: same sink digests
//! batch-format-bench robustness [--n N]       corrupted frames per format: ok / error / panic
//! ```
//!
//! `run` prints one line of `name=value` fields (see README.md).

use batch_format_bench::pipeline::{self, Path, Report, STEPS};
use batch_format_bench::w1::KeyKind;
use batch_format_bench::{alloc_count, own, robustness, rows};
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn measure<P: Path>(mut p: P, events: u64) -> (Report, f64, u64) {
    let start = Instant::now();
    let report = pipeline::run(&mut p, events);
    let secs = start.elapsed().as_secs_f64();
    (report, secs, p.wire_bytes())
}

fn run_path(path: &str, keys: KeyKind, events: u64) -> Result<(Report, f64, u64), String> {
    Ok(match path {
        "rows" => measure(rows::Rows::new(keys), events),
        "own" => measure(own::Own::new(keys), events),
        "own-plain" => measure(own::Own::with_encoding(keys, false), events),
        #[cfg(feature = "arrow")]
        "arrow" | "arrow-view" => {
            use batch_format_bench::arrow_path::{ArrowPath, StrLayout};
            let layout = if path == "arrow" {
                StrLayout::Utf8
            } else {
                StrLayout::View
            };
            measure(ArrowPath::new(keys, layout), events)
        }
        other => {
            return Err(format!(
                "unknown path {other:?} (rows, arrow, arrow-view, own, own-plain)"
            ))
        }
    })
}

fn paths() -> Vec<&'static str> {
    let mut p = vec!["rows", "own", "own-plain"];
    if cfg!(feature = "arrow") {
        p.extend(["arrow", "arrow-view"]);
    }
    p
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = arg(&args, "--events")
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(10_000_000);
    let keys = match arg(&args, "--keys").as_deref() {
        Some("str") => KeyKind::Str,
        _ => KeyKind::I64,
    };
    match args.get(1).map(String::as_str) {
        Some("run") => {
            let path = arg(&args, "--path").unwrap_or_else(|| "rows".into());
            let (r, secs, wire) = match run_path(&path, keys, events) {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2);
                }
            };
            let ev = events as f64;
            let mut line = format!(
                "path={path} keys={} events={events} secs={secs:.4} ns_per_event={:.1} \
                 wire_bytes_per_wire_event={:.2} wire_bytes_per_event={:.2} running_rows={} window_rows={} digest={:016x}{:016x}",
                if keys == KeyKind::I64 { "i64" } else { "str" },
                secs * 1e9 / ev,
                wire as f64 / r.wire_events.max(1) as f64,
                wire as f64 / ev,
                r.digest.running_rows,
                r.digest.window_rows,
                r.digest.running_sum,
                r.digest.window_sum,
            );
            if alloc_count::COUNTING {
                let total: u64 = r.allocs.iter().map(|c| c.allocs).sum();
                line += &format!(" allocs_per_event={:.3}", total as f64 / ev);
                for (name, c) in STEPS.iter().zip(&r.allocs) {
                    line += &format!(" allocs_{name}={:.3}", c.allocs as f64 / ev);
                }
                let bytes: u64 = r.allocs.iter().map(|c| c.bytes).sum();
                line += &format!(" alloc_bytes_per_event={:.1}", bytes as f64 / ev);
            }
            println!("{line}");
        }
        Some("verify") => {
            let events = arg(&args, "--events")
                .and_then(|s| s.parse().ok())
                .unwrap_or(200_000);
            let mut failed = false;
            for keys in [KeyKind::I64, KeyKind::Str] {
                let mut first = None;
                for path in paths() {
                    let (r, _, _) = run_path(path, keys, events).unwrap_or_else(|e| panic!("{e}"));
                    println!("{keys:?} {path}: {:?}", r.digest);
                    match first {
                        None => first = Some(r.digest),
                        Some(d) if d != r.digest => failed = true,
                        Some(_) => {}
                    }
                }
            }
            if failed {
                eprintln!("the paths disagree");
                std::process::exit(1);
            }
            println!("every path gave the same sink digest");
        }
        Some("robustness") => {
            let n = arg(&args, "--n")
                .and_then(|s| s.parse().ok())
                .unwrap_or(100_000);
            for (name, o) in robustness::check(n) {
                println!(
                    "{name}: {n} corrupted frames: {} decoded, {} refused, {} panicked",
                    o.ok, o.err, o.panic
                );
                for site in &o.sites {
                    println!("    panic at {site}");
                }
            }
        }
        _ => {
            eprintln!("usage: batch-format-bench run --path rows|arrow|arrow-view|own|own-plain --keys i64|str [--events N] | verify [--events N] | robustness [--n N]");
            std::process::exit(2);
        }
    }
}

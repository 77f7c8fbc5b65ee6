//! Writes every target's seed corpus (`quiver_fuzz_checks::TARGETS`) into
//! `fuzz/corpus/TARGET/seed-N`: run from the repository root with
//! `cargo run -p quiver-fuzz-checks --bin fuzz-seeds` after an encoding changes.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for target in quiver_fuzz_checks::TARGETS {
        let dir = root.join(target.name);
        std::fs::create_dir_all(&dir)?;
        for (i, seed) in (target.seeds)().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
    }
    Ok(())
}

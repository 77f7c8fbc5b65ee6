//! The stable smoke run of the fuzz targets: every committed corpus file
//! (`fuzz/corpus/TARGET/`), every committed crash regression (`fuzz/regressions/TARGET/`),
//! the seeds made from real encodings, and a few thousand seeded mutations of them go
//! through the same checks the cargo-fuzz targets run. A panic is a failed property.

use quiver_fuzz_checks::mutate::{mutate, SplitMix};
use quiver_fuzz_checks::{Target, TARGETS};
use std::path::Path;

/// Mutated inputs per target.
const MUTATIONS: usize = 2000;

/// The files of `fuzz/FOLDER/TARGET`, sorted by name (none if the folder does not exist).
fn committed(folder: &str, target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(folder)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.expect("a readable folder").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("a readable corpus file"))
        .collect()
}

fn smoke(name: &str) {
    let target: &Target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("a known target");
    let corpus = committed("corpus", name);
    assert!(
        !corpus.is_empty(),
        "{name} has no committed corpus: run `cargo run -p quiver-fuzz-checks --bin fuzz-seeds`"
    );
    let mut inputs = corpus;
    inputs.extend(committed("regressions", name));
    inputs.extend((target.seeds)());
    for input in &inputs {
        (target.check)(input);
    }
    let mut rng = SplitMix::new(0x5eed ^ name.len() as u64);
    for _ in 0..MUTATIONS {
        let input = &inputs[rng.below(inputs.len())];
        let other = &inputs[rng.below(inputs.len())];
        (target.check)(&mutate(&mut rng, input, other));
    }
}

#[test]
fn every_target_is_smoke_tested() {
    let tested = [
        "frame",
        "state_chunk",
        "batch",
        "state_piece",
        "checkpoint_store",
        "operator_state",
        "job_spec",
        "csv_records",
        "jsonl_records",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, tested, "a target without a smoke test below");
}

#[test]
fn frames_survive_arbitrary_bytes() {
    smoke("frame");
}

#[test]
fn state_chunks_survive_arbitrary_bytes() {
    smoke("state_chunk");
}

#[test]
fn batches_survive_arbitrary_bytes() {
    smoke("batch");
}

#[test]
fn state_pieces_survive_arbitrary_bytes() {
    smoke("state_piece");
}

#[test]
fn checkpoint_records_survive_arbitrary_bytes() {
    smoke("checkpoint_store");
}

#[test]
fn operator_state_survives_arbitrary_bytes() {
    smoke("operator_state");
}

#[test]
fn job_specs_survive_arbitrary_text() {
    smoke("job_spec");
}

#[test]
fn csv_records_survive_arbitrary_text() {
    smoke("csv_records");
}

#[test]
fn jsonl_records_survive_arbitrary_text() {
    smoke("jsonl_records");
}

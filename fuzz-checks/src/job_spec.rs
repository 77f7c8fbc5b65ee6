//! Job specs (`quiver_protocol::spec`): TOML text parsed and validated by
//! [`JobSpec::parse`], as `quiver job submit` and the coordinator do, then planned.
//!
//! Properties: parsing returns a [`quiver_protocol::spec::SpecError`] or a spec, never
//! panics; a valid spec plans ([`JobPlan::from_spec`]), each operator's state schema
//! restores from itself, and the spec survives a wire round trip (the admin request carries
//! it encoded).

use quiver_protocol::codec;
use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::state_schema::StateSchema;
use std::path::Path;

/// Checks one input: the text of a spec.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = JobSpec::parse(text, Path::new("/nonexistent/quiver-fuzz")) else {
        return;
    };
    let plan = JobPlan::from_spec(&spec);
    for op in &plan.operators {
        if let Some(schema) = StateSchema::of(op) {
            schema
                .restore_from(&schema, "fuzzed")
                .expect("a state schema restores from itself");
        }
    }
    let encoded = codec::encode(&spec).expect("a valid spec encodes");
    let back: JobSpec = codec::decode(&encoded).expect("its encoding decodes");
    assert_eq!(
        codec::encode(&back).expect("encodes again"),
        encoded,
        "a spec changed on a wire round trip"
    );
}

/// The example jobs and the specs of the other targets.
pub fn seeds() -> Vec<Vec<u8>> {
    [
        include_str!("../../examples/spend-per-user/job.toml"),
        include_str!("../../examples/ctr-scoring/job.toml"),
        include_str!("../../examples/w1/job.toml"),
        crate::operator_state::SPEC,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

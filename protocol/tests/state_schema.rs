//! State schemas: which spec changes a saved state survives (aggregates found by name) and
//! which it refuses, and the framing of snapshot pieces.

use quiver_protocol::plan::JobPlan;
use quiver_protocol::spec::JobSpec;
use quiver_protocol::state_schema::{unwrap, wrap, StateSchema};
use std::path::Path;

const SPEC: &str = r#"
[job]
name = "j"

[[source]]
name = "events"
kind = "generator"
count = 10

[[stage]]
name = "agg"
kind = "aggregate"
input = "events"
key = ["user"]
aggregates = { n = "count()", total = "sum(amount)", top = "max(amount)" }

[[stage]]
name = "lr"
kind = "linear_regression"
input = "events"
features = ["amount"]
label = "ts"

[[sink]]
name = "out"
kind = "discard"
input = "agg"
"#;

/// The state schema of operator `name` in `SPEC` with `from` replaced by `to`.
fn schema(from: &str, to: &str, name: &str) -> StateSchema {
    assert!(SPEC.contains(from), "{from:?}");
    let spec = JobSpec::parse(&SPEC.replace(from, to), Path::new("/jobs")).unwrap();
    let plan = JobPlan::from_spec(&spec);
    let op = plan.operators.iter().find(|o| o.name == name).unwrap();
    StateSchema::of(op).expect("a stateful operator")
}

fn agg(aggregates: &str) -> StateSchema {
    schema(
        r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#,
        aggregates,
        "agg",
    )
}

#[test]
fn an_unchanged_spec_restores_values_in_place() {
    let saved = agg(r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#);
    assert_eq!(saved.restore_from(&saved, "agg"), Ok(vec![0, 1, 2]));
}

#[test]
fn reordered_and_dropped_aggregates_are_found_by_name() {
    let saved = agg(r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#);
    let now = agg(r#"{ top = "max(amount)", n = "count()" }"#);
    assert_eq!(now.restore_from(&saved, "agg"), Ok(vec![2, 0]));
}

#[test]
fn a_changed_function_or_an_added_aggregate_is_refused_with_what_changed() {
    let saved = agg(r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#);
    let changed = agg(r#"{ n = "count()", total = "avg(amount)", top = "max(amount)" }"#);
    let e = changed.restore_from(&saved, "agg").unwrap_err();
    assert!(
        e.contains(r#""total" was sum(amount: f64) and is avg(amount: f64) now"#),
        "{e}"
    );
    let added = agg(
        r#"{ n = "count()", total = "sum(amount)", top = "max(amount)", low = "min(amount)" }"#,
    );
    let e = added.restore_from(&saved, "agg").unwrap_err();
    assert!(e.contains(r#""low" = min(amount: f64) is new"#), "{e}");
    // Same names, swapped definitions: found by name, so refused, never read by position.
    let swapped = agg(r#"{ n = "sum(amount)", total = "count()", top = "max(amount)" }"#);
    assert!(swapped.restore_from(&saved, "agg").is_err());
}

#[test]
fn a_changed_key_window_or_kind_is_refused() {
    let saved = agg(r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#);
    let keyed = schema(r#"key = ["user"]"#, r#"key = ["user", "ts"]"#, "agg");
    let e = keyed.restore_from(&saved, "agg").unwrap_err();
    assert!(
        e.contains("its key was (user: i64) and is (user: i64, ts: i64) now"),
        "{e}"
    );
    let windowed = schema(
        r#"key = ["user"]"#,
        "key = [\"user\"]\nwindow = { kind = \"session\", gap = \"1s\" }",
        "agg",
    );
    let e = windowed.restore_from(&saved, "agg").unwrap_err();
    assert!(
        e.contains("its window was none (a running aggregate) and is session with gap 1s now"),
        "{e}"
    );
    let lr = schema("name = \"lr\"", "name = \"lr\"", "lr");
    let e = lr.restore_from(&saved, "agg").unwrap_err();
    assert!(
        e.contains("its kind was aggregate and is linear_regression now"),
        "{e}"
    );
}

#[test]
fn a_model_with_other_features_is_refused() {
    let saved = schema("features = [\"amount\"]", "features = [\"amount\"]", "lr");
    let now = schema(
        "features = [\"amount\"]",
        "features = [\"amount\", \"user\"]",
        "lr",
    );
    let e = now.restore_from(&saved, "lr").unwrap_err();
    assert!(e.contains("\"model\" was features [amount]"), "{e}");
}

#[test]
fn matrix_factorization_state_is_keyed_by_its_user_column() {
    let mf = "name = \"mf\"\nkind = \"matrix_factorization\"\ninput = \"events\"\n\
              user = \"user\"\nitem = \"ts\"\nrating = \"amount\"\n\n[[stage]]\nname = \"lr\"";
    let keyed = schema("name = \"lr\"", mf, "mf");
    let key: Vec<String> = keyed
        .key
        .iter()
        .map(|c| format!("{}: {}", c.name, c.ty))
        .collect();
    assert_eq!(key, ["user: i64"]);
    // State saved without a key (before users were kept by key group) is refused by name.
    let unkeyed = StateSchema {
        key: Vec::new(),
        ..keyed.clone()
    };
    let e = keyed.restore_from(&unkeyed, "mf").unwrap_err();
    assert!(e.contains("its key was () and is (user: i64) now"), "{e}");
}

#[test]
fn pieces_carry_their_schema_and_refuse_garbage() {
    let saved = agg(r#"{ n = "count()", total = "sum(amount)", top = "max(amount)" }"#);
    let piece = wrap(&saved.encode(), b"operator bytes");
    let (schema, bytes) = unwrap(piece).unwrap();
    assert_eq!(schema, saved);
    assert_eq!(bytes, b"operator bytes");
    assert!(unwrap(b"no header".to_vec())
        .unwrap_err()
        .contains("older Quiver"));
    let mut cut = wrap(&saved.encode(), b"");
    cut.truncate(10);
    assert!(unwrap(cut).unwrap_err().contains("cut off"));
    let mut huge = b"QST1".to_vec();
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(unwrap(huge).is_err());
}

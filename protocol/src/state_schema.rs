//! What an operator's saved state holds, stored with every snapshot of it, so that a restore —
//! after a failure, or into a changed spec from a savepoint — checks that the spec still fits
//! the state instead of reading it by position.
//!
//! A schema names the operator kind, the key columns, the window, and the values kept per key
//! (an aggregate's `n = count()`, `spend = sum(amount: f64)`; an ML stage's model and what
//! shapes it). [`StateSchema::restore_from`] decides: the kind, key and window must be the
//! same; every value the spec keeps must be in the saved state with the same definition, and
//! is found by name (so reordering aggregates is fine); values the spec dropped are left out.
//! Anything else is refused with a message saying what changed and what to do.
//!
//! On disk a snapshot piece is [`wrap`]ped: a magic tag, the schema's length and bincode, then
//! the operator's own bytes.

use crate::plan::{OperatorKind, OperatorPlan, ParameterRole};
use crate::spec::{FeatureInput, SourceKind, StageKind, WindowSpec};
use crate::value::{Column, Schema, ValueType};
use serde::{Deserialize, Serialize};

/// The operator's kind, key, window and the values it keeps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateSchema {
    /// `aggregate`, `logistic_regression`, `file source`, ...
    pub kind: String,
    /// Key columns with their types (empty for per-partition state).
    pub key: Vec<Column>,
    /// The window of a windowed aggregate.
    pub window: Option<WindowSpec>,
    /// The values kept per key, in the order the operator stores them.
    pub values: Vec<StateValue>,
}

/// One value of a state: its name and what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateValue {
    /// The name (an aggregate's output column, `model`, `position`).
    pub name: String,
    /// What it holds, e.g. `sum(amount: f64)`; equal definitions hold the same thing.
    pub definition: String,
}

impl StateValue {
    fn new(name: &str, definition: String) -> StateValue {
        StateValue {
            name: name.to_string(),
            definition,
        }
    }
}

impl StateSchema {
    /// The schema of the state `op` keeps; `None` for operators without state (sinks and
    /// stateless stages).
    pub fn of(op: &OperatorPlan) -> Option<StateSchema> {
        match &op.kind {
            OperatorKind::Source(source) => Some(Self::per_partition(
                match &source.kind {
                    SourceKind::File(_) => "file source",
                    SourceKind::Generator(_) => "generator source",
                },
                // One piece per split: its identity and how far it was read.
                vec![StateValue::new(
                    "position",
                    "read position per split".into(),
                )],
            )),
            OperatorKind::Stage(stage) => {
                let input = op.input_schema.clone().unwrap_or_default();
                Self::of_stage(&stage.kind, &input)
            }
            OperatorKind::Sink(_) => None,
            // One entry per parameter key: the sum of the workers' changes.
            OperatorKind::Parameters(p) if p.role == ParameterRole::Shard => Some(StateSchema {
                key: Schema::new([("parameter", ValueType::I64)]).columns,
                ..Self::per_partition(
                    "parameter shard",
                    vec![StateValue::new("value", p.model.clone())],
                )
            }),
            OperatorKind::Parameters(_) => None,
        }
    }

    fn per_partition(kind: &str, values: Vec<StateValue>) -> StateSchema {
        StateSchema {
            kind: kind.to_string(),
            key: Vec::new(),
            window: None,
            values,
        }
    }

    fn of_stage(kind: &StageKind, input: &Schema) -> Option<StateSchema> {
        let column_type = |name: &str| {
            input
                .index_of(name)
                .map_or("?".to_string(), |i| input.columns[i].ty.to_string())
        };
        let model = |kind: &str, shape: String| {
            Some(Self::per_partition(
                kind,
                vec![StateValue::new("model", shape)],
            ))
        };
        let features = |f: &FeatureInput| match f {
            FeatureInput::Vector(column) => format!("features {column}"),
            FeatureInput::Columns(columns) => format!("features [{}]", columns.join(", ")),
        };
        match kind {
            StageKind::Aggregate(a) => Some(StateSchema {
                kind: "aggregate".into(),
                key: a
                    .key
                    .iter()
                    .filter_map(|k| input.index_of(k).map(|i| input.columns[i].clone()))
                    .collect(),
                window: a.window,
                values: a
                    .aggregates
                    .iter()
                    .map(|(name, call)| {
                        let function = format!("{:?}", call.function).to_lowercase();
                        let argument = call
                            .column
                            .as_deref()
                            .map_or(String::new(), |c| format!("{c}: {}", column_type(c)));
                        StateValue::new(name, format!("{function}({argument})"))
                    })
                    .collect(),
            }),
            // A predict stage keeps no state: its versions are the learner's.
            StageKind::FeatureHasher(_) | StageKind::VectorAssembler(_) | StageKind::Predict(_) => {
                None
            }
            StageKind::StandardScaler(s) => model(
                "standard_scaler",
                format!(
                    "{}, with_mean {}, with_std {}, window {:?}",
                    features(&s.columns),
                    s.with_mean,
                    s.with_std,
                    s.window
                ),
            ),
            StageKind::OneHot(s) => model(
                "one_hot",
                format!("column {}, max_categories {}", s.column, s.max_categories),
            ),
            StageKind::LogisticRegression(s) => model("logistic_regression", features(&s.features)),
            StageKind::LinearRegression(s) => model(
                "linear_regression",
                format!(
                    "{}, fit_intercept {}",
                    features(&s.features),
                    s.fit_intercept
                ),
            ),
            StageKind::KMeans(s) => {
                model("kmeans", format!("{}, k {}", features(&s.features), s.k))
            }
            // Keyed by user: each user's bias and factors in the user's key group, the rest
            // of the model once per partition.
            StageKind::MatrixFactorization(s) => Some(StateSchema {
                key: input
                    .index_of(&s.user)
                    .map(|i| input.columns[i].clone())
                    .into_iter()
                    .collect(),
                ..Self::per_partition(
                    "matrix_factorization",
                    vec![StateValue::new(
                        "model",
                        format!("{:?}, n_factors {}", s.model, s.n_factors),
                    )],
                )
            }),
            // Per partition, whole: the model, the users' histories, the items' neighbours.
            StageKind::Recommend(s) => model(
                "recommend",
                format!(
                    "user {}, item {}, n_factors {}, history {}, neighbours {}",
                    s.user, s.item, s.n_factors, s.history, s.neighbours
                ),
            ),
        }
    }

    /// How state saved under `saved` restores into this schema: for each of this schema's
    /// values, its position in the saved state. `operator` names the stage in messages.
    pub fn restore_from(&self, saved: &StateSchema, operator: &str) -> Result<Vec<usize>, String> {
        let refuse = |what: String| {
            format!(
                "{operator:?} cannot continue from its saved state: {what}; keep the stage as \
                 it was, give the changed stage a new name (its state then starts empty), or \
                 start the job without --from-savepoint"
            )
        };
        if self.kind != saved.kind {
            return Err(refuse(format!(
                "its kind was {} and is {} now",
                saved.kind, self.kind
            )));
        }
        if self.key != saved.key {
            return Err(refuse(format!(
                "its key was ({}) and is ({}) now",
                typed(&saved.key),
                typed(&self.key)
            )));
        }
        if self.window != saved.window {
            return Err(refuse(format!(
                "its window was {} and is {} now",
                describe_window(saved.window),
                describe_window(self.window)
            )));
        }
        self.values
            .iter()
            .map(
                |value| match saved.values.iter().position(|v| v.name == value.name) {
                    Some(i) if saved.values[i].definition == value.definition => Ok(i),
                    Some(i) => Err(refuse(format!(
                        "{:?} was {} and is {} now",
                        value.name, saved.values[i].definition, value.definition
                    ))),
                    None => Err(refuse(format!(
                        "{:?} = {} is new: the saved state has nothing for it, so it would \
                     cover only what comes after the restore",
                        value.name, value.definition
                    ))),
                },
            )
            .collect()
    }

    /// Its schema's bytes, ready to [`wrap`] pieces with.
    pub fn encode(&self) -> Vec<u8> {
        // A schema is a few hundred bytes of plain data: encoding cannot fail.
        bincode::serde::encode_to_vec(self, bincode::config::standard()).unwrap_or_default()
    }
}

/// `user: string, region: string`.
fn typed(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| format!("{}: {}", c.name, c.ty))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_window(window: Option<WindowSpec>) -> String {
    match window {
        None => "none (a running aggregate)".into(),
        Some(WindowSpec::Tumbling { size }) => format!("tumbling {size:?}"),
        Some(WindowSpec::Sliding { size, slide }) => format!("sliding {size:?} every {slide:?}"),
        Some(WindowSpec::Session { gap }) => format!("session with gap {gap:?}"),
    }
}

/// The tag in front of every wrapped snapshot piece.
const MAGIC: &[u8; 4] = b"QST1";
/// The largest schema a piece may carry.
const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// A snapshot piece: the encoded schema (from [`StateSchema::encode`]) in front of the
/// operator's bytes.
pub fn wrap(schema: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(MAGIC.len() + 4 + schema.len() + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(schema.len() as u32).to_be_bytes());
    bytes.extend_from_slice(schema);
    bytes.extend_from_slice(payload);
    bytes
}

/// The encoded schema and the operator's bytes of a piece made by [`wrap`], borrowed.
pub fn parts(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let header = MAGIC.len() + 4;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return Err(
            "the saved state has no schema (it was written by an older Quiver): start the job \
             without --from-savepoint"
                .into(),
        );
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[MAGIC.len()..header]);
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_SCHEMA_BYTES || bytes.len() < header + len {
        return Err(format!(
            "the saved state's schema is cut off ({len} bytes announced)"
        ));
    }
    Ok((&bytes[header..header + len], &bytes[header + len..]))
}

/// Splits a piece made by [`wrap`] into its schema and the operator's bytes.
pub fn unwrap(mut bytes: Vec<u8>) -> Result<(StateSchema, Vec<u8>), String> {
    let (encoded, payload) = parts(&bytes)?;
    let config = bincode::config::standard().with_limit::<MAX_SCHEMA_BYTES>();
    let (schema, _): (StateSchema, usize) = bincode::serde::decode_from_slice(encoded, config)
        .map_err(|e| format!("the saved state's schema is unreadable: {e}"))?;
    let header = bytes.len() - payload.len();
    bytes.drain(..header);
    Ok((schema, bytes))
}

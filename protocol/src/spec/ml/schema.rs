//! The columns of an ML stage against its input schema, and the schema it emits: the input's
//! columns followed by the columns the stage adds.

use super::{FeatureInput, Predicts, ServingPolicy, UpdatePolicy, RECOMMEND_COLUMNS};
use crate::spec::error::SpecError;
use crate::spec::{StageKind, StageSpec};
use crate::value::{Column, Schema, ValueType};

/// Numbers a feature vector can be made of.
const NUMERIC: [ValueType; 3] = [ValueType::I64, ValueType::F64, ValueType::Bool];
/// Vector columns.
const VECTORS: [ValueType; 2] = [ValueType::Dense, ValueType::Sparse];
/// What `feature_hasher` hashes.
const HASHABLE: [ValueType; 4] = [
    ValueType::I64,
    ValueType::F64,
    ValueType::Bool,
    ValueType::Str,
];
/// Category and id columns.
const IDS: [ValueType; 2] = [ValueType::Str, ValueType::I64];

/// Checks the columns of ML stage `stage` against `input` and returns its output schema.
/// (Aggregates are read by the stage module; they add nothing here.)
pub(in crate::spec) fn output_schema(
    stage: &StageSpec,
    input: &Schema,
) -> Result<Schema, SpecError> {
    let check = Check { stage, input };
    let added: Vec<(&str, ValueType)> = match &stage.kind {
        StageKind::Aggregate(_) => Vec::new(),
        StageKind::StandardScaler(s) => {
            check.features("columns", &s.columns)?;
            check.new_column(&s.output)?;
            vec![(s.output.as_str(), ValueType::Dense)]
        }
        StageKind::FeatureHasher(s) => {
            for name in &s.columns {
                check.column("columns", name, &HASHABLE, "i64, f64, bool or string")?;
            }
            check.new_column(&s.output)?;
            vec![(s.output.as_str(), ValueType::Sparse)]
        }
        StageKind::VectorAssembler(s) => {
            let allowed = [NUMERIC.as_slice(), &VECTORS].concat();
            for name in &s.columns {
                check.column(
                    "columns",
                    name,
                    &allowed,
                    "numeric (i64, f64, bool) or vector",
                )?;
            }
            check.new_column(&s.output)?;
            vec![(s.output.as_str(), ValueType::Dense)]
        }
        StageKind::OneHot(s) => {
            check.column("column", &s.column, &IDS, "string or i64")?;
            check.new_column(&s.output)?;
            vec![(s.output.as_str(), ValueType::Sparse)]
        }
        StageKind::LogisticRegression(s) => {
            check.features("features", &s.features)?;
            check.column("label", &s.label, &NUMERIC, "numeric (i64, f64 or bool)")?;
            check_policy(&check, &s.policy)?;
            let o = &s.outputs;
            check.learner(&[
                ("prediction_col", &o.prediction, ValueType::F64),
                ("probability_col", &o.probability, ValueType::F64),
                ("model_version_col", &o.model_version, ValueType::I64),
            ])?
        }
        StageKind::LinearRegression(s) => {
            check.features("features", &s.features)?;
            check.column("label", &s.label, &NUMERIC, "numeric (i64, f64 or bool)")?;
            check_policy(&check, &s.policy)?;
            let o = &s.outputs;
            check.learner(&[
                ("prediction_col", &o.prediction, ValueType::F64),
                ("model_version_col", &o.model_version, ValueType::I64),
            ])?
        }
        StageKind::KMeans(s) => {
            check.features("features", &s.features)?;
            check_policy(&check, &s.policy)?;
            let o = &s.outputs;
            check.learner(&[
                ("cluster_col", &o.cluster, ValueType::I64),
                ("prediction_col", &o.prediction, ValueType::F64),
                ("model_version_col", &o.model_version, ValueType::I64),
            ])?
        }
        StageKind::Predict(s) => {
            if let Some(features) = &s.features {
                check.features("features", features)?;
            }
            let o = &s.outputs;
            let prediction = ("prediction_col", &o.prediction, ValueType::F64);
            let version = ("model_version_col", &o.model_version, ValueType::I64);
            match s.predicts {
                Predicts::Regression => check.learner(&[prediction, version])?,
                Predicts::Classification => check.learner(&[
                    prediction,
                    ("probability_col", &o.probability, ValueType::F64),
                    version,
                ])?,
                Predicts::Clustering => check.learner(&[
                    ("cluster_col", &o.cluster, ValueType::I64),
                    prediction,
                    version,
                ])?,
            }
        }
        StageKind::MatrixFactorization(s) => {
            check.column("user", &s.user, &IDS, "i64 or string")?;
            check.column("item", &s.item, &IDS, "i64 or string")?;
            check.column("rating", &s.rating, &NUMERIC, "numeric (i64, f64 or bool)")?;
            if s.policy.is_set() && s.parameter_shards.is_none() {
                return Err(check.invalid(
                    "guard / update",
                    "set".into(),
                    "none without parameter_shards: each partition then keeps a model of its \
                     own and no version is swapped; add parameter_shards = N"
                        .into(),
                ));
            }
            check_policy(&check, &s.policy)?;
            let o = &s.outputs;
            check.learner(&[
                ("prediction_col", &o.prediction, ValueType::F64),
                ("model_version_col", &o.model_version, ValueType::I64),
            ])?
        }
        StageKind::Recommend(s) => {
            check.column("user", &s.user, &IDS, "i64 or string")?;
            check.column("item", &s.item, &[ValueType::I64], "i64")?;
            check.column(
                "strength",
                &s.strength,
                &NUMERIC,
                "numeric (i64, f64 or bool)",
            )?;
            for (name, _) in RECOMMEND_COLUMNS {
                check.new_column(name)?;
            }
            RECOMMEND_COLUMNS.to_vec()
        }
    };
    let mut columns = input.columns.clone();
    columns.extend(added.into_iter().map(|(name, ty)| Column {
        name: name.to_string(),
        ty,
    }));
    Ok(Schema { columns })
}

/// The column a drift policy watches is a numeric input column.
fn check_policy(check: &Check<'_>, policy: &ServingPolicy) -> Result<(), SpecError> {
    match &policy.update {
        Some(UpdatePolicy::Drift { column, .. }) => check.column(
            "update.column",
            column,
            &NUMERIC,
            "numeric (i64, f64 or bool)",
        ),
        _ => Ok(()),
    }
}

/// A stage being checked against its input schema.
struct Check<'a> {
    stage: &'a StageSpec,
    input: &'a Schema,
}

impl Check<'_> {
    fn invalid(&self, field: &str, value: String, allowed: String) -> SpecError {
        SpecError::Invalid {
            at: format!("stage \"{}\"", self.stage.name),
            field: field.to_string(),
            value,
            allowed,
        }
    }

    /// Column `name` (of field `field`) exists in the input with one of the types `types`
    /// (described as `what`).
    fn column(
        &self,
        field: &str,
        name: &str,
        types: &[ValueType],
        what: &str,
    ) -> Result<(), SpecError> {
        let ty = self.input.index_of(name).map(|i| self.input.columns[i].ty);
        if ty.is_some_and(|t| types.contains(&t)) {
            return Ok(());
        }
        Err(self.invalid(
            field,
            format!("{name:?}"),
            format!(
                "{what} columns of input \"{}\": {}",
                self.stage.input,
                self.names_of(types)
            ),
        ))
    }

    /// A feature input: a vector column, or distinct numeric columns.
    fn features(&self, field: &str, features: &FeatureInput) -> Result<(), SpecError> {
        match features {
            FeatureInput::Vector(name) => self.column(field, name, &VECTORS, "vector"),
            FeatureInput::Columns(names) => {
                for (i, name) in names.iter().enumerate() {
                    self.column(field, name, &NUMERIC, "numeric (i64, f64 or bool)")?;
                    if names[..i].contains(name) {
                        return Err(self.invalid(
                            field,
                            format!("{name:?}"),
                            "each column once".to_string(),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The `output` column is not already a column of the input.
    fn new_column(&self, output: &str) -> Result<(), SpecError> {
        if self.input.index_of(output).is_none() {
            return Ok(());
        }
        Err(self.invalid(
            "output",
            format!("{output:?}"),
            format!(
                "a name that is not already a column of input \"{}\" ({})",
                self.stage.input,
                self.input.names()
            ),
        ))
    }

    /// The columns a learner adds (field, name, type), checked to be distinct and absent
    /// from the input.
    fn learner<'c>(
        &self,
        added: &[(&str, &'c String, ValueType)],
    ) -> Result<Vec<(&'c str, ValueType)>, SpecError> {
        for (i, (field, name, _)) in added.iter().enumerate() {
            if let Some((other, ..)) = added[..i].iter().find(|(_, n, _)| n == name) {
                return Err(self.invalid(
                    field,
                    format!("{name:?}"),
                    format!("a name other than {other}'s: each added column has its own"),
                ));
            }
        }
        let Some((field, taken, _)) = added
            .iter()
            .find(|(_, name, _)| self.input.index_of(name).is_some())
        else {
            return Ok(added.iter().map(|(_, n, ty)| (n.as_str(), *ty)).collect());
        };
        let names: Vec<&str> = added.iter().map(|(_, n, _)| n.as_str()).collect();
        Err(self.invalid(
            "input",
            format!("{:?}", self.stage.input),
            format!(
                "a stream without a column named \"{taken}\": this stage adds {} (or set \
                 {field} to another name)",
                names.join(", ")
            ),
        ))
    }

    /// The input's columns of the given types, for messages.
    fn names_of(&self, types: &[ValueType]) -> String {
        let names: Vec<&str> = self
            .input
            .columns
            .iter()
            .filter(|c| types.contains(&c.ty))
            .map(|c| c.name.as_str())
            .collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    }
}

//! `quiver model import`: reading the file of a model to import and checking it against the
//! learner stage it becomes a version of. Two formats are taken:
//! - a model saved by the `ml` library (`quiver_ml::Persist::save`: `{"format":
//!   "quiver-ml", "kind": ..., "model": ...}`) of the stage's algorithm:
//!   `streaming_linear_regression_sgd` for `linear_regression`, `online_logistic_regression`
//!   (FTRL) or `streaming_logistic_regression` (SGD / AdaGrad / Adam) for
//!   `logistic_regression`, with the stage's optimizer; `online_kmeans` for `kmeans`, with
//!   the stage's `k`. The version keeps the library's snapshot of it, so a node serves
//!   exactly the saved model;
//! - what `quiver model export --json` writes (`kind` and `parameters`): the parameter vector
//!   of a version of a stage of that kind, served as the stage's model built from it.
//!
//! Both become a parameter vector (`quiver_ml::SharedParameters`' layout), checked here: its
//! feature dimension against the stage's when the spec fixes it (a list of feature
//! columns), every value finite and in range.

use quiver_ml::clustering::{OnlineKMeans, OnlineKMeansParams};
use quiver_ml::linear::{
    FtrlParams, OnlineLogisticRegression, Optimizer, StreamingLinearRegressionParams,
    StreamingLinearRegressionSgd, StreamingLogisticRegression, StreamingLogisticRegressionParams,
};
use quiver_ml::persist::StoredModel;
use quiver_ml::{Persist, SharedParameters};
use quiver_protocol::models::MAX_EXPORT_PARAMETERS;
use quiver_protocol::spec::{FeatureInput, LinearOptimizer, StageKind};
use serde::Deserialize;

/// A model file read for a stage: what the registry stores for the version.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ModelFile {
    /// The parameter vector.
    pub(crate) parameters: Vec<f64>,
    /// The library's snapshot of a saved model (`None`: an export).
    pub(crate) snapshot: Option<Vec<u8>>,
}

/// The part of `quiver model export --json` an import reads.
#[derive(Deserialize)]
struct ExportFile {
    kind: String,
    parameters: Vec<f64>,
}

/// The algorithm a learner stage trains, as an import checks it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Algorithm {
    Linear(Optimizer),
    LogisticFtrl,
    Logistic(Optimizer),
    KMeans { k: usize },
}

impl Algorithm {
    /// The stage's algorithm and the feature dimension its spec fixes; `None` for a stage
    /// that is no linear learner.
    fn of(kind: &StageKind) -> Option<(Algorithm, Option<usize>)> {
        let dim = |features: &FeatureInput| match features {
            FeatureInput::Columns(columns) => Some(columns.len()),
            FeatureInput::Vector(_) => None,
        };
        match kind {
            StageKind::LinearRegression(s) => {
                Some((Algorithm::Linear(gradient(s.optimizer)?), dim(&s.features)))
            }
            StageKind::LogisticRegression(s) => {
                let algorithm =
                    gradient(s.optimizer).map_or(Algorithm::LogisticFtrl, Algorithm::Logistic);
                Some((algorithm, dim(&s.features)))
            }
            StageKind::KMeans(s) => Some((
                Algorithm::KMeans {
                    k: usize::try_from(s.k).unwrap_or(usize::MAX),
                },
                dim(&s.features),
            )),
            _ => None,
        }
    }

    /// The stage kind, as the spec and exports name it.
    fn kind(self) -> &'static str {
        match self {
            Algorithm::Linear(_) => "linear_regression",
            Algorithm::LogisticFtrl | Algorithm::Logistic(_) => "logistic_regression",
            Algorithm::KMeans { .. } => "kmeans",
        }
    }

    /// How a person reads it: `linear_regression (optimizer sgd)`.
    fn describe(self) -> String {
        let optimizer = match self {
            Algorithm::KMeans { k } => return format!("kmeans (k {k})"),
            Algorithm::LogisticFtrl => "ftrl",
            Algorithm::Linear(o) | Algorithm::Logistic(o) => match o {
                Optimizer::Sgd => "sgd",
                Optimizer::AdaGrad => "adagrad",
                Optimizer::Adam => "adam",
            },
        };
        format!("{} (optimizer {optimizer})", self.kind())
    }

    /// The length of the parameter vector of a model of this algorithm over `dim` features,
    /// and a check of a vector of that length.
    fn check(self, dim: usize, values: &[f64]) -> Result<usize, String> {
        fn checked<L: SharedParameters>(mut model: L, values: &[f64]) -> Result<usize, String> {
            let len = model.parameter_len();
            if values.len() == len {
                model.read_parameters(values).map_err(|e| e.to_string())?;
            }
            Ok(len)
        }
        let error = |e: quiver_ml::MlError| e.to_string();
        match self {
            Algorithm::Linear(optimizer) => {
                let params = StreamingLinearRegressionParams {
                    optimizer,
                    ..Default::default()
                };
                checked(
                    StreamingLinearRegressionSgd::new(params, dim).map_err(error)?,
                    values,
                )
            }
            Algorithm::LogisticFtrl => checked(
                OnlineLogisticRegression::new(FtrlParams::default(), dim, None).map_err(error)?,
                values,
            ),
            Algorithm::Logistic(optimizer) => {
                let params = StreamingLogisticRegressionParams {
                    optimizer,
                    ..Default::default()
                };
                checked(
                    StreamingLogisticRegression::new(params, dim).map_err(error)?,
                    values,
                )
            }
            Algorithm::KMeans { k } => checked(
                OnlineKMeans::random(OnlineKMeansParams::default(), k, dim, 0.0, 0)
                    .map_err(error)?,
                values,
            ),
        }
    }
}

/// The library's optimiser of a spec's gradient optimiser (`None`: FTRL).
fn gradient(optimizer: LinearOptimizer) -> Option<Optimizer> {
    match optimizer {
        LinearOptimizer::Sgd => Some(Optimizer::Sgd),
        LinearOptimizer::AdaGrad => Some(Optimizer::AdaGrad),
        LinearOptimizer::Adam => Some(Optimizer::Adam),
        LinearOptimizer::Ftrl => None,
    }
}

/// What import takes, for messages.
const TAKES: &str = "import takes a model saved by the quiver-ml library (Persist::save) or \
                     the output of `quiver model export JOB STAGE VERSION --json`";

/// Reads `bytes` as a model for stage `stage` of kind `kind`; the error says what is wrong
/// with the file and what the stage needs.
pub(crate) fn read_model_file(
    stage: &str,
    kind: &StageKind,
    bytes: &[u8],
) -> Result<ModelFile, String> {
    let Some((algorithm, dim)) = Algorithm::of(kind) else {
        return Err(format!(
            "stage {stage:?} is no linear_regression, logistic_regression or kmeans: only \
             their models can be imported (a matrix_factorization version is its mean and \
             items without users, which a saved model cannot be split into without losing \
             what it learnt of them)"
        ));
    };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("the file is not a model (not JSON: {e}); {TAKES}"))?;
    if value.get("format").is_some() {
        let stored: StoredModel = serde_json::from_value(value)
            .map_err(|e| format!("corrupt model file: {e}; {TAKES}"))?;
        return saved_model(stage, algorithm, dim, stored);
    }
    if value.get("parameters").is_some() {
        let export: ExportFile = serde_json::from_value(value).map_err(|e| {
            format!("corrupt export: {e} (kind and parameters must be a string and numbers)")
        })?;
        return exported(stage, algorithm, dim, export);
    }
    Err(format!(
        "the file is JSON but no model: it has neither `format` (a quiver-ml model) nor \
         `parameters` (an export); {TAKES}"
    ))
}

/// A model saved by the library, of the stage's algorithm and dimension.
fn saved_model(
    stage: &str,
    algorithm: Algorithm,
    dim: Option<usize>,
    stored: StoredModel,
) -> Result<ModelFile, String> {
    let expected = Expected {
        stage,
        algorithm,
        dim,
    };
    match stored.kind.as_str() {
        StreamingLinearRegressionSgd::KIND => {
            expected.load(stored, |m: &StreamingLinearRegressionSgd| {
                (Algorithm::Linear(m.params().optimizer), m.weights().len())
            })
        }
        OnlineLogisticRegression::KIND => expected.load(stored, |m: &OnlineLogisticRegression| {
            (Algorithm::LogisticFtrl, m.dim())
        }),
        StreamingLogisticRegression::KIND => {
            expected.load(stored, |m: &StreamingLogisticRegression| {
                (Algorithm::Logistic(m.params().optimizer), m.weights().len())
            })
        }
        OnlineKMeans::KIND => expected.load(stored, |m: &OnlineKMeans| {
            let dim = m.centroids().first().map_or(0, Vec::len);
            (
                Algorithm::KMeans {
                    k: m.centroids().len(),
                },
                dim,
            )
        }),
        other => Err(expected.mismatch(format!(
            "a quiver-ml `{other}` model (importable: streaming_linear_regression_sgd, \
             online_logistic_regression, streaming_logistic_regression, online_kmeans)"
        ))),
    }
}

/// What a saved model must be to become a version of the stage.
struct Expected<'a> {
    stage: &'a str,
    algorithm: Algorithm,
    /// The dimension the stage's spec fixes, if any.
    dim: Option<usize>,
}

impl Expected<'_> {
    /// Says the file holds `file`, not what the stage trains.
    fn mismatch(&self, file: String) -> String {
        format!(
            "stage {:?} trains {}, the file holds {file}: import a model of the stage's \
             algorithm",
            self.stage,
            self.algorithm.describe()
        )
    }

    /// Loads the saved model as an `L`, whose algorithm and dimension `describe` tells,
    /// and checks it.
    fn load<L: SharedParameters + Persist>(
        &self,
        stored: StoredModel,
        describe: impl Fn(&L) -> (Algorithm, usize),
    ) -> Result<ModelFile, String> {
        let kind = stored.kind.clone();
        let model =
            L::from_stored(stored).map_err(|e| format!("cannot load the model file: {e}"))?;
        let (algorithm, dim) = describe(&model);
        if algorithm != self.algorithm {
            return Err(self.mismatch(format!("a quiver-ml {kind} of {}", algorithm.describe())));
        }
        finish(self.stage, algorithm, self.dim, dim, &model)
    }
}

/// Checks a loaded model's dimension and parameters; keeps its snapshot.
fn finish<L: SharedParameters + Persist>(
    stage: &str,
    algorithm: Algorithm,
    dim: Option<usize>,
    file_dim: usize,
    model: &L,
) -> Result<ModelFile, String> {
    check_dim(stage, dim, file_dim)?;
    let mut parameters = Vec::new();
    model.write_parameters(&mut parameters);
    let len = algorithm
        .check(file_dim, &parameters)
        .map_err(|e| format!("the model's parameters are refused: {e}"))?;
    if len != parameters.len() {
        return Err(format!(
            "corrupt model file: its state has {} parameters, a model of dimension {file_dim} \
             has {len}",
            parameters.len()
        ));
    }
    let snapshot = model
        .to_snapshot()
        .map_err(|e| format!("cannot encode the model: {e}"))?;
    Ok(ModelFile {
        parameters,
        snapshot: Some(snapshot),
    })
}

/// The dimension of the file's model against the stage's, when its spec fixes one.
fn check_dim(stage: &str, dim: Option<usize>, file_dim: usize) -> Result<(), String> {
    match dim {
        Some(dim) if dim != file_dim => Err(format!(
            "the model has {file_dim} features, stage {stage:?} reads {dim} (its `features` \
             list): import a model trained on the stage's features"
        )),
        _ => Ok(()),
    }
}

/// An export of a version of a stage of the same kind.
fn exported(
    stage: &str,
    algorithm: Algorithm,
    dim: Option<usize>,
    export: ExportFile,
) -> Result<ModelFile, String> {
    if export.kind != algorithm.kind() {
        return Err(format!(
            "stage {stage:?} is a {}, the export is of a {}: import an export of a stage of \
             the same kind",
            algorithm.kind(),
            export.kind
        ));
    }
    let parameters = export.parameters;
    if parameters.len() > MAX_EXPORT_PARAMETERS {
        return Err(format!(
            "the export has {} parameters, more than {MAX_EXPORT_PARAMETERS}",
            parameters.len()
        ));
    }
    if let Some(dim) = dim {
        // An export leaves out the trailing parameters never written (they are 0).
        let len = algorithm.check(dim, &[])?;
        if parameters.len() > len {
            return Err(format!(
                "the export has {} parameters, a model of stage {stage:?} ({}, {dim} \
                 features) has {len}: it was exported from a stage with other features or \
                 another optimizer",
                parameters.len(),
                algorithm.describe()
            ));
        }
        let mut padded = parameters.clone();
        padded.resize(len, 0.0);
        algorithm
            .check(dim, &padded)
            .map_err(|e| format!("the export's parameters are refused: {e}"))?;
    }
    Ok(ModelFile {
        parameters,
        snapshot: None,
    })
}

#[cfg(test)]
#[path = "model_file_tests.rs"]
mod tests;

//! `quiver model import`: reading the file of a model to import and checking it against the
//! learner stage it becomes a version of. Two formats are taken:
//! - a model saved by the `ml` library (`quiver_ml::Persist::save`: `{"format":
//!   "quiver-ml", "kind": ..., "model": ...}`) of the stage's algorithm:
//!   `streaming_linear_regression_sgd` for `linear_regression`, `online_logistic_regression`
//!   (FTRL) or `streaming_logistic_regression` (SGD / AdaGrad / Adam) for
//!   `logistic_regression`, with the stage's optimizer; `online_kmeans` for `kmeans`, with
//!   the stage's `k`. The version keeps the library's snapshot of it, so a node serves
//!   exactly the saved model. A saved `matrix_factorization` of the stage's model and
//!   factors becomes the shared part of its state, laid out as the stage's parameter servers
//!   hold it (the ratings' count and sum, each item's bias and factors): a version has no
//!   users, a partition serves it with its own;
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
use quiver_ml::recommendation::{MatrixFactorization, MfKind, MfLayout, MfParams};
use quiver_ml::{Persist, SharedParameters};
use quiver_protocol::models::MAX_EXPORT_PARAMETERS;
use quiver_protocol::spec::{FeatureInput, LinearOptimizer, MfModel, StageKind};
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
    Mf { kind: MfKind, n_factors: usize },
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
            StageKind::MatrixFactorization(s) => {
                let kind = match s.model {
                    MfModel::Baseline => MfKind::Baseline,
                    MfModel::BiasedMf => MfKind::BiasedMf,
                    MfModel::FunkMf => MfKind::FunkMf,
                };
                let n_factors = usize::try_from(s.n_factors).unwrap_or(usize::MAX);
                Some((Algorithm::Mf { kind, n_factors }, None))
            }
            _ => None,
        }
    }

    /// The stage kind, as the spec and exports name it.
    fn kind(self) -> &'static str {
        match self {
            Algorithm::Linear(_) => "linear_regression",
            Algorithm::LogisticFtrl | Algorithm::Logistic(_) => "logistic_regression",
            Algorithm::KMeans { .. } => "kmeans",
            Algorithm::Mf { .. } => "matrix_factorization",
        }
    }

    /// How a person reads it: `linear_regression (optimizer sgd)`.
    fn describe(self) -> String {
        let optimizer = match self {
            Algorithm::KMeans { k } => return format!("kmeans (k {k})"),
            Algorithm::Mf { kind, n_factors } => {
                return format!("matrix_factorization ({kind:?}, {n_factors} factors)")
            }
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
            // Its vector has no fixed length: `check_mf` reads it.
            Algorithm::Mf { .. } => Ok(values.len()),
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
            "stage {stage:?} is no linear_regression, logistic_regression, kmeans or \
             matrix_factorization: only their models can be imported"
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
        MatrixFactorization::KIND => saved_mf(&expected, stored),
        other => Err(expected.mismatch(format!(
            "a quiver-ml `{other}` model (importable: streaming_linear_regression_sgd, \
             online_logistic_regression, streaming_logistic_regression, online_kmeans, \
             matrix_factorization)"
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

/// A saved matrix factorisation of the stage's model and factors, as the vector of its
/// shared part (`MfLayout`): the ratings' count and sum, then each item's bias and factors
/// at the item's index. Its users are left out: a version has none.
fn saved_mf(expected: &Expected<'_>, stored: StoredModel) -> Result<ModelFile, String> {
    let model = MatrixFactorization::from_stored(stored)
        .map_err(|e| format!("cannot load the model file: {e}"))?;
    let (kind, n_factors) = (model.params().kind, model.params().n_factors);
    let algorithm = Algorithm::Mf { kind, n_factors };
    if algorithm != expected.algorithm {
        return Err(expected.mismatch(format!("a quiver-ml {}", algorithm.describe())));
    }
    let layout = model.layout();
    let mut parameters = model.rating_stats().to_vec();
    for item in model.items() {
        let (Some(values), Some(index)) = (model.item_parameters(item), layout.item_index(item))
        else {
            return Err(format!(
                "item {item} has no index on the parameter servers (ids up to {}): map the \
                 model's item ids to a dense range first",
                layout.max_item()
            ));
        };
        let end = usize::try_from(index).unwrap_or(usize::MAX) + values.len();
        if end > MAX_EXPORT_PARAMETERS {
            return Err(format!(
                "item {item} lies beyond the {MAX_EXPORT_PARAMETERS} parameters a version \
                 holds: map the model's item ids to a smaller range first"
            ));
        }
        parameters.resize(parameters.len().max(end), 0.0);
        parameters[end - values.len()..end].copy_from_slice(&values);
    }
    check_mf(kind, n_factors, &parameters)
        .map_err(|e| format!("the model's parameters are refused: {e}"))?;
    Ok(ModelFile {
        parameters,
        snapshot: None,
    })
}

/// Checks a matrix factorisation's shared vector: the ratings' count and sum give a finite
/// mean, every item's entries are in the library's range.
fn check_mf(kind: MfKind, n_factors: usize, values: &[f64]) -> Result<(), String> {
    let params = MfParams {
        kind,
        n_factors,
        ..MfParams::biased_mf()
    };
    let mut model = MatrixFactorization::new(params).map_err(|e| e.to_string())?;
    let at = |i: usize| values.get(i).copied().unwrap_or(0.0);
    (model.set_rating_stats([at(MfLayout::COUNT as usize), at(MfLayout::SUM as usize)]))
        .map_err(|e| e.to_string())?;
    let layout = model.layout();
    let first = layout.item_index(0).map_or(2, |i| i as usize);
    for (item, chunk) in values
        .get(first..)
        .unwrap_or(&[])
        .chunks(layout.stride())
        .enumerate()
    {
        let mut entries = chunk.to_vec();
        entries.resize(layout.stride(), 0.0);
        model
            .set_item_parameters(item as u64, &entries)
            .map_err(|e| e.to_string())?;
        model.remove_item(item as u64);
    }
    Ok(())
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
    if let Algorithm::Mf { kind, n_factors } = algorithm {
        check_mf(kind, n_factors, &parameters)
            .map_err(|e| format!("the export's parameters are refused: {e}"))?;
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

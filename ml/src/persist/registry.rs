//! The list of model kinds [`super::load_model`] can rebuild. Every type that
//! implements [`Persist`] adds one line to [`KINDS`].

use super::{Persist, PersistError, StoredModel};
use crate::api::{Model, PipelineModel};
use crate::feature as f;
use crate::linear as l;

type Decoder = fn(StoredModel) -> Result<Box<dyn Model>, PersistError>;

fn decoder<T: Persist + Model + 'static>(
    stored: StoredModel,
) -> Result<Box<dyn Model>, PersistError> {
    Ok(Box::new(T::from_stored(stored)?))
}

/// `(kind, decoder)` for every persistable model of the library.
const KINDS: &[(&str, Decoder)] = &[
    (PipelineModel::KIND, decoder::<PipelineModel>),
    (
        f::StandardScalerModel::KIND,
        decoder::<f::StandardScalerModel>,
    ),
    (f::MinMaxScalerModel::KIND, decoder::<f::MinMaxScalerModel>),
    (f::MaxAbsScalerModel::KIND, decoder::<f::MaxAbsScalerModel>),
    (f::FeatureHasher::KIND, decoder::<f::FeatureHasher>),
    (f::VectorAssembler::KIND, decoder::<f::VectorAssembler>),
    (
        f::OneHotEncoderModel::KIND,
        decoder::<f::OneHotEncoderModel>,
    ),
    (
        f::StringIndexerModel::KIND,
        decoder::<f::StringIndexerModel>,
    ),
    (f::Bucketizer::KIND, decoder::<f::Bucketizer>),
    (
        f::KBinsDiscretizerModel::KIND,
        decoder::<f::KBinsDiscretizerModel>,
    ),
    (f::ImputerModel::KIND, decoder::<f::ImputerModel>),
    (
        l::LinearRegressionModel::KIND,
        decoder::<l::LinearRegressionModel>,
    ),
    (
        l::LogisticRegressionModel::KIND,
        decoder::<l::LogisticRegressionModel>,
    ),
    (
        crate::clustering::KMeansModel::KIND,
        decoder::<crate::clustering::KMeansModel>,
    ),
];

pub(super) fn decode(stored: StoredModel) -> Result<Box<dyn Model>, PersistError> {
    match KINDS.iter().find(|(k, _)| *k == stored.kind) {
        Some((_, decode)) => decode(stored),
        None => Err(PersistError::UnknownKind(stored.kind)),
    }
}

//! The list of model kinds [`super::load_model`] can rebuild. Every type that
//! implements [`Persist`] adds one line to [`KINDS`].

use super::{Persist, PersistError, StoredModel};
use crate::api::{Model, PipelineModel};

type Decoder = fn(StoredModel) -> Result<Box<dyn Model>, PersistError>;

fn decoder<T: Persist + Model + 'static>(
    stored: StoredModel,
) -> Result<Box<dyn Model>, PersistError> {
    Ok(Box::new(T::from_stored(stored)?))
}

/// `(kind, decoder)` for every persistable model of the library.
const KINDS: &[(&str, Decoder)] = &[(PipelineModel::KIND, decoder::<PipelineModel>)];

pub(super) fn decode(stored: StoredModel) -> Result<Box<dyn Model>, PersistError> {
    match KINDS.iter().find(|(k, _)| *k == stored.kind) {
        Some((_, decode)) => decode(stored),
        None => Err(PersistError::UnknownKind(stored.kind)),
    }
}

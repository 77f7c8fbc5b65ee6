//! Save / load of fitted models and snapshots of online learners.
//!
//! A saved model is one JSON document, self-describing and versioned:
//! `{"format": "quiver-ml", "kind": "<stage kind>", "version": N, "model": {...}}`.
//! Loading checks the header first: another format, another kind, a version newer
//! than this build understands, or a body that does not parse are each a distinct
//! [`PersistError`]. Any saved model, including a whole pipeline, can be loaded
//! without knowing its type with [`load_model`].
//!
//! Snapshots (the online learners' checkpoint state) use a compact binary form with
//! the same header fields: magic `QMLS`, the kind, the version, then a bincode body.

mod registry;

use crate::api::Model;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use thiserror::Error;

/// The `format` field of every saved model.
pub const FORMAT: &str = "quiver-ml";

const SNAPSHOT_MAGIC: &[u8; 4] = b"QMLS";
/// Largest snapshot body accepted (1 GiB): a forged length fails before allocating.
const SNAPSHOT_LIMIT: usize = 1 << 30;

/// Why saving or loading failed.
#[derive(Debug, Error)]
pub enum PersistError {
    /// Reading or writing the stream failed.
    #[error("I/O error while saving or loading a model: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a well-formed saved model.
    #[error("corrupt model file: {0}")]
    Corrupt(String),
    /// The document is JSON but not a quiver-ml model.
    #[error("not a quiver-ml model: format is {found:?}, expected \"quiver-ml\"")]
    Format {
        /// The `format` field found.
        found: String,
    },
    /// The file holds another kind of model than the one asked for.
    #[error("the file holds a `{found}` model, expected `{expected}`")]
    Kind {
        /// The kind asked for.
        expected: &'static str,
        /// The kind in the file.
        found: String,
    },
    /// The file was written by a newer version of the library.
    #[error("`{kind}` model has format version {found}, this build reads versions up to {supported}: upgrade quiver-ml")]
    NewerVersion {
        /// The model kind.
        kind: String,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// [`load_model`] met a kind it does not know.
    #[error("unknown model kind `{0}`")]
    UnknownKind(String),
    /// Encoding the model failed.
    #[error("cannot encode model: {0}")]
    Encode(String),
}

/// The saved form of a model: the header fields and the model's own JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// The model kind (e.g. `"standard_scaler_model"`).
    pub kind: String,
    /// The kind's format version.
    pub version: u32,
    /// The model's fields.
    pub model: serde_json::Value,
}

/// A model that can be saved and loaded. Implemented by every fitted model and
/// stateless transformer; gives them [`Model`] through a blanket impl.
pub trait Persist: Serialize + DeserializeOwned {
    /// The kind written in the header; unique in the library.
    const KIND: &'static str;
    /// The format version written by this build; files up to this version load.
    const VERSION: u32;
    /// The oldest snapshot version this build decodes. A snapshot's bincode body is not
    /// self-describing, so a kind whose fields changed raises [`Persist::VERSION`] and sets
    /// this to it: an older snapshot is then refused ([`PersistError::Corrupt`], naming both
    /// versions) instead of being misread. Saved JSON of older versions still loads (its
    /// missing fields take their defaults).
    const OLDEST_SNAPSHOT: u32 = 1;

    /// The saved form.
    fn to_stored(&self) -> Result<StoredModel, PersistError> {
        Ok(StoredModel {
            format: FORMAT.to_string(),
            kind: Self::KIND.to_string(),
            version: Self::VERSION,
            model: serde_json::to_value(self).map_err(|e| PersistError::Encode(e.to_string()))?,
        })
    }

    /// Rebuilds the model from its saved form, checking the header.
    fn from_stored(stored: StoredModel) -> Result<Self, PersistError> {
        check_header(&stored, Self::KIND, Self::VERSION)?;
        serde_json::from_value(stored.model).map_err(|e| PersistError::Corrupt(e.to_string()))
    }

    /// Writes the model as one JSON document.
    fn save(&self, writer: impl Write) -> Result<(), PersistError> {
        write_stored(&self.to_stored()?, writer)
    }

    /// Reads a model written by [`Persist::save`].
    fn load(reader: impl Read) -> Result<Self, PersistError> {
        Self::from_stored(read_stored(reader)?)
    }

    /// The compact binary snapshot used for checkpoints of online learners.
    fn to_snapshot(&self) -> Result<Vec<u8>, PersistError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&Self::VERSION.to_le_bytes());
        let kind = Self::KIND.as_bytes();
        out.extend_from_slice(&(kind.len() as u32).to_le_bytes());
        out.extend_from_slice(kind);
        let body = bincode::serde::encode_to_vec(self, bincode::config::standard())
            .map_err(|e| PersistError::Encode(e.to_string()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a snapshot written by [`Persist::to_snapshot`].
    fn from_snapshot(bytes: &[u8]) -> Result<Self, PersistError> {
        let corrupt = |what: &str| PersistError::Corrupt(format!("snapshot: {what}"));
        let rest = bytes
            .strip_prefix(SNAPSHOT_MAGIC)
            .ok_or_else(|| corrupt("missing QMLS magic"))?;
        let (version, rest) = split_u32(rest).ok_or_else(|| corrupt("truncated header"))?;
        let (kind_len, rest) = split_u32(rest).ok_or_else(|| corrupt("truncated header"))?;
        let kind_len = kind_len as usize;
        if rest.len() < kind_len {
            return Err(corrupt("truncated kind"));
        }
        let (kind, body) = rest.split_at(kind_len);
        let kind = std::str::from_utf8(kind).map_err(|_| corrupt("kind is not UTF-8"))?;
        let header = StoredModel {
            format: FORMAT.to_string(),
            kind: kind.to_string(),
            version,
            model: serde_json::Value::Null,
        };
        check_header(&header, Self::KIND, Self::VERSION)?;
        if version < Self::OLDEST_SNAPSHOT {
            return Err(corrupt(&format!(
                "`{kind}` snapshot of format version {version}: this build decodes its \
                 snapshots from version {} on (the binary layout changed); restore it with \
                 the build that wrote it, or start the model afresh",
                Self::OLDEST_SNAPSHOT
            )));
        }
        let config = bincode::config::standard().with_limit::<SNAPSHOT_LIMIT>();
        let (value, used) = bincode::serde::decode_from_slice(body, config)
            .map_err(|e| PersistError::Corrupt(format!("snapshot body: {e}")))?;
        if used != body.len() {
            return Err(corrupt("trailing bytes after the body"));
        }
        Ok(value)
    }
}

fn split_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

fn check_header(
    stored: &StoredModel,
    kind: &'static str,
    version: u32,
) -> Result<(), PersistError> {
    if stored.format != FORMAT {
        return Err(PersistError::Format {
            found: stored.format.clone(),
        });
    }
    if stored.kind != kind {
        return Err(PersistError::Kind {
            expected: kind,
            found: stored.kind.clone(),
        });
    }
    if stored.version > version {
        return Err(PersistError::NewerVersion {
            kind: stored.kind.clone(),
            found: stored.version,
            supported: version,
        });
    }
    Ok(())
}

fn write_stored(stored: &StoredModel, mut writer: impl Write) -> Result<(), PersistError> {
    serde_json::to_writer(&mut writer, stored).map_err(|e| PersistError::Encode(e.to_string()))?;
    writer.flush()?;
    Ok(())
}

fn read_stored(reader: impl Read) -> Result<StoredModel, PersistError> {
    let value: serde_json::Value = serde_json::from_reader(reader).map_err(|e| {
        if e.is_io() {
            PersistError::Io(e.into())
        } else {
            PersistError::Corrupt(e.to_string())
        }
    })?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != FORMAT {
        return Err(PersistError::Format {
            found: format.to_string(),
        });
    }
    serde_json::from_value(value).map_err(|e| PersistError::Corrupt(e.to_string()))
}

/// Writes any model (including a [`crate::PipelineModel`]) as one JSON document.
pub fn save_model(model: &dyn Model, writer: impl Write) -> Result<(), PersistError> {
    write_stored(&model.to_stored()?, writer)
}

/// Loads any model saved by this library, choosing its type from the header's kind.
pub fn load_model(reader: impl Read) -> Result<Box<dyn Model>, PersistError> {
    model_from_stored(read_stored(reader)?)
}

/// Rebuilds any model from its saved form, choosing its type from the kind.
pub fn model_from_stored(stored: StoredModel) -> Result<Box<dyn Model>, PersistError> {
    if stored.format != FORMAT {
        return Err(PersistError::Format {
            found: stored.format,
        });
    }
    registry::decode(stored)
}

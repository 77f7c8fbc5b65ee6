//! `quiver model export`: a learner's parameter vector as of one version, read from the
//! checkpoint store. The version's chains of the stage's parameter servers (`NAME/params`,
//! every key group) are merged as a restore merges them (base, deltas, header), and each
//! entry — key: the parameter index as ordered `i64` bytes, value: the bincode `f64` — is
//! put at its index; parameters never written are 0.

use super::{codec_err, version_key, ImportRecord, Registry, RegistryError, VersionRecord};
use quiver_protocol::codec;
use quiver_protocol::models::{ModelExport, ModelLineage, ModelVersionInfo, MAX_EXPORT_PARAMETERS};
use quiver_protocol::state_piece::entry::{decode, split_ordered_i64};
use quiver_protocol::state_piece::{self, PieceError};
use quiver_protocol::state_schema;
use quiver_protocol::{CheckpointId, JobId, KeyGroup};
use std::collections::BTreeMap;

/// What to export: a learner stage with parameter servers, and the version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExportRequest {
    /// The job.
    pub(crate) job: JobId,
    /// The learner stage.
    pub(crate) stage: String,
    /// Its kind as the spec names it.
    pub(crate) kind: String,
    /// The operator whose state holds the parameters (`NAME/params`).
    pub(crate) state_operator: String,
    /// The version (a checkpoint id).
    pub(crate) version: CheckpointId,
}

/// Why an export's stored state cannot be read as parameters.
fn bad_state(request: &ExportRequest, why: impl std::fmt::Display) -> RegistryError {
    RegistryError::Export(format!(
        "{} {}: the state of '{}' is not a parameter vector: {why}",
        request.job, request.version, request.state_operator
    ))
}

/// The parameter vector of merged `(key, value)` entries of every key group: each key an
/// index in `0..MAX_EXPORT_PARAMETERS`, each value a finite or not `f64`.
pub(crate) fn parameter_vector<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Vec<f64>, String> {
    let mut by_index: BTreeMap<usize, f64> = BTreeMap::new();
    for (key, value) in entries {
        let (index, rest) = split_ordered_i64(key)?;
        if !rest.is_empty() {
            return Err(format!(
                "parameter key {index} has {} extra bytes",
                rest.len()
            ));
        }
        let index = usize::try_from(index)
            .ok()
            .filter(|&i| i < MAX_EXPORT_PARAMETERS)
            .ok_or_else(|| {
                format!(
                    "parameter index {index} is outside 0..{MAX_EXPORT_PARAMETERS} (the most \
                     parameters an export answers)"
                )
            })?;
        let value: f64 = decode(value).map_err(|e| format!("parameter {index}: {e}"))?;
        if by_index.insert(index, value).is_some() {
            return Err(format!("parameter {index} is held twice"));
        }
    }
    let len = by_index.last_key_value().map_or(0, |(&i, _)| i + 1);
    let mut parameters = vec![0.0; len];
    for (index, value) in by_index {
        parameters[index] = value;
    }
    Ok(parameters)
}

impl Registry {
    /// The parameters of `request`'s stage as of its version: a registered version, or any
    /// complete checkpoint of the job (the model as the rows with that `model_version` saw
    /// it). Holds the registry's lock, so retention cannot prune the checkpoint meanwhile.
    pub(crate) fn export(&self, request: &ExportRequest) -> Result<ModelExport, RegistryError> {
        let _locked = self.locked();
        let ExportRequest {
            job,
            stage,
            version,
            ..
        } = request;
        let (job, version) = (*job, *version);
        if let Some(imported) = self.imported(job, stage, version)? {
            return self.export_imported(request, imported);
        }
        let Some(checkpoint) = self
            .checkpoints
            .list(job)?
            .into_iter()
            .find(|c| c.checkpoint == version)
        else {
            return Err(RegistryError::NoCheckpoint {
                job,
                stage: stage.clone(),
                version,
            });
        };
        let record = self.record(job, stage, version)?;
        let registered = record.is_some();
        let info = match record {
            Some(r) => self.info(job, r, None)?,
            None => ModelVersionInfo {
                stage: stage.clone(),
                version,
                created_ms: checkpoint.completed_at_ms,
                lineage: ModelLineage {
                    job,
                    checkpoint: version,
                    generation: checkpoint.generation,
                },
                metrics: BTreeMap::new(),
                state_operator: request.state_operator.clone(),
                aliases: Vec::new(),
                imported: None,
            },
        };
        let parameters = self.read_parameters(request)?;
        Ok(ModelExport {
            kind: request.kind.clone(),
            info,
            registered,
            parameters,
        })
    }

    /// An imported version's export: its parameters as the registry holds them.
    fn export_imported(
        &self,
        request: &ExportRequest,
        imported: ImportRecord,
    ) -> Result<ModelExport, RegistryError> {
        let (job, stage, version) = (request.job, &request.stage, request.version);
        let record = self
            .record(job, stage, version)?
            .ok_or_else(|| RegistryError::NoVersion {
                job,
                stage: stage.clone(),
                version,
            })?;
        Ok(ModelExport {
            kind: request.kind.clone(),
            info: self.info(job, record, Some(imported.file))?,
            registered: true,
            parameters: imported.parameters,
        })
    }

    /// The stored record of a version, if registered.
    fn record(
        &self,
        job: JobId,
        stage: &str,
        version: CheckpointId,
    ) -> Result<Option<VersionRecord>, RegistryError> {
        self.versions
            .get(version_key(job, stage, version))
            .map_err(super::sled_err(|| {
                format!("{job}: reading version {version}")
            }))?
            .map(|bytes| codec::decode::<VersionRecord>(&bytes))
            .transpose()
            .map_err(codec_err(|| {
                format!("{job}: version {version} of {stage:?}")
            }))
    }

    /// A registered version as the admin API shows it.
    fn info(
        &self,
        job: JobId,
        r: VersionRecord,
        imported: Option<String>,
    ) -> Result<ModelVersionInfo, RegistryError> {
        let aliases = self.aliases_of(job, &r.stage, r.version)?;
        Ok(r.info(aliases, imported))
    }

    /// The aliases naming one version.
    fn aliases_of(
        &self,
        job: JobId,
        stage: &str,
        version: CheckpointId,
    ) -> Result<Vec<String>, RegistryError> {
        Ok(self
            .alias_records(job)?
            .into_iter()
            .filter(|a| a.stage == stage && a.version == version)
            .map(|a| a.alias)
            .collect())
    }

    /// Merges every key group's chain of the state operator in the version's checkpoint
    /// (checksums verified) into the parameter vector.
    fn read_parameters(&self, request: &ExportRequest) -> Result<Vec<f64>, RegistryError> {
        let pieces = self.checkpoints.read_state(
            request.job,
            request.version,
            &request.state_operator,
            0..u32::MAX,
        )?;
        let mut chains: BTreeMap<KeyGroup, Vec<&[u8]>> = BTreeMap::new();
        for (group, bytes) in &pieces {
            let (_, payload) = state_schema::parts(bytes).map_err(|e| bad_state(request, e))?;
            chains.entry(*group).or_default().push(payload);
        }
        let merged = chains
            .into_iter()
            .map(|(group, chain)| {
                state_piece::merge(chain).map_err(|e: PieceError| format!("{group}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad_state(request, e))?;
        parameter_vector(
            merged
                .iter()
                .flat_map(|m| m.entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))),
        )
        .map_err(|e| bad_state(request, e))
    }
}

#[cfg(test)]
mod tests {
    use super::parameter_vector;
    use quiver_protocol::state_piece::entry::{encode, ordered_i64};

    fn entry(index: i64, value: f64) -> (Vec<u8>, Vec<u8>) {
        let mut bytes = Vec::new();
        encode(&value, &mut bytes).unwrap();
        (ordered_i64(index).to_vec(), bytes)
    }

    fn vector(entries: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<f64>, String> {
        parameter_vector(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }

    #[test]
    fn entries_land_at_their_index_and_gaps_are_zero() {
        let v = vector(&[entry(3, -1.5), entry(0, 0.25)]).unwrap();
        assert_eq!(v, vec![0.25, 0.0, 0.0, -1.5]);
        assert!(vector(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_keys_and_values_are_refused_with_the_index() {
        let e = vector(&[entry(-1, 1.0)]).unwrap_err();
        assert!(e.contains("index -1"), "{e}");
        let e = vector(&[entry(1 << 40, 1.0)]).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let e = vector(&[entry(2, 1.0), entry(2, 3.0)]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let (key, _) = entry(4, 0.0);
        let e = vector(&[(key, vec![1, 2, 3, 4, 5, 6, 7, 8, 9])]).unwrap_err();
        assert!(e.contains("parameter 4"), "{e}");
    }
}

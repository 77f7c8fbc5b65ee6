//! What a learner partition with parameter servers scores with (design §6, "Swaps ride on
//! barriers"): its working copy (the latest version, the default), a registered version,
//! or two versions split by record hash, or by key hash where the stage has a key (a
//! canary, an A/B). The choice changes only at a
//! barrier that carries a new serving epoch, so every record before that barrier is scored
//! by the old choice and every record after by the new one. Training goes on on the working
//! copy whatever is served. A `predict` partition serves through the same type under its own
//! name: pinned to a registered version, or (`Latest`: no version yet) nothing.
//!
//! It serves any learner whose version is a parameter vector: what a version's model is
//! (a linear model, k-means' centroids, matrix factorisation's mean and items beside the
//! partition's users) is the stage's, given to [`Served::model_with`] as a loader of the
//! [`Stored`] version. It also keeps, per version, what the partition scored with it
//! (records, labelled records, summed loss and absolute error, correct predictions, time),
//! for `quiver model status`.

use super::columns::data_error;
use super::learner::MakeModel;
use crate::operator::OperatorError;
use crate::parameters::{JobServing, WorkerLink};
use quiver_ml::{Features, MlError, Persist, Prediction, SharedParameters};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::keygroup::{key_hash_codes, murmur_hash};
use quiver_protocol::models::{ServedVersion, Serving};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Versions whose figures are kept besides those served now (the working copy moves to a
/// new version at every barrier).
const KEPT_VERSIONS: usize = 16;

/// Which model scores a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scorer {
    /// The working copy.
    Working,
    /// A registered version.
    Version(u64),
}

/// What scored a record: a version, and whether it was the working copy at that version.
pub(super) type Scored = (u64, bool);

/// What a record scored by a version tells of it, when the record can be judged (it has a
/// label, or the loss needs none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Outcome {
    /// Its loss: log loss (classifiers), squared error (regressions), squared distance to
    /// the assigned centroid (k-means).
    loss: f64,
    /// Its absolute error (regressions; 0 otherwise).
    abs_error: f64,
    /// Predicted right (classifiers).
    correct: bool,
}

impl Outcome {
    /// A supervised learner's `prediction` against label `y`.
    pub(super) fn of_prediction(p: &Prediction, y: f64, classifier: bool) -> Self {
        if !classifier {
            return Outcome::of_regression(p.value, y);
        }
        let p1 = p.probability.unwrap_or(p.value).clamp(1e-15, 1.0 - 1e-15);
        Outcome {
            loss: -if y == 1.0 { p1.ln() } else { (1.0 - p1).ln() },
            abs_error: 0.0,
            correct: p.value == y,
        }
    }

    /// A predicted value against the true `y`: squared and absolute error.
    pub(super) fn of_regression(prediction: f64, y: f64) -> Self {
        let error = prediction - y;
        Outcome {
            loss: error * error,
            abs_error: error.abs(),
            correct: false,
        }
    }

    /// A row assigned to a centroid at squared distance `distance`.
    pub(super) fn of_assignment(distance: f64) -> Self {
        Outcome {
            loss: distance,
            abs_error: 0.0,
            correct: false,
        }
    }
}

/// A registered version as this node loaded it, from which a partition builds the version's
/// model.
pub(super) struct Stored<'a> {
    stage: &'a str,
    version: u64,
    /// Its parameter vector (a checkpoint's leaves out trailing zeros; a saved model's is
    /// whole).
    pub(super) values: &'a Arc<Vec<f64>>,
    /// The `quiver_ml` snapshot of the saved model it was imported from, if any.
    snapshot: Option<&'a [u8]>,
}

impl Stored<'_> {
    /// The version as a model `make` creates for rows of dimension `dim`, reading the
    /// vector; an imported saved model as saved.
    pub(super) fn learner<L: SharedParameters + Persist>(
        &self,
        dim: usize,
        make: &MakeModel<L>,
    ) -> Result<L, OperatorError> {
        let (stage, version, values) = (self.stage, self.version, self.values);
        let mut model = make(dim).map_err(|e| data_error(stage, e))?;
        let len = model.parameter_len();
        let fits = match self.snapshot {
            Some(_) => values.len() == len,
            None => values.len() <= len,
        };
        if !fits {
            return Err(OperatorError::Config(format!(
                "stage \"{stage}\": version {version} has {} parameters, a model for these rows \
                 {len}: it was trained on rows of another dimension",
                values.len()
            )));
        }
        match self.snapshot {
            // An imported saved model serves as saved.
            Some(snapshot) => L::from_snapshot(snapshot).map_err(|e| data_error(stage, e)),
            None => {
                let mut vector = values.to_vec();
                vector.resize(len, 0.0);
                model
                    .read_parameters(&vector)
                    .map_err(|e| data_error(stage, e))?;
                Ok(model)
            }
        }
    }
}

/// A learner partition's serving choice, its models of registered versions (`L`: what a
/// version is built as) and its figures.
pub(super) struct Served<L> {
    stage: String,
    partition: u32,
    serving: Arc<JobServing>,
    epoch: u64,
    choice: Serving,
    /// Models of the registered versions the choice names, built at the first row that
    /// needs them (the row gives the dimension).
    models: BTreeMap<u64, L>,
    figures: BTreeMap<Scored, ServedVersion>,
    /// Figures of the batch under way per scorer (one or two): merged into `figures` at
    /// the batch's end, so a record costs no map lookup.
    in_batch: Vec<(Scored, ServedVersion)>,
    /// Predictions run with a version when it is loaded for a switch (the spec's `warmup`).
    warmup: u32,
}

impl<L> Served<L> {
    /// Runs `warmup` predictions with each version it loads at a switch.
    pub(super) fn set_warmup(&mut self, warmup: u32) {
        self.warmup = warmup;
    }

    /// Partition `partition` of `stage`, serving its working copy until a barrier says
    /// otherwise.
    pub(super) fn new(stage: &str, partition: u32, serving: Arc<JobServing>) -> Self {
        let mut served = Served {
            stage: stage.to_string(),
            partition,
            serving,
            epoch: u64::MAX,
            choice: Serving::Latest,
            models: BTreeMap::new(),
            figures: BTreeMap::new(),
            in_batch: Vec::new(),
            warmup: quiver_protocol::spec::DEFAULT_WARMUP,
        };
        // The deployment's table (epoch of the checkpoint it restores, or 0).
        if let Some(epoch) = served.serving.first_epoch() {
            // A table the node loaded names versions it loaded: nothing can fail here.
            let _ = served.switch(epoch);
        }
        served
    }

    /// What worker `link` of the learner `stage`'s parameter servers serves.
    pub(super) fn of_worker(stage: &str, link: &WorkerLink) -> Self {
        Served::new(stage, link.partition, link.serving.clone())
    }

    /// A barrier carried serving epoch `epoch`: switches to its table when it is new.
    pub(super) fn switch(&mut self, epoch: u64) -> Result<(), OperatorError> {
        if epoch == self.epoch {
            return Ok(());
        }
        let table = self.serving.table(epoch).ok_or_else(|| {
            OperatorError::State(format!(
                "stage \"{}\": serving table {epoch} was not loaded on this node",
                self.stage
            ))
        })?;
        self.choice = table.of(&self.stage).clone();
        let keep = self.choice.versions();
        self.models.retain(|v, _| keep.iter().any(|k| k.0 == *v));
        self.epoch = epoch;
        Ok(())
    }

    /// Builds the models of the versions the choice names with `load` and runs `warmup`
    /// predictions (`run`) with each new one, so the first record a version scores waits
    /// for neither its loading nor cold caches (the warm-up after a switch).
    pub(super) fn warm_with(
        &mut self,
        load: impl Fn(&Stored<'_>) -> Result<L, OperatorError>,
        run: impl Fn(&L),
    ) -> Result<(), OperatorError> {
        for version in self.choice.versions() {
            let runs = match self.models.contains_key(&version.0) {
                true => 0,
                false => self.warmup,
            };
            let model = self.model_with(version.0, &load)?;
            for _ in 0..runs {
                run(model);
            }
        }
        Ok(())
    }

    /// Per record of `batch`, its bucket in [0, 10000) by record hash, when the choice
    /// splits records (`None` otherwise).
    pub(super) fn buckets(&self, batch: &Batch) -> Option<Vec<u32>> {
        if !matches!(self.choice, Serving::Split { .. }) {
            return None;
        }
        let columns: Vec<&Column> = batch.columns().iter().collect();
        self.buckets_of(&columns, batch.len())
    }

    /// Per row, its bucket in [0, 10000) by the hash of `key` (the stage's key columns),
    /// when the choice splits records (`None` otherwise).
    pub(super) fn buckets_of(&self, key: &[&Column], rows: usize) -> Option<Vec<u32>> {
        if !matches!(self.choice, Serving::Split { .. }) {
            return None;
        }
        let codes = key_hash_codes(key, rows);
        Some(
            codes
                .into_iter()
                .map(|c| murmur_hash(c) as u32 % 10_000)
                .collect(),
        )
    }

    /// Who scores a record in `bucket`.
    pub(super) fn scorer(&self, bucket: Option<u32>) -> Scorer {
        match (&self.choice, bucket) {
            (Serving::Latest, _) => Scorer::Working,
            (Serving::Pinned(v), _) => Scorer::Version(v.0),
            (
                Serving::Split {
                    a, b, b_percent, ..
                },
                bucket,
            ) => {
                let on_b = bucket.is_some_and(|k| f64::from(k) < b_percent * 100.0);
                match (on_b, a) {
                    (true, _) => Scorer::Version(b.0),
                    (false, Some(a)) => Scorer::Version(a.0),
                    (false, None) => Scorer::Working,
                }
            }
        }
    }

    /// The model of registered version `version`, built by `load` the first time.
    pub(super) fn model_with(
        &mut self,
        version: u64,
        load: impl FnOnce(&Stored<'_>) -> Result<L, OperatorError>,
    ) -> Result<&L, OperatorError> {
        if !self.models.contains_key(&version) {
            let values = self.serving.values(&self.stage, version).ok_or_else(|| {
                OperatorError::State(format!(
                    "stage \"{}\": version {version} was not loaded on this node",
                    self.stage
                ))
            })?;
            let snapshot = self.serving.snapshot(&self.stage, version);
            let model = load(&Stored {
                stage: &self.stage,
                version,
                values: &values,
                snapshot: snapshot.as_deref().map(Vec::as_slice),
            })?;
            self.models.insert(version, model);
        }
        self.models
            .get(&version)
            .ok_or_else(|| data_error(&self.stage, "a served model went missing"))
    }

    /// Notes a record `scored` scored (`latest`: the working copy at that version), with
    /// what it tells of the version when it can be judged.
    pub(super) fn note(&mut self, scored: Scored, outcome: Option<Outcome>) {
        let at = match self.in_batch.iter().position(|(k, _)| *k == scored) {
            Some(at) => at,
            None => {
                self.in_batch.push((scored, ServedVersion::default()));
                self.in_batch.len() - 1
            }
        };
        let figures = &mut self.in_batch[at].1;
        figures.scored += 1;
        let Some(outcome) = outcome else {
            return;
        };
        figures.labelled += 1;
        figures.loss_sum += outcome.loss;
        figures.abs_error_sum += outcome.abs_error;
        figures.correct += u64::from(outcome.correct);
    }

    /// The batch under way took `micros`: shared over its records' versions.
    pub(super) fn end_batch(&mut self, micros: u64, working: u64) {
        let total: u64 = self.in_batch.iter().map(|(_, f)| f.scored).sum();
        for (key, batch) in std::mem::take(&mut self.in_batch) {
            let f = self.figures.entry(key).or_default();
            f.scored += batch.scored;
            f.labelled += batch.labelled;
            f.loss_sum += batch.loss_sum;
            f.abs_error_sum += batch.abs_error_sum;
            f.correct += batch.correct;
            f.scoring_us += micros * batch.scored / total.max(1);
        }
        // Forget the oldest versions no longer served.
        let serving = self.serving_now(working);
        while self.figures.len() > KEPT_VERSIONS + serving.len() {
            let oldest = self.figures.keys().find(|v| !serving.contains(v)).copied();
            match oldest {
                Some(v) => self.figures.remove(&v),
                None => break,
            };
        }
    }

    /// What scores now (`working`: the working copy's version).
    fn serving_now(&self, working: u64) -> Vec<Scored> {
        let mut now: Vec<Scored> = self
            .choice
            .versions()
            .iter()
            .map(|v| (v.0, false))
            .collect();
        if matches!(
            self.choice,
            Serving::Latest | Serving::Split { a: None, .. }
        ) {
            now.push((working, true));
        }
        now
    }

    /// Its figures per version (`working`: the working copy's version).
    pub(super) fn report(&self, working: u64) -> Vec<ServedVersion> {
        let now = self.serving_now(working);
        self.figures
            .iter()
            .map(|(&(version, latest), f)| ServedVersion {
                stage: self.stage.clone(),
                partition: self.partition,
                version,
                latest,
                current: now.contains(&(version, latest)),
                ..f.clone()
            })
            .collect()
    }
}

/// How a served model scores a row.
pub(super) type Score<L> = fn(&L, Features<'_>) -> Result<Prediction, MlError>;

impl<L: SharedParameters + Persist> Served<L> {
    /// [`Served::warm_with`] for rows of dimension `dim`: each new version scores (`score`) a
    /// dense row of zeros, which reads every parameter.
    pub(super) fn warm(
        &mut self,
        dim: usize,
        make: &MakeModel<L>,
        score: Score<L>,
    ) -> Result<(), OperatorError> {
        let zeros = vec![0.0; dim];
        self.warm_with(
            |stored| stored.learner(dim, make),
            // Only the time matters: a model that cannot score zeros fails on records.
            |model| {
                let _ = std::hint::black_box(score(model, Features::Dense(&zeros)));
            },
        )
    }

    /// [`Served::model_with`] for rows of dimension `dim`.
    pub(super) fn model(
        &mut self,
        version: u64,
        dim: usize,
        make: &MakeModel<L>,
    ) -> Result<&L, OperatorError> {
        self.model_with(version, |stored| stored.learner(dim, make))
    }
}

#[cfg(test)]
#[path = "served_tests.rs"]
mod tests;

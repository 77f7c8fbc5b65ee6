//! `kind = "predict"`: scores each row with a registered version of a learner's model, without
//! training, and adds `prediction` (+ `probability` for a classifier, `cluster` before it for
//! a k-means model) and `model_version`.
//!
//! What it serves is its entry of the job's serving table, under its own name ([`Served`]):
//! the coordinator pins it to the version its `alias` or `version` names, and moves it when
//! the alias moves; the partition switches at the barrier carrying the new table, so every
//! record before that barrier is scored by the old version and every record after by the
//! new one, and a recovery serves what the restored checkpoint served. Until a version
//! serves (the alias is not set yet, the version not registered yet) rows pass with null
//! outputs: nothing waits, so checkpoints, which register versions, go on.

use super::columns::{row_error, ScoreColumns};
use super::features::FeatureReader;
use super::learner::{Build, MakeModel};
use super::served::{Score, Scorer, Served};
use super::stage::AddColumns;
use crate::operator::OperatorError;
use crate::parameters::JobServing;
use quiver_ml::clustering::OnlineKMeans;
use quiver_ml::{OnlineLearner, Persist, Prediction, SharedParameters};
use quiver_protocol::batch::{Batch, Column};
use quiver_protocol::models::ServedVersion;
use quiver_protocol::spec::{PredictStage, Predicts, StageSpec};
use quiver_protocol::{Barrier, Schema};
use std::sync::Arc;
use std::time::Instant;

/// One partition of a predict stage serving models made by `make`, scoring with `score`.
struct Predict<L> {
    stage: String,
    features: FeatureReader,
    predicts: Predicts,
    served: Served<L>,
    make: MakeModel<L>,
    score: Score<L>,
    /// The rows' feature dimension, once a row came.
    dim: Option<usize>,
}

/// Builds partition `partition` of the predict stage `stage` (settings `spec`) reading
/// `input`, once the learner's settings chose the model's algorithm.
pub(super) struct Serve<'a> {
    pub(super) stage: &'a StageSpec,
    pub(super) spec: &'a PredictStage,
    pub(super) input: &'a Schema,
    pub(super) partition: u32,
    pub(super) serving: Arc<JobServing>,
}

impl Serve<'_> {
    /// The partition serving the models `make` creates, scoring a row with `score`.
    fn serve<L>(
        self,
        make: MakeModel<L>,
        score: Score<L>,
    ) -> Result<Box<dyn AddColumns>, OperatorError>
    where
        L: SharedParameters + Persist + Send + 'static,
    {
        let name = &self.stage.name;
        let features = self.spec.features.as_ref().ok_or_else(|| {
            OperatorError::Config(format!("stage \"{name}\": its features were not resolved"))
        })?;
        let mut served = Served::new(name, self.partition, self.serving);
        served.set_warmup(self.spec.warmup);
        Ok(Box::new(Predict {
            stage: name.clone(),
            features: FeatureReader::new(name, features, self.input)?,
            predicts: self.spec.predicts,
            served,
            make,
            score,
            dim: None,
        }))
    }

    /// The partition serving a `kmeans` stage's centroids (made by `make`): a row's prediction
    /// is its nearest centroid's index.
    pub(super) fn clusters(
        self,
        make: MakeModel<OnlineKMeans>,
    ) -> Result<Box<dyn AddColumns>, OperatorError> {
        self.serve(make, |centroids, x| {
            centroids.assign(x).map(|(cluster, _)| Prediction {
                value: cluster as f64,
                probability: None,
            })
        })
    }
}

impl Build for Serve<'_> {
    fn build<L>(self, make: MakeModel<L>) -> Result<Box<dyn AddColumns>, OperatorError>
    where
        L: OnlineLearner + Persist + SharedParameters + Send + 'static,
    {
        self.serve(make, L::predict_one)
    }
}

impl<L> AddColumns for Predict<L>
where
    L: Persist + SharedParameters + Send + 'static,
{
    fn add_columns(
        &mut self,
        batch: &Batch,
        columns: &mut Vec<Column>,
    ) -> Result<(), OperatorError> {
        let n = batch.len();
        let started = Instant::now();
        let mut features = self.features.bind(batch)?;
        let mut scores = ScoreColumns::new(&self.stage, n, self.predicts);
        // A predict stage is pinned to one version (or none yet): no split, no bucket.
        let version = match self.served.scorer(None) {
            Scorer::Version(v) => Some(v),
            Scorer::Working => None,
        };
        for (row, &event_time) in batch.event_time().iter().enumerate() {
            let prediction = match (version, features.read(row)?) {
                (Some(v), Some(x)) => {
                    self.dim = Some(x.dim());
                    let model = self.served.model(v, x.dim(), &self.make)?;
                    let prediction = (self.score)(model, x)
                        .map_err(|e| row_error(&self.stage, event_time, e))?;
                    Some(prediction)
                }
                _ => None,
            };
            if let Some(v) = version {
                self.served.note((v, false), None);
            }
            scores.push(prediction.as_ref(), version)?;
        }
        scores.finish(columns);
        self.served
            .end_batch(started.elapsed().as_micros() as u64, 0);
        Ok(())
    }

    fn on_barrier(&mut self, barrier: &Barrier) -> Result<Option<Batch>, OperatorError> {
        self.served.switch(barrier.serving)?;
        if let Some(dim) = self.dim {
            self.served.warm(dim, &self.make, self.score)?;
        }
        Ok(None)
    }

    fn served(&self) -> Vec<ServedVersion> {
        self.served.report(0)
    }
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
